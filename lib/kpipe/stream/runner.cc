#include "kpipe/stream/runner.h"

#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef __x86_64__
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include "kpipe/io/file_input.h"
#include "kpipe/io/signals.h"
#include "kpipe/json/line.h"
#include "kpipe/json/text.h"
#include "kpipe/stream/runner_core.h"
#include "kpipe/time/time.h"

namespace kpipe {

Status OutputSink::Write(std::string_view group, std::string_view row) {
  std::string* b = out_->buffer();
  b->append(row);
  b->push_back('\n');
  (*rows_)++;
  return out_->Commit();
}

namespace run {

namespace {

// The canonical path of the output file `name`, when it is a regular file
// (not standard output, a Kafka topic, a pipe or a device); else empty.
std::string RegularFilePath(const std::string& name) {
  struct stat st;
  if (name.empty() || name == "-" || name.rfind("kafka:", 0) == 0 || ::stat(name.c_str(), &st) != 0 ||
      !S_ISREG(st.st_mode))
    return {};
  std::error_code ec;
  std::string path = std::filesystem::canonical(name, ec).string();
  return ec ? std::string() : path;
}

}  // namespace

Runner::Runner(const RunnerOptions& opt, Operator* op, RunStats* stats)
    : opt_(opt), op_(op), stats_(stats), late_policy_(!opt.late.empty(), opt.max_late, opt.warn) {
#ifdef SIMDJSON_THREADS_ENABLED
  parser_.threaded = false;  // one core: no stage-1 thread for parse_many
#endif
  if (opt.threads >= 2) block_parser_ = std::make_unique<json::BlockParser>();
  for (const InputOptions& in : opt.inputs) lanes_.push_back(std::make_unique<Lane>(opt, in));
  stats_->in_by_input.assign(lanes_.size(), 0);
}

Runner::~Runner() {
  if (behind_) {  // a run that failed with a checkpoint being written
    behind_->thread.join();
    op_->incremental()->EndSnapshot();
  }
}

std::vector<KafkaSource*> Runner::KafkaInputs() const {
  std::vector<KafkaSource*> in;
  for (const auto& l : lanes_)
    if (l->kafka) in.push_back(l->kafka);
  return in;
}

Status Runner::Open(std::vector<std::unique_ptr<Input>> inputs) {
  size_t stdin_count = 0;
  for (const InputOptions& in : opt_.inputs) stdin_count += in.name == "-";
  if (stdin_count > 1) return Status::Usage("at most one input may be - (stdin)");
  // Two readers of one FIFO would each take lines of the other's (a file
  // may be joined with itself).
  std::vector<std::pair<dev_t, ino_t>> fifos;
  for (const InputOptions& in : opt_.inputs) {
    struct stat st;
    if (in.name == "-" || IsKafka(in.name) || ::stat(in.name.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) continue;
    if (std::find(fifos.begin(), fifos.end(), std::pair(st.st_dev, st.st_ino)) != fifos.end())
      return Status::Usage(fmt::format("{} is given twice: a FIFO can be read by one input only", in.name));
    fifos.emplace_back(st.st_dev, st.st_ino);
  }
  for (size_t s = 0; s < lanes_.size(); s++) {
    Lane& l = *lanes_[s];
    if (!inputs.empty()) {
      l.in = std::move(inputs[s]);
    } else if (IsKafka(l.opt.name)) {
      KafkaSourceOptions ko;
      ko.topics = KafkaTopics(l.opt.name);
      ko.io = opt_.kafka_io;
      ko.catch_up = l.opt.first;
      ko.tool = opt_.tool;
      // A member's first input is given partitions by the group; a second
      // one (kjoin's RIGHT) reads the same numbers (stream/members.h).
      ko.member = opt_.members && s == 0;
      ko.follower = opt_.members && s > 0;
      if (ko.member) ko.instance = opt_.kafka_io.instance;
      auto k = std::make_unique<KafkaSource>(std::move(ko), opt_.warn, opt_.info);
      l.kafka = k.get();
      l.in = std::move(k);
    } else {
      auto f = FileInput::Open(l.opt.name);
      if (!f.ok()) return f.status();
      l.in = std::move(*f);
    }
    l.last_data_ms = NowMs();  // quiet time counts from the start
  }
  return Status::OK();
}

Status Runner::OpenKafka() {
  std::vector<KafkaSource*> kafka = KafkaInputs();
  if (kafka.size() > 1 && !opt_.kafka_io.group.empty()) {
    std::vector<std::string> seen;
    for (const auto& l : lanes_) {
      if (!l->kafka) continue;
      for (const std::string& t : KafkaTopics(l->opt.name)) {
        if (std::find(seen.begin(), seen.end(), t) != seen.end())
          return Status::Usage(fmt::format("with -G, topic {} cannot be read by two inputs", t));
        seen.push_back(t);
      }
    }
  }
  for (KafkaSource* in : kafka) KPIPE_RETURN_IF_ERROR(in->Open());
  // The store is open (OpenStore): a directory that cannot be this group's
  // is refused before the transactional producer fences the one running.
  if (opt_.kafka_io.exactly_once && store_ && !opt_.dump_state)
    KPIPE_RETURN_IF_ERROR(RefuseUnheldCheckpoint(*store_, kafka, opt_.kafka_io.group, opt_.state_dir));
  KPIPE_RETURN_IF_ERROR(kafka_out_.Open(opt_));
  if (!opt_.members) return Status::OK();
  if (kafka.size() != lanes_.size() || kafka.size() > 2 || !op_->partitioned() ||
      op_->partitioned()->inputs() != static_cast<int>(kafka.size()))
    return Status::Internal("a group member reads one or two kafka: inputs with a partitioned operator");
  members_ = std::make_unique<Members>(opt_, op_->partitioned(), kafka[0], kafka.size() > 1 ? kafka[1] : nullptr,
                                       kafka_out_.sink(), [this] {
    std::vector<int64_t> sizes;  // files synced: a row of a commit is on disk
    return outputs_.SyncAndMeasure(&sizes);
  });
  KPIPE_RETURN_IF_ERROR(members_->Open());
  kafka[0]->set_rebalance_callback([this](Rebalance* r) { return members_->OnRebalance(r); });
  members_->set_progress([this] { Monitor(); });
  return Status::OK();
}

Status Runner::StartInputs() {
  for (size_t s = 0; s < lanes_.size(); s++) {
    Lane& l = *lanes_[s];
    l.in->set_partition_callback([&l](const std::string& name, bool done) {
      if (done) l.wm.Remove(name, NowMs());
      else l.wm.Add(name, NowMs());
    });
    // With the block parser's thread, one more for each file, that reads
    // it ahead, so that the copy out of the page cache is not on this one.
    l.in->set_read_ahead(block_parser_ != nullptr);
    bool rewound = false;
    KPIPE_RETURN_IF_ERROR(l.in->Start(l.restored ? &l.at : nullptr, &rewound));
    if (l.restored && !rewound && opt_.warn)
      opt_.warn(fmt::format("{} cannot be rewound: the state of {} is restored and reading goes on from "
                            "here; records between the checkpoint and the restart are not in it",
                            l.in->name(), opt_.state_dir));
  }
  return Status::OK();
}

Status Runner::Run(std::vector<std::unique_ptr<Input>> inputs, SignalWatch* signals) {
  KPIPE_RETURN_IF_ERROR(Open(std::move(inputs)));
  if (!opt_.state_dir.empty()) KPIPE_RETURN_IF_ERROR(OpenStore());
  KPIPE_RETURN_IF_ERROR(OpenKafka());
  if (!opt_.state_dir.empty()) {
    KPIPE_RETURN_IF_ERROR(OpenState());
    if (opt_.dump_state) return DumpState();
  }
  // Files written since the restored checkpoint are cut back to their size
  // then: what follows is written again, the same. Not another file than
  // the checkpoint's, which would lose what it holds past that size.
  // (One whose path is gone was moved, with its directory perhaps: the
  // same file, as far as can be told, as an input file of another name.)
  const std::string* names[3] = {&opt_.output, &opt_.late, &opt_.dead_letter};
  for (int i = 0; i < 3; i++) {
    output_paths_[i] = RegularFilePath(*names[i]);
    if (restored_sizes_[i] < 0 || restored_paths_[i].empty() || output_paths_[i].empty() ||
        output_paths_[i] == restored_paths_[i])
      continue;
    struct stat was, is;
    bool gone = ::stat(restored_paths_[i].c_str(), &was) != 0;
    if (!gone && ::stat(output_paths_[i].c_str(), &is) == 0 && was.st_dev == is.st_dev && was.st_ino == is.st_ino)
      continue;  // a link to the same file
    if (gone) {
      if (opt_.warn)
        opt_.warn(fmt::format("--state {}: the checkpoint wrote to {}, which is gone; going on with {} as that file",
                              opt_.state_dir, restored_paths_[i], *names[i]));
      continue;
    }
    return Status::Usage(fmt::format(
        "--state {}: the checkpoint wrote to {}, not {}, which a restart would cut back to the checkpoint's {} "
        "bytes; give that file, or a new --state directory",
        opt_.state_dir, restored_paths_[i], *names[i], restored_sizes_[i]));
  }
  KPIPE_RETURN_IF_ERROR(
      outputs_.Open(opt_.output, opt_.late, opt_.dead_letter, restored_sizes_, kafka_out_.Writers()));
  for (int i = 0; i < 3; i++)
    if (output_paths_[i].empty()) output_paths_[i] = RegularFilePath(*names[i]);  // made by Open
  out_ = outputs_.rows();
  // A reader of the output that goes (| head) ends the run while the
  // inputs are quiet too, not at the next row, which may never come.
  for (auto& l : lanes_) l->in->set_output_watch(out_->fd());
  if (IsKafka(opt_.output)) {
    // Rows only: control records stay on pipes (kpipe(7), KAFKA INPUT AND OUTPUT).
    no_control_ = true;
    auto sink = kafka_out_.Rows(opt_.object_key, &stats_->out);
    if (!sink.ok()) return sink.status();
    sink_ = std::move(*sink);
  } else {
    no_control_ = opt_.no_control;
    sink_ = std::make_unique<OutputSink>(out_, &stats_->out);
  }
  control_out_ = (restored_ ? control_out_ : opt_.watermarks) && !no_control_;
  // An output cut back to a checkpoint holds the record already when its
  // run wrote watermarks then; any other gets it again.
  if (restored_ && restored_sizes_[0] >= 0) follow_said_ = control_out_;
  KPIPE_RETURN_IF_ERROR(SayWatermarksFollow());
  KPIPE_RETURN_IF_ERROR(StartInputs());
  // A first checkpoint before reading: a run killed before its next one
  // restarts by cutting the files back to what they were before it.
  if (store_ && (store_->meta().empty() || fresh_)) KPIPE_RETURN_IF_ERROR(Checkpoint());

  int64_t tick = opt_.every_ms > 0 ? opt_.every_ms : -1;
  auto shorter = [&tick](int64_t t) { tick = tick < 0 ? t : std::min(tick, t); };
  if (opt_.idle_ms >= 0) shorter(std::max<int64_t>(opt_.idle_ms / 2, 10));
  if (opt_.monitor && opt_.monitor->period_ms() > 0) shorter(opt_.monitor->period_ms());
  // Checkpoints come due (and one written behind is seen to be done) while
  // the input is quiet too.
  if ((store_ || members_) && opt_.checkpoint_every_ms > 0) shorter(std::max<int64_t>(opt_.checkpoint_every_ms / 2, 10));
  poll_ms_ = tick > 0 ? tick : 1000;
  for (auto& l : lanes_) {
    l->in->set_idle_callback([this] { return OnIdle(); });
    l->in->set_signal_watch(signals);
    if (tick > 0) l->in->set_tick(tick, [this] { return OnTick(/*between_blocks=*/true); });
  }
  next_tick_ = opt_.every_ms > 0 ? NowMs() + opt_.every_ms : INT64_MAX;
  base_ = *stats_;
  if (opt_.monitor) KPIPE_RETURN_IF_ERROR(opt_.monitor->Ready(Snap()));
  uint64_t done = 0, total = 0;
  if (opt_.progress && Bounds(&done, &total)) progress_ = std::make_unique<cli::Progress>(opt_.tool, total, true);

  Status st = lanes_.size() == 1 ? ReadOne() : ReadAll(signals);
  for (size_t s = 0; s < lanes_.size(); s++) stats_->in_by_input[s] = lanes_[s]->records;
  if (progress_) progress_->Clear();
  if (opt_.monitor) opt_.monitor->Stopping();
  Status bs = CollectBehind(/*wait=*/true);
  if (st.ok()) st = bs;
  if (st.ok()) st = End();
  // A final checkpoint at the end, on SIGINT/SIGTERM (kpipe(7), SIGNALS)
  // and when --max-late stops the run.
  if (store_ && (st.ok() || st.Is(Status::Code::kInterrupted) || late_policy_.exceeded())) {
    Status cs = Checkpoint();
    if (!cs.ok()) st = cs;
  }
  if (members_ && (st.ok() || st.Is(Status::Code::kInterrupted) || late_policy_.exceeded())) {
    Status cs = members_->Commit();
    if (!cs.ok()) st = cs;
  }
  // The reader of the rows has gone: what went aside (--late, dead
  // letters) is written all the same.
  if (st.Is(Status::Code::kBrokenPipe)) {
    (void)outputs_.Flush();  // (the rows' part fails again)
    return st;
  }
  Status fs = outputs_.Flush();
  if (st.ok()) st = fs;
  st = kafka_out_.End(st, store_ != nullptr || members_ != nullptr, KafkaInputs());
  if (opt_.monitor) st = opt_.monitor->Finish(Snap(), std::move(st));
  return st;
}

Status Runner::ReadOne() {
  Input* in = lanes_[0]->in.get();
  std::string_view block;
  Status st;
  while (st.ok() && in->NextBlock(&block)) {
    st = Block(0, block);
    // --max-late: the whole block is handled, so a checkpoint can hold it.
    if (st.ok() && late_policy_.exceeded()) st = late_policy_.Exceeded();
    if (st.ok()) st = MaybeCheckpoint();
    ShowProgress();
  }
  if (st.ok()) st = in->status();
  lanes_[0]->eof = true;
  return st;
}

bool Runner::Reading(size_t s) const {
  if (lanes_[s]->eof) return false;
  if (lanes_[s]->opt.first) return true;
  // An input read first (a table) is read to its end before the others
  // start: the end offsets found at start, or, when it ends there (a
  // bounded read), its very end, so that its watermark is +inf by then and
  // every record of the others is joined as it comes.
  for (const auto& l : lanes_)
    if (l->opt.first && !l->ended && (!l->in->caught_up() || l->in->ended())) return false;
  return true;
}

Status Runner::ReadAll(SignalWatch* signals) {
  Status st;
  auto all_eof = [this] {
    for (const auto& l : lanes_)
      if (!l->eof) return false;
    return true;
  };
  std::vector<struct pollfd> fds;
  while (!all_eof()) {
    Monitor();
    ShowProgress();
    // One block of each input at a time: none starves another, and the
    // checkpoints get their turn.
    bool got = false;
    bool kafka = false;
    fds.clear();
    for (size_t s = 0; s < lanes_.size() && st.ok(); s++) {
      Lane& l = *lanes_[s];
      if (!Reading(s)) continue;
      std::string_view block;
      if (l.in->TryBlock(&block)) {
        got = true;
        st = Block(s, block);
      } else if (!l.in->status().ok()) {
        st = l.in->status();
      } else if (l.in->ended()) {
        l.eof = true;
        got = true;  // what waited for it (an input read after it) goes on now
        // The last one to end: the run's end (Run) finishes.
        if (!all_eof()) st = EndInput(s);
      }
      if (!st.ok() || l.eof) continue;
      auto fd = l.in->ReadyFd();
      if (!fd.ok()) return fd.status();
      kafka |= l.kafka != nullptr;
      fds.push_back({*fd, POLLIN, 0});
    }
    // --max-late: every block read is handled, so a checkpoint can hold them.
    if (st.ok() && late_policy_.exceeded()) st = late_policy_.Exceeded();
    if (st.ok()) st = MaybeCheckpoint();
    if (!st.ok() || all_eof()) break;
    // The output: POLLERR (a pipe) or POLLHUP (a socket) once its reader
    // has gone; POLLNVAL, not open, is watched no more.
    fds.push_back({watch_output_ ? out_->fd() : -1, 0, 0});
    fds.push_back({signals ? signals->fd() : -1, POLLIN, 0});
    int ready = ::poll(fds.data(), fds.size(), 0);
    if (ready == 0 && !got) {  // nothing to read now: the inputs are quiet
      st = OnIdle();
      if (!st.ok()) break;
      // A Kafka queue that filled before its event was armed has no event:
      // look again soon.
      ready = ::poll(fds.data(), fds.size(), static_cast<int>(kafka ? std::min<int64_t>(poll_ms_, 100) : poll_ms_));
    }
    if (ready < 0 && errno != EINTR) return Status::IOError(fmt::format("poll: {}", std::strerror(errno)));
    short out_events = fds[fds.size() - 2].revents;
    if (out_events & (POLLERR | POLLHUP)) return Status::BrokenPipe();
    if (out_events & POLLNVAL) watch_output_ = false;
    if (ready > 0 && signals && (fds.back().revents & POLLIN))
      if (int sig = signals->Pending()) return Status::Interrupted(sig);
  }
  return st;
}

// A block of lines goes through simdjson's parse_many, which indexes the
// whole block in one pass, as long as each document is exactly one line:
// it starts on the line, and only whitespace follows it there. From the
// first line where that does not hold (an error, an empty line, two values
// on a line, one value over two lines) the lines are parsed one by one,
// which gives each its exact verdict.
Status Runner::Block(size_t s, std::string_view block) {
  lanes_[s]->block_line = 0;
  if (restored_at_end_) {
    // As after an end record (kpipe(7), STATE).
    restored_at_end_ = false;
    if (opt_.warn)
      opt_.warn(fmt::format(
          "--state {}: the checkpoint was made at the end of the input, which closed every window and key; {}",
          opt_.state_dir,
          opt_.tool == "kagg" ? "what is read from here on starts new keys, counted from zero"
                              : "what is read from here on is late (the watermark is past every time)"));
  }
  // (Too small a block is not asked for the hint function: a live trickle
  // would copy it for every few lines.)
  if (!block_parser_ || block.size() < json::BlockParser::kMinBlock ||
      !block_parser_->Start(block, Hint(s, &key_hints_)))
    return Lines(s, block);
  Status st;
  json::BlockParser::Chunk c;
  while (st.ok() && block_parser_->Next(&c)) st = c.parsed ? Values(s, c) : Lines(s, c.text);
  block_parser_->Stop();
  return st;
}

json::BlockParser::Hint Runner::Hint(size_t s, bool* key_hints) const {
  auto key = op_->HintFunction(static_cast<int>(s));
  auto time = lanes_[s]->decoder.TimeFunction();  // plain lines only
  bool envelope = lanes_[s]->decoder.form() == RecordDecoder::Form::kEnvelope;
  if (!envelope && lanes_[s]->decoder.form() != RecordDecoder::Form::kPlain) key = nullptr;  // not known yet
  *key_hints = static_cast<bool>(key);
  if (!key && !time) return {};
  return [key = std::move(key), time = std::move(time), envelope](simdjson::dom::element root) {
    json::BlockParser::Hints h;
    h.time = RecordDecoder::kUnknownTime;
    simdjson::dom::element value = root;
    if (envelope && root["value"].get(value) != simdjson::SUCCESS) return h;
    if (key) h.key = key(value);
    if (time) h.time = time(value);
    return h;
  };
}

Status Runner::Values(size_t s, const json::BlockParser::Chunk& c) {
  Lane& l = *lanes_[s];
  size_t i = 0;
  // The operator hears of each record's hint kLookahead records before its
  // Add (Operator::Prefetch).
  constexpr size_t kLookahead = 8;
  const std::vector<json::BlockParser::Hints>* hints = c.hints;
  size_t n = hints ? hints->size() : 0;
  size_t ahead = key_hints_ ? n : 0;
  for (size_t k = 0; k < kLookahead && k < ahead; k++) op_->Prefetch(static_cast<int>(s), (*hints)[k].key);
  for (simdjson::dom::element root : c.values) {
    // The hints were written on the other core: with key hints, whose
    // Prefetch comes before anything else of the record, their lines are
    // asked for 32 hints (eight lines) ahead, else each new line waits
    // there (kjoin).
    if ((i & 3) == 0 && i + 4 * kLookahead < ahead) __builtin_prefetch(&(*hints)[i + 4 * kLookahead]);
    if (i + kLookahead < ahead) op_->Prefetch(static_cast<int>(s), (*hints)[i + kLookahead].key);
    l.line_no++;
    l.block_line++;
    hint_ = i < n ? &(*hints)[i] : nullptr;
    Status st = Parsed(s, (*c.lines)[i++], root);
    hint_ = nullptr;
    KPIPE_RETURN_IF_ERROR(st);
    if ((seq_ & 1023) == 0) KPIPE_RETURN_IF_ERROR(Every1024());
  }
  return Status::OK();
}

Status Runner::Lines(size_t s, std::string_view block) {
  Lane& l = *lanes_[s];
  simdjson::dom::document_stream stream;
  bool fast = parser_.parse_many(block.data(), block.size(),
                                 std::max<size_t>(block.size(), simdjson::dom::DEFAULT_BATCH_SIZE))
                  .get(stream) == simdjson::SUCCESS;
  auto it = fast ? stream.begin() : simdjson::dom::document_stream::iterator();
  size_t pos = 0;
  while (pos < block.size()) {
    const char* nl = static_cast<const char*>(std::memchr(block.data() + pos, '\n', block.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - block.data()) : block.size();
    std::string_view line = block.substr(pos, end - pos);
    l.line_no++;
    l.block_line++;
    Status st;
    simdjson::dom::element root;
    if (fast && it != stream.end() && (*it).get(root) == simdjson::SUCCESS) {
      // source() of an object or array ends at its closing bracket; of a
      // scalar (which cannot hold a line break) at the next document.
      size_t at = it.current_index();
      size_t past = at + it.source().size();
      fast = at >= pos && at < end && (past <= end || (block[at] != '{' && block[at] != '['));
      for (size_t i = past; fast && i < end; i++) {
        char c = block[i];
        fast = c == ' ' || c == '\t' || c == '\r';
      }
    } else {
      fast = false;
    }
    if (fast) {
      st = Parsed(s, line, root);
      ++it;
    } else {
      st = Line(s, line);
    }
    KPIPE_RETURN_IF_ERROR(st);
    if ((seq_ & 1023) == 0) KPIPE_RETURN_IF_ERROR(Every1024());
    pos = end + 1;
  }
  return Status::OK();
}

// Every 1024 records: periodic output, and on a busy input (which never
// goes quiet) the watermark at least every second.
Status Runner::Every1024() {
  Monitor();
  if (next_tick_ == INT64_MAX && !control_out_) return Status::OK();
  int64_t now = NowMs();
  if (now >= next_tick_) KPIPE_RETURN_IF_ERROR(OnTick(/*between_blocks=*/false));
  if (control_out_ && now - wm_written_at_ >= 1000) return WriteWatermark();
  return Status::OK();
}

Status Runner::Line(size_t s, std::string_view line) {
  simdjson::dom::element root;
  Status st = json::ParseLine(&line_parser_, line, &root);  // inside the input's padded block
  if (!st.ok()) {
    stats_->in++;
    lanes_[s]->records++;
    return Bad(s, st.message(), line);
  }
  return Parsed(s, line, root);
}


namespace {

// Stores a value of 16 bytes (an element, a string_view) with one store of
// 16 bytes, as the operator copies it: a load of 16 bytes that two stores
// of 8 just wrote cannot take them from the store buffer, and waits until
// every store before it has reached the cache, cache misses included
// (kjoin's reading thread spent a tenth of its time there).
template <typename T>
[[gnu::always_inline]] inline void StoreWhole(T* to, T from) {
  static_assert(sizeof(T) == 16 && std::is_trivially_copyable_v<T>);
#ifdef __x86_64__
  // Each half through a register (_mm_set_epi64x is made of two stores
  // and a load of 16 bytes: the very stall).
  auto words = std::bit_cast<std::array<int64_t, 2>>(from);
  __m128i v = _mm_unpacklo_epi64(_mm_cvtsi64_si128(words[0]), _mm_cvtsi64_si128(words[1]));
  std::memcpy(static_cast<void*>(to), &v, sizeof v);
#else
  *to = from;
#endif
}

}  // namespace

Status Runner::Data(size_t s, simdjson::dom::element root, std::string_view line) {
  Lane& l = *lanes_[s];
  RecordDecoder::Record d;
  Status ds = l.decoder.Decode(root, line, &d, l.opt.spans, l.opt.null_value_timestamp, l.opt.key,
                               hint_ ? hint_->time : RecordDecoder::kUnknownTime);
  if (ds.Is(Status::Code::kUsage)) return Status::Usage(fmt::format("{}: {}", Where(s), ds.message()));
  if (!ds.ok()) return Bad(s, ds.message(), line);
  // An envelope whose value is null (a tombstone: a table's delete) has
  // no record to check.
  if (l.opt.validate && !(l.decoder.form() == RecordDecoder::Form::kEnvelope && d.value.is_null())) {
    std::string why;
    if (!l.opt.validate->Fits(d.value, &why)) return Bad(s, why, line);
  }
  RecordIn rec;
  // A plain line's record is `root`, still in registers: d.value, just
  // stored by Decode in halves, would be read back whole (a store-forwarding
  // stall on every record). And it goes to `rec` in one store, as the
  // operator reads it (StoreWhole).
  StoreWhole(&rec.value, l.decoder.form() == RecordDecoder::Form::kEnvelope ? d.value : root);
  rec.t = d.t;
  rec.has_time = d.has_time;
  rec.seq = ++seq_;
  rec.input = static_cast<int>(s);
  rec.envelope = l.decoder.form() == RecordDecoder::Form::kEnvelope;
  rec.partition = l.decoder.partition();
  if (l.opt.key) {
    rec.key = d.key;
    rec.has_key = d.has_key;
  }
  if (hint_ && key_hints_) rec.hint = hint_->key;
  if (l.opt.spans && rec.envelope) {
    StoreWhole(&rec.raw, d.raw);
    StoreWhole(&rec.message_key, d.message_key);
  } else if (l.opt.spans) {
    StoreWhole(&rec.raw, line);  // as Decode has it, from registers as `root` (and no message key)
  }
  int64_t now = 0;
  if (opt_.idle_ms >= 0) l.last_data_ms = now = NowMs();

  int64_t w = w_;
  AddOutcome outcome;
  Status st = op_->Add(rec, w, sink_.get(), &outcome);
  if (st.Is(Status::Code::kBadInput)) return Bad(s, st.message(), line);
  KPIPE_RETURN_IF_ERROR(st);
  if (outcome.late) KPIPE_RETURN_IF_ERROR(Late(s, line, rec.t, outcome, outcome.watermark.value_or(w)));
  if (!rec.has_time) return Status::OK();
  int64_t before = l.wm.current();
  l.wm.Observe(l.decoder.partition(), rec.t, now);
  if (l.wm.current() == before) return Status::OK();
  // With several inputs and --idle, a quiet one is left out of W: that is
  // judged on every move.
  return Moved(/*force=*/false, /*refresh=*/lanes_.size() > 1 && opt_.idle_ms >= 0);
}

void Runner::AppendTime(std::string* b, int64_t ms) const {
  if (ms == Watermark::kPlusInfinity) {
    b->append("null");  // after the end of the input
  } else if (opt_.rfc3339) {
    b->push_back('"');
    b->append(FormatRfc3339(ms));
    b->push_back('"');
  } else {
    fmt::format_to(std::back_inserter(*b), "{}", ms);
  }
}

Status Runner::Late(size_t s, std::string_view line, int64_t t, const AddOutcome& outcome, int64_t w) {
  stats_->late++;
  if (late_policy_.watching()) {
    std::string ts, ws;
    AppendTime(&ts, t);
    AppendTime(&ws, w);
    late_policy_.Note(stats_->late, Where(s), ts, ws);
  }
  Output* late = outputs_.late();
  if (!late) return Status::OK();
  std::string* b = late->buffer();
  b->append("{\"late\":");
  b->append(line);
  if (outcome.has_window_end) {
    b->append(",\"window_end\":");
    AppendTime(b, outcome.window_end);
  }
  if (!lanes_[s]->opt.role.empty()) {
    b->append(",\"side\":");
    json::AppendQuoted(b, lanes_[s]->opt.role);
  }
  b->append(",\"watermark\":");
  AppendTime(b, w);
  b->append("}\n");
  return late->Commit();
}

Status Runner::Bad(size_t s, std::string_view reason, std::string_view line) {
  if (!outputs_.dead()) {
    KPIPE_RETURN_IF_ERROR(outputs_.Flush());
    return Status::BadInput(fmt::format("{}: {}", Where(s), reason));
  }
  stats_->dead_lettered++;
  std::string source;
  uint64_t line_no = 0;
  Locate(s, &source, &line_no);
  return outputs_.dead()->Write(reason, source, line_no, line);
}

void Runner::Locate(size_t s, std::string* source, uint64_t* line) const {
  const Lane& l = *lanes_[s];
  l.in->Locate(l.block_line - 1, l.line_no, source, line);
}

std::string Runner::Where(size_t s) const {
  std::string source;
  uint64_t line = 0;
  Locate(s, &source, &line);
  return fmt::format("{}:{}", source, line);
}

service::Snapshot Runner::Snap() const {
  service::Snapshot s;
  s.records_in = stats_->in - base_.in;
  s.records_out = stats_->out - base_.out;
  s.records_late = stats_->late - base_.late;
  s.records_dead_letter = stats_->dead_lettered - base_.dead_lettered;
  bool timed = lanes_.size() > 1 || lanes_[0]->opt.time_required;
  if (timed && w_ != Watermark::kMinusInfinity && w_ != Watermark::kPlusInfinity) s.watermark_ms = w_;
  for (const auto& l : lanes_) l->in->AddMetrics(&s);
  if (store_) {
    s.checkpoints = true;
    s.checkpoint_seconds = ck_seconds_;
    s.checkpoint_at_ms = ck_at_ms_;
  }
  kafka_out_.Transactions(&s);
  if (members_) members_->AddMetrics(&s);
  return s;
}

// On a terminal, when every input is bounded (a regular file, Kafka with --until).
bool Runner::Bounds(uint64_t* done, uint64_t* total) const {
  *done = *total = 0;
  for (const auto& l : lanes_) {
    uint64_t d = 0, t = 0;
    if (!l->in->Progress(&d, &t)) return false;
    *done += d;
    *total += t;
  }
  return true;
}

void Runner::ShowProgress() {
  uint64_t done = 0, total = 0;
  if (progress_ && Bounds(&done, &total)) progress_->Show(done, stats_->in - base_.in);
}

}  // namespace run

Status RunOperator(const RunnerOptions& opt, Operator* op, std::vector<std::unique_ptr<Input>> inputs,
                   SignalWatch* signals, RunStats* stats) {
  if (!inputs.empty() && inputs.size() != opt.inputs.size())
    return Status::Internal("RunOperator: one Input per InputOptions");
  run::Runner runner(opt, op, stats);
  return runner.Run(std::move(inputs), signals);
}

Status RunOperator(const RunnerOptions& opt, Operator* op, SignalWatch* signals, RunStats* stats) {
  return RunOperator(opt, op, {}, signals, stats);
}

}  // namespace kpipe
