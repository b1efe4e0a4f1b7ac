#include "kpipe/join/runner.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/agg/aggregate.h"
#include "kpipe/cli/progress.h"
#include "kpipe/io/outputs.h"
#include "kpipe/json/line.h"
#include "kpipe/json/line_reader.h"
#include "kpipe/json/output.h"
#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"
#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/service/monitor.h"
#include "kpipe/state/store.h"
#include "kpipe/stream/exactly_once.h"
#include "kpipe/stream/late.h"
#include "kpipe/stream/record_decoder.h"
#include "kpipe/stream/runner.h"
#include "kpipe/stream/signals.h"
#include "kpipe/stream/watermark.h"
#include "kpipe/time/time.h"

namespace kpipe {

namespace {

struct Side {
  std::string source;  // how diagnostics name it
  int fd = -1;
  std::unique_ptr<LineReader> reader;         // a file or pipe, or
  std::unique_ptr<KafkaSource> kafka;         // kafka:TOPIC...
  size_t block_line = 0;                      // of a Kafka block, 1-based
  std::vector<KafkaPosition> restored;        // a checkpoint's offsets
  Watermark wm;
  bool ended = false;  // W of this side is +inf (end record or end of file)
  bool eof = false;    // nothing more to read
  int64_t last_data_ms = 0;
  std::optional<RecordDecoder> decoder;  // made by Open()
  bool needs_time = false;
  uint64_t base_offset = 0;  // where this run started reading (a restored checkpoint)
  uint64_t base_line = 0;
  Side(int64_t max_delay, int64_t idle_ms) : wm(max_delay, idle_ms) {}
};

class JoinRunner {
 public:
  JoinRunner(const JoinOptions& opt, JoinStats* stats)
      : opt_(opt), stats_(stats),
        sides_{Side(opt.max_delay, opt.idle_ms), Side(opt.max_delay, opt.idle_ms)},
        late_policy_(!opt.late.empty(), opt.max_late, opt.warn) {}
  ~JoinRunner() {
    for (Side& s : sides_)
      if (s.fd > 2) ::close(s.fd);
  }

  Status Run(SignalWatch* signals);

 private:
  Status Open();
  Status OpenKafka();
  // Handles what a Kafka side has now; `*got`: it had something.
  Status ReadKafka(int s, bool* got);
  std::vector<KafkaPosition> Positions() const;
  std::vector<KafkaSource*> KafkaInputs() {
    std::vector<KafkaSource*> in;
    for (Side& side : sides_)
      if (side.kafka) in.push_back(side.kafka.get());
    return in;
  }
  Status Line(int s, std::string_view line);
  Status Data(int s, simdjson::dom::element root, std::string_view line);
  Status Control(int s, simdjson::dom::object obj, std::string_view line);
  Status Bad(int s, std::string_view reason, std::string_view line);
  Status EndSide(int s);
  // Recomputes W after a side's watermark may have moved.
  Status Moved(bool force_watermark);
  Status WriteWatermark();
  Status Quiet();
  Status FlushAll();
  int64_t SideW(int s) const { return sides_[s].ended ? Watermark::kPlusInfinity : sides_[s].wm.current(); }
  bool Reading(int s) const {
    // A table is read to its end before the left side starts.
    if (sides_[s].eof) return false;
    return s == 1 || !opt_.table || sides_[1].ended || (sides_[1].kafka && sides_[1].kafka->caught_up());
  }
  // The source and line (for Kafka: partition and offset) being handled.
  void Locate(int s, std::string* source, uint64_t* line) const {
    const Side& side = sides_[s];
    if (side.kafka) {
      side.kafka->Locate(side.block_line - 1, source, line);
      return;
    }
    *source = side.source;
    *line = side.base_line + side.reader->line_number();
  }
  std::string Where(int s) const {
    std::string source;
    uint64_t line = 0;
    Locate(s, &source, &line);
    return fmt::format("{}:{}", source, line);
  }
  // systemd notify and --metrics, from this loop only (service/monitor.h).
  service::Snapshot Snap() const;
  void Monitor() {
    if (opt_.monitor && opt_.monitor->Due()) opt_.monitor->Tick(Snap());
  }
  JoinStats base_;  // the counts when this process was ready
  // On a terminal, when both inputs are regular files or Kafka with --until.
  bool Bounds(uint64_t* done, uint64_t* total) const;
  std::unique_ptr<cli::Progress> progress_;
  int64_t ck_at_ms_ = service::Snapshot::kNone;
  double ck_seconds_ = 0;
  // --state
  Status Restore();
  Status Checkpoint();
  Status MaybeCheckpoint() {
    if (!store_ || NowMs() < next_checkpoint_) return Status::OK();
    return Checkpoint();
  }
  Status DumpState();
  std::unique_ptr<state::CheckpointStore> store_;
  int64_t next_checkpoint_ = INT64_MAX;
  int64_t restored_sizes_[3] = {-1, -1, -1};  // output, late, dead letters

  const JoinOptions& opt_;
  JoinStats* stats_;
  Side sides_[2];
  LatePolicy late_policy_;
  Outputs outputs_;
  Output* out_ = nullptr;  // outputs_.rows()
  std::unique_ptr<RowSink> sink_;
  KafkaOutputs kafka_out_;
  bool no_control_ = false;  // no_control_, or rows go to Kafka
  bool fresh_ = false;       // --exactly-once: the one checkpoint never committed
  std::unique_ptr<JoinRows> rows_;
  std::unique_ptr<IntervalJoin> interval_;
  std::unique_ptr<TableJoin> table_;

  simdjson::dom::parser parser_;
  int64_t w_ = Watermark::kMinusInfinity;  // min over the sides, never backwards
  int64_t w_right_seen_ = Watermark::kMinusInfinity;
  bool control_out_ = false;
  bool end_written_ = false;
  bool upstream_said_ = false;  // "watermarks follow" passed on (a partitions record)
  int64_t written_wm_ = Watermark::kMinusInfinity;
  int64_t wm_written_at_ = 0;
  uint64_t seq_ = 0;
  JoinRecord rec_;
};

Status JoinRunner::OpenKafka() {
  KafkaRunOptions k = KafkaRunOptionsOf(opt_, "kjoin");
  KPIPE_RETURN_IF_ERROR(KafkaOutputs::Check(k, !KafkaInputs().empty()));
  if (sides_[0].kafka && sides_[1].kafka && !opt_.group.empty())
    for (const std::string& t : KafkaTopics(opt_.input[0]))
      for (const std::string& u : KafkaTopics(opt_.input[1]))
        if (t == u) return Status::Usage(fmt::format("with -G, topic {} cannot be read on both sides", t));
  for (KafkaSource* in : KafkaInputs()) KPIPE_RETURN_IF_ERROR(in->Open());
  // A directory that cannot be this group's is refused before the
  // transactional producer fences the instance running.
  if (opt_.exactly_once && store_ && !opt_.dump_state)
    KPIPE_RETURN_IF_ERROR(RefuseUnheldCheckpoint(*store_, KafkaInputs(), opt_.group, opt_.state_dir));
  return kafka_out_.Open(k);
}

Status JoinRunner::Open() {
  if (opt_.input[0] == "-" && opt_.input[1] == "-")
    return Status::Usage("at most one input may be - (stdin)");
  for (int s = 0; s < 2; s++) {
    Side& side = sides_[s];
    if (IsKafka(opt_.input[s])) {
      side.source = opt_.input[s];
      KafkaSourceOptions ko;
      ko.topics = KafkaTopics(opt_.input[s]);
      ko.group = opt_.group;
      ko.from = opt_.from;
      // A table topic is read up to its end offsets at start before the
      // left side starts, then followed live (kjoin(1), TABLE JOIN).
      ko.until = opt_.until;
      ko.catch_up = opt_.table && s == 1;
      ko.kafka = opt_.kafka;
      ko.tool = "kjoin";
      side.kafka = std::make_unique<KafkaSource>(std::move(ko), opt_.warn, opt_.info);
    } else {
      auto fd = OpenInput(opt_.input[s]);
      if (!fd.ok()) return fd.status();
      side.fd = *fd;
      side.source = opt_.input[s] == "-" ? "stdin" : opt_.input[s];
      side.reader = std::make_unique<LineReader>(*fd, side.source);
    }
    side.needs_time = !opt_.table || (opt_.as_of);
    side.decoder.emplace(opt_.time[s], opt_.time_unit, side.needs_time);
    side.last_data_ms = NowMs();  // quiet time counts from the start
  }
  if (!opt_.state_dir.empty()) {
    auto store = state::CheckpointStore::Open(opt_.state_dir);
    if (!store.ok()) return store.status();
    store_ = std::move(*store);
  }
  KPIPE_RETURN_IF_ERROR(OpenKafka());
  if (opt_.table) table_ = std::make_unique<TableJoin>(opt_.as_of, opt_.retain, opt_.type);
  else interval_ = std::make_unique<IntervalJoin>(opt_.lo, opt_.hi, opt_.lateness, opt_.type);
  no_control_ = opt_.no_control || IsKafka(opt_.output);
  control_out_ = opt_.watermarks && !no_control_;
  if (store_) {
    if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
    if (opt_.exactly_once && !opt_.dump_state)
      KPIPE_RETURN_IF_ERROR(
          SelectCommitted(store_.get(), KafkaInputs(), opt_.group, opt_.state_dir, opt_.warn, &fresh_));
    if (!store_->meta().empty() && !fresh_) KPIPE_RETURN_IF_ERROR(Restore());
    else if (opt_.dump_state) return Status::Usage(fmt::format("--state {}: no checkpoint yet", opt_.state_dir));
    if (opt_.dump_state) return Status::OK();
  }
  KPIPE_RETURN_IF_ERROR(
      outputs_.Open(opt_.output, opt_.late, opt_.dead_letter, restored_sizes_, kafka_out_.Writers()));
  out_ = outputs_.rows();
  if (IsKafka(opt_.output)) {
    auto sink = kafka_out_.Rows(/*object_key=*/false, &stats_->out);
    if (!sink.ok()) return sink.status();
    sink_ = std::move(*sink);
  } else {
    sink_ = std::make_unique<OutputSink>(out_, &stats_->out);
  }
  rows_ = std::make_unique<JoinRows>(sink_.get(), opt_.merge);
  for (int s = 0; s < 2; s++) {
    Side& side = sides_[s];
    if (!side.kafka) continue;
    side.kafka->set_partition_callback([this, s](const std::string& name, bool done) {
      if (done) sides_[s].wm.Remove(name, NowMs());
      else sides_[s].wm.Add(name, NowMs());
    });
    KPIPE_RETURN_IF_ERROR(side.kafka->Start(side.restored.empty() ? nullptr : &side.restored));
  }
  return Status::OK();
}

// The next block a Kafka side has now, without waiting.
Status JoinRunner::ReadKafka(int s, bool* got) {
  Side& side = sides_[s];
  side.kafka->DrainEvents();
  // One block at a time: the other side and the checkpoints get their turn.
  std::string_view block;
  if (side.kafka->TryBlock(&block)) {
    *got = true;
    side.block_line = 0;
    size_t pos = 0;
    while (pos < block.size()) {
      size_t nl = block.find('\n', pos);
      if (nl == std::string_view::npos) nl = block.size();
      side.block_line++;
      KPIPE_RETURN_IF_ERROR(Line(s, block.substr(pos, nl - pos)));
      pos = nl + 1;
    }
  }
  KPIPE_RETURN_IF_ERROR(side.kafka->status());
  if (side.kafka->ended()) {
    side.eof = true;
    return EndSide(s);
  }
  return Status::OK();
}

std::vector<KafkaPosition> JoinRunner::Positions() const {
  std::vector<KafkaPosition> all;
  for (const Side& side : sides_) {
    if (!side.kafka) continue;
    std::vector<KafkaPosition> p = side.kafka->positions();
    all.insert(all.end(), p.begin(), p.end());
  }
  return all;
}

Status JoinRunner::Run(SignalWatch* signals) {
  KPIPE_RETURN_IF_ERROR(Open());
  if (opt_.dump_state) return DumpState();
  // A first checkpoint before reading: a run killed before its next one
  // restarts by cutting the files back to what they were before it.
  if (store_ && (store_->meta().empty() || fresh_)) KPIPE_RETURN_IF_ERROR(Checkpoint());
  Status st;
  int64_t tick = opt_.idle_ms >= 0 ? std::max<int64_t>(opt_.idle_ms / 2, 10) : 1000;
  if (store_) tick = std::min<int64_t>(tick, std::max<int64_t>(opt_.checkpoint_every_ms / 2, 10));
  if (opt_.monitor && opt_.monitor->period_ms() > 0) tick = std::min(tick, opt_.monitor->period_ms());
  base_ = *stats_;
  if (opt_.monitor) KPIPE_RETURN_IF_ERROR(opt_.monitor->Ready(Snap()));
  uint64_t done = 0, total = 0;
  if (opt_.progress && Bounds(&done, &total)) progress_ = std::make_unique<cli::Progress>("kjoin", total, true);
  while (!(sides_[0].eof && sides_[1].eof)) {
    Monitor();
    if (progress_ && Bounds(&done, &total))
      progress_->Show(done, stats_->in[0] + stats_->in[1] - base_.in[0] - base_.in[1]);
    // Kafka sides first: what they hold now, without waiting.
    bool got = false;
    for (int s = 0; s < 2 && st.ok(); s++)
      if (sides_[s].kafka && Reading(s)) st = ReadKafka(s, &got);
    if (!st.ok()) break;
    struct pollfd fds[3];
    int which[2], n = 0;
    bool kafka = false;
    for (int s = 0; s < 2; s++) {
      if (!Reading(s)) continue;
      which[n] = s;
      int fd = sides_[s].fd;
      if (sides_[s].kafka) {
        auto efd = sides_[s].kafka->EventFd();
        if (!efd.ok()) return efd.status();
        fd = *efd;
        kafka = true;
      }
      fds[n++] = {fd, POLLIN, 0};
    }
    fds[n] = {signals ? signals->fd() : -1, POLLIN, 0};
    int ready = ::poll(fds, n + 1, 0);
    if (ready == 0 && !got) {  // nothing to read now: the input is quiet
      st = Quiet();
      if (!st.ok()) break;
      // A Kafka queue that filled before its event was armed has no event:
      // look again soon.
      ready = ::poll(fds, n + 1, static_cast<int>(kafka ? std::min<int64_t>(tick, 100) : tick));
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      st = Status::IOError(fmt::format("poll: {}", std::strerror(errno)));
      break;
    }
    if (signals && (fds[n].revents & POLLIN)) {
      if (int sig = signals->Pending()) {
        st = Status::Interrupted(sig);
        break;
      }
    }
    for (int i = 0; i < n && st.ok() && ready > 0; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      int s = which[i];
      Side& side = sides_[s];
      if (side.kafka) continue;  // read at the top of the loop
      if (!side.reader->ReadOnce() && !side.reader->status().ok()) {
        st = side.reader->status();
        break;
      }
      std::string_view line;
      while (st.ok() && side.reader->Buffered(&line)) st = Line(s, line);
      if (st.ok() && side.reader->eof()) {
        side.eof = true;
        st = EndSide(s);
      }
    }
    // --max-late: every complete line read is handled, so a checkpoint can hold them.
    if (st.ok() && late_policy_.exceeded()) st = late_policy_.Exceeded();
    if (st.ok()) st = MaybeCheckpoint();  // between reads: every complete line is handled
    if (!st.ok()) break;
  }
  if (progress_) progress_->Clear();
  if (opt_.monitor) opt_.monitor->Stopping();
  if (st.ok()) {
    st = interval_ ? interval_->Finish(rows_.get()) : table_->Finish(rows_.get());
    if (st.ok() && control_out_ && !end_written_) {
      end_written_ = true;
      st = out_->Write("{\"@kpipe\":\"end\"}\n");
    }
  }
  if (store_ && (st.ok() || st.Is(Status::Code::kInterrupted) || late_policy_.exceeded())) {
    Status cs = Checkpoint();
    if (!cs.ok()) st = cs;
  }
  if (st.Is(Status::Code::kBrokenPipe)) return st;
  Status fs = FlushAll();
  if (st.ok()) st = fs;
  st = kafka_out_.End(st, store_ != nullptr, KafkaInputs());
  if (opt_.monitor) st = opt_.monitor->Finish(Snap(), std::move(st));
  return st;
}

bool JoinRunner::Bounds(uint64_t* done, uint64_t* total) const {
  *done = *total = 0;
  for (const Side& side : sides_) {
    uint64_t d = 0, t = 0;
    struct stat st;
    if (side.kafka) {
      if (!side.kafka->Progress(&d, &t)) return false;
    } else if (side.reader && ::fstat(side.fd, &st) == 0 && S_ISREG(st.st_mode)) {
      t = static_cast<uint64_t>(std::max<int64_t>(st.st_size - static_cast<int64_t>(side.base_offset), 0));
      d = side.reader->offset();
    } else {
      return false;
    }
    *done += d;
    *total += t;
  }
  return true;
}

service::Snapshot JoinRunner::Snap() const {
  service::Snapshot s;
  s.records_in = stats_->in[0] + stats_->in[1] - base_.in[0] - base_.in[1];
  s.records_out = stats_->out - base_.out;
  s.records_late = stats_->late - base_.late;
  s.records_dead_letter = stats_->dead_lettered - base_.dead_lettered;
  if (w_ != Watermark::kMinusInfinity && w_ != Watermark::kPlusInfinity) s.watermark_ms = w_;
  for (const Side& side : sides_) AddInputMetrics(&s, side.kafka.get(), side.reader.get());
  if (store_) {
    s.checkpoints = true;
    s.checkpoint_seconds = ck_seconds_;
    s.checkpoint_at_ms = ck_at_ms_;
  }
  kafka_out_.Transactions(&s);
  return s;
}

Status JoinRunner::FlushAll() { return outputs_.Flush(); }

Status JoinRunner::Quiet() {
  if (opt_.idle_ms >= 0) KPIPE_RETURN_IF_ERROR(Moved(false));
  KPIPE_RETURN_IF_ERROR(WriteWatermark());
  if (out_->ReaderGone()) return Status::BrokenPipe();
  KPIPE_RETURN_IF_ERROR(FlushAll());
  return MaybeCheckpoint();
}

constexpr uint64_t kJoinCheckpointVersion = 3;  // 3: the watermark keeps W_in

Status JoinRunner::Restore() {
  state::Decoder d(store_->meta());
  uint64_t version = d.U64();
  std::string fingerprint(d.Str());
  if (!d.ok() || version != kJoinCheckpointVersion)
    return Status::Usage(fmt::format("--state {}: not a checkpoint of this kpipe version", opt_.state_dir));
  if (fingerprint != opt_.fingerprint)
    return Status::Usage(fmt::format(
        "--state {}: the checkpoint was made with other options ({}); use a new directory",
        opt_.state_dir, fingerprint));
  uint64_t offsets[2];
  for (int s = 0; s < 2; s++) {
    Side& side = sides_[s];
    std::string input(d.Str());
    offsets[s] = d.U64();
    side.base_line = d.U64();
    stats_->in[s] = d.U64();
    side.decoder->set_form(static_cast<RecordDecoder::Form>(d.U8()));
    side.ended = d.U8() != 0;
    side.wm.Load(&d, NowMs());
    side.restored = DecodePositions(&d);
    if (input != opt_.input[s] && opt_.warn)
      opt_.warn(fmt::format("--state {}: the checkpoint was made reading {}, not {}", opt_.state_dir, input,
                            opt_.input[s]));
  }
  seq_ = d.U64();
  stats_->out = d.U64();
  stats_->late = d.U64();
  stats_->dead_lettered = d.U64();
  w_ = d.I64();
  w_right_seen_ = d.I64();
  control_out_ = d.U8() != 0;
  end_written_ = d.U8() != 0;
  written_wm_ = d.I64();
  for (int64_t& size : restored_sizes_) size = d.I64();
  KPIPE_RETURN_IF_ERROR(d.Check("checkpoint record"));
  auto entries = store_->Read();
  KPIPE_RETURN_IF_ERROR(interval_ ? interval_->Load(entries.get()) : table_->Load(entries.get()));
  if (opt_.dump_state) return Status::OK();
  for (int s = 0; s < 2; s++) {
    Side& side = sides_[s];
    if (side.kafka) continue;  // started at side.restored
    struct stat st;
    if (::fstat(side.fd, &st) == 0 && S_ISREG(st.st_mode)) {
      if (::lseek(side.fd, static_cast<off_t>(offsets[s]), SEEK_SET) < 0)
        return Status::IOError(fmt::format("{}: seek: {}", side.source, std::strerror(errno)));
      side.base_offset = offsets[s];
    } else if (opt_.warn) {
      opt_.warn(fmt::format("{} cannot be rewound: the state of {} is restored and reading goes on from "
                            "here; records between the checkpoint and the restart are not in it",
                            side.source, opt_.state_dir));
    }
  }
  if (opt_.output.empty() || opt_.output == "-") restored_sizes_[0] = -1;
  return Status::OK();
}

Status JoinRunner::Checkpoint() {
  int64_t started_us = MonotonicMicros();
  KPIPE_RETURN_IF_ERROR(FlushAll());
  std::vector<int64_t> sizes;
  KPIPE_RETURN_IF_ERROR(outputs_.SyncAndMeasure(&sizes));
  // Rows acknowledged, or the offsets of both inputs in the transaction that
  // commits once the checkpoint is saved (as kwindow's, stream/runner.cc).
  std::vector<KafkaSource*> inputs = KafkaInputs();
  KPIPE_RETURN_IF_ERROR(
      kafka_out_.BeforeSave(inputs.empty() ? nullptr : inputs[0]->handle(), Positions(), store_->next_seq()));
  state::CountingWriter w(store_->Begin());
  KPIPE_RETURN_IF_ERROR(interval_ ? interval_->Save(&w) : table_->Save(&w));
  std::string meta;
  state::Encoder e(&meta);
  e.U64(kJoinCheckpointVersion);
  e.Str(opt_.fingerprint);
  for (int s = 0; s < 2; s++) {
    const Side& side = sides_[s];
    e.Str(opt_.input[s]);
    e.U64(side.reader ? side.base_offset + side.reader->offset() : 0);
    e.U64(side.reader ? side.base_line + side.reader->line_number() : 0);
    e.U64(stats_->in[s]);
    e.U8(static_cast<uint8_t>(side.decoder->form()));
    e.U8(side.ended);
    side.wm.Save(&e);
    EncodePositions(side.kafka ? side.kafka->positions() : std::vector<KafkaPosition>(), &e);
  }
  e.U64(seq_);
  e.U64(stats_->out);
  e.U64(stats_->late);
  e.U64(stats_->dead_lettered);
  e.I64(w_);
  e.I64(w_right_seen_);
  e.U8(control_out_);
  e.U8(end_written_);
  e.I64(written_wm_);
  for (int64_t size : sizes) e.I64(size);
  KPIPE_RETURN_IF_ERROR(store_->Commit(meta));
  fresh_ = false;
  KPIPE_RETURN_IF_ERROR(kafka_out_.AfterSave(inputs));
  // The next one is due a period after this one ends.
  if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
  ck_seconds_ = (MonotonicMicros() - started_us) / 1e6;
  ck_at_ms_ = NowMs();
  if (opt_.info)
    opt_.info(fmt::format("checkpoint {}: {:.3f} ms, {} bytes written", store_->seq(), ck_seconds_ * 1e3,
                          w.bytes()));
  return Status::OK();
}

Status JoinRunner::DumpState() {
  Output out(1, "stdout");
  std::string* b = out.buffer();
  b->append("{\"checkpoint\":{");
  for (int s = 0; s < 2; s++) {
    fmt::format_to(std::back_inserter(*b), "\"{}\":{{\"input\":", s == 0 ? "left" : "right");
    json::AppendQuoted(b, sides_[s].source);
    fmt::format_to(std::back_inserter(*b), ",\"line\":{},\"records_in\":{},\"ended\":{}}},",
                   sides_[s].base_line, stats_->in[s], sides_[s].ended ? "true" : "false");
  }
  fmt::format_to(std::back_inserter(*b), "\"rows_out\":{},\"watermark\":", stats_->out);
  if (w_ == Watermark::kMinusInfinity || w_ == Watermark::kPlusInfinity) b->append("null");
  else fmt::format_to(std::back_inserter(*b), "{}", w_);
  b->append("}}\n");
  uint64_t dumped = 0;  // not output: not counted
  OutputSink sink(&out, &dumped);
  KPIPE_RETURN_IF_ERROR(interval_ ? interval_->Dump(&sink) : table_->Dump(&sink));
  return out.Flush();
}

Status JoinRunner::Bad(int s, std::string_view reason, std::string_view line) {
  if (!outputs_.dead()) {
    KPIPE_RETURN_IF_ERROR(FlushAll());
    return Status::BadInput(fmt::format("{}: {}", Where(s), reason));
  }
  stats_->dead_lettered++;
  std::string source;
  uint64_t line_no = 0;
  Locate(s, &source, &line_no);
  return outputs_.dead()->Write(reason, source, line_no, line);
}

Status JoinRunner::Line(int s, std::string_view line) {
  simdjson::dom::element root;
  Status st = json::ParseLine(&parser_, line, &root);
  if (!st.ok()) {
    stats_->in[s]++;
    return Bad(s, st.message(), line);
  }
  simdjson::dom::object obj;
  if (json::IsControl(root, &obj)) return Control(s, obj, line);
  stats_->in[s]++;
  return Data(s, root, line);
}

Status JoinRunner::Control(int s, simdjson::dom::object obj, std::string_view line) {
  std::string_view kind;
  if (obj["@kpipe"].get_string().get(kind) != simdjson::SUCCESS) {
    stats_->in[s]++;
    return Bad(s, "control record: \"@kpipe\" is not a string", line);
  }
  // Watermark and end records make a tool forward its own watermarks; a
  // partitions record only when it says that watermarks follow.
  if (!no_control_ && kind != "partitions") control_out_ = true;
  if (kind == "watermark") {
    int64_t ts;
    if (obj["ts"].get_int64().get(ts) != simdjson::SUCCESS || !CheckEventTime(ts, "ts").ok()) {
      stats_->in[s]++;
      return Bad(s, "watermark control record without an integer \"ts\" in range", line);
    }
    sides_[s].wm.Control(ts);
    return Moved(/*force_watermark=*/true);
  }
  if (kind == "end") return EndSide(s);
  if (kind == "partitions") {
    bool upstream;
    Status st = ApplyPartitions(obj, &sides_[s].wm, NowMs(), &upstream);
    if (!st.ok()) {
      stats_->in[s]++;
      return Bad(s, st.message(), line);
    }
    if (upstream && !no_control_) control_out_ = true;
    // A partition that ended may have held this side's W back.
    KPIPE_RETURN_IF_ERROR(Moved(/*force_watermark=*/false));
    // The names are this input's, not passed on; that watermark records
    // follow holds for the output too.
    if (!upstream || !control_out_ || upstream_said_) return Status::OK();
    upstream_said_ = true;
    return out_->Write("{\"@kpipe\":\"partitions\",\"names\":[],\"watermarks\":true}\n");
  }

  if (no_control_) return Status::OK();
  return out_->Write(std::string(line) + "\n");  // a kind this version does not know
}

Status JoinRunner::EndSide(int s) {
  if (sides_[s].ended) return Status::OK();
  sides_[s].ended = true;
  return Moved(/*force_watermark=*/false);
}

Status JoinRunner::Data(int s, simdjson::dom::element root, std::string_view line) {
  Side& side = sides_[s];
  RecordDecoder::Record d;
  // A null value on the table side is a tombstone: it deletes the key its
  // message key last set, at the envelope's time (it has no fields).
  bool table_side = opt_.table && s == 1;
  Status ds = side.decoder->Decode(root, line, &d, /*spans=*/true, /*null_value_timestamp=*/table_side);
  if (ds.Is(Status::Code::kUsage)) return Status::Usage(fmt::format("{}: {}", Where(s), ds.message()));
  if (!ds.ok()) return Bad(s, ds.message(), line);
  bool tombstone =
      table_side && side.decoder->form() == RecordDecoder::Form::kEnvelope && d.value.is_null();
  simdjson::dom::element value = d.value;
  std::string_view raw = d.raw;

  JoinRecord& rec = rec_;  // reused: its strings keep their capacity
  rec.key.clear();
  rec.text.clear();
  if (!tombstone) {
    for (size_t i = 0; i < opt_.keys[s].size(); i++) {
      simdjson::dom::element e;
      if (!opt_.keys[s][i].Lookup(value, &e))
        return Bad(s, fmt::format("join key '{}' is missing or null", opt_.keys[s][i].text()), line);
      if (i) rec.key.push_back(',');
      agg::AppendCompact(&rec.key, e);
    }
    if (opt_.merge && !value.is_object()) return Bad(s, "--merge needs JSON objects", line);
    bool compact = true;  // no JSON whitespace but '\n' (which ends the line)
    for (char c : raw) compact &= c != ' ' && c != '\t' && c != '\r';
    if (compact) {
      rec.text.assign(raw);  // already compact
    } else {
      rec.text.resize(raw.size());
      size_t len = 0;
      if (simdjson::minify(raw.data(), raw.size(), rec.text.data(), len) != simdjson::SUCCESS)
        return Bad(s, "invalid JSON", line);
      rec.text.resize(len);
    }
  }
  rec.t = d.t;
  rec.seq = ++seq_;
  side.last_data_ms = opt_.idle_ms >= 0 ? NowMs() : 0;

  if (table_) {
    if (s == 1) KPIPE_RETURN_IF_ERROR(table_->AddRight(std::move(rec), d.message_key, tombstone, rows_.get()));
    else KPIPE_RETURN_IF_ERROR(table_->AddLeft(std::move(rec), rows_.get()));
  } else {
    bool late = false;
    int64_t w = w_;
    KPIPE_RETURN_IF_ERROR(interval_->Add(s, &rec, w, rows_.get(), &late));
    if (late) {
      stats_->late++;
      if (late_policy_.watching())
        late_policy_.Note(stats_->late, Where(s), fmt::format("{}", rec.t),
                          w == Watermark::kPlusInfinity ? "null" : fmt::format("{}", w));
      if (Output* late_out = outputs_.late()) {
        std::string* b = late_out->buffer();
        b->append("{\"late\":");
        b->append(line);
        fmt::format_to(std::back_inserter(*b), ",\"side\":\"{}\",\"watermark\":", s == 0 ? "left" : "right");
        if (w == Watermark::kPlusInfinity) b->append("null");  // after both inputs ended
        else fmt::format_to(std::back_inserter(*b), "{}", w);
        b->append("}\n");
        KPIPE_RETURN_IF_ERROR(late_out->Commit());
      }
    }
  }
  if (!d.has_time) return Status::OK();
  int64_t before = side.wm.current();
  side.wm.Observe(side.decoder->partition(), d.t, side.last_data_ms);
  if (side.wm.current() == before) return Status::OK();
  return Moved(false);
}

Status JoinRunner::Moved(bool force_watermark) {
  int64_t lw = SideW(0), rw = SideW(1);
  int64_t w = std::min(lw, rw);
  if (opt_.idle_ms >= 0) {
    int64_t now = NowMs();
    for (int s = 0; s < 2; s++) {
      if (sides_[s].ended) continue;
      sides_[s].wm.Refresh(now);
    }
    lw = SideW(0);
    rw = SideW(1);
    auto quiet = [&](int s) { return !sides_[s].ended && now - sides_[s].last_data_ms > opt_.idle_ms; };
    if (quiet(0) && !quiet(1)) w = rw;
    else if (quiet(1) && !quiet(0)) w = lw;
    else w = std::min(lw, rw);
  }
  uint64_t rows_before = stats_->out;
  if (w > w_) {
    w_ = w;
    if (interval_) KPIPE_RETURN_IF_ERROR(interval_->Advance(w_, rows_.get()));
  }
  if (table_ && rw > w_right_seen_) {
    w_right_seen_ = rw;
    KPIPE_RETURN_IF_ERROR(table_->AdvanceRight(rw, rows_.get()));
  }
  bool released = stats_->out != rows_before;
  if (released || force_watermark) return WriteWatermark();
  if (control_out_ && (seq_ & 1023) == 0 && NowMs() - wm_written_at_ >= 1000) return WriteWatermark();
  return Status::OK();
}

Status JoinRunner::WriteWatermark() {
  if (!control_out_ || end_written_) return Status::OK();
  int64_t ow = interval_ ? interval_->OutputWatermark(w_) : table_->OutputWatermark(SideW(0));
  if (ow <= written_wm_ || ow == Watermark::kMinusInfinity || ow == Watermark::kPlusInfinity)
    return Status::OK();
  written_wm_ = ow;
  wm_written_at_ = NowMs();
  fmt::format_to(std::back_inserter(*out_->buffer()), "{{\"@kpipe\":\"watermark\",\"ts\":{}}}\n", ow);
  return out_->Commit();
}

}  // namespace

Status RunJoin(const JoinOptions& opt, SignalWatch* signals, JoinStats* stats) {
  JoinRunner runner(opt, stats);
  return runner.Run(signals);
}

}  // namespace kpipe
