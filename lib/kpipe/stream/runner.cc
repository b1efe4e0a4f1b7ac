#include "kpipe/stream/runner.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/cli/progress.h"
#include "kpipe/io/outputs.h"
#include "kpipe/json/line.h"
#include "kpipe/json/line_reader.h"
#include "kpipe/json/output.h"
#include "kpipe/json/text.h"
#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/service/monitor.h"
#include "kpipe/state/store.h"
#include "kpipe/stream/exactly_once.h"
#include "kpipe/stream/late.h"
#include "kpipe/stream/record_decoder.h"
#include "kpipe/stream/watermark.h"
#include "kpipe/time/time.h"

namespace kpipe {

Result<EmitMode> ParseEmit(std::string_view text, int64_t* every_ms) {
  *every_ms = 0;
  if (text == "final") return EmitMode::kFinal;
  if (text == "changes") return EmitMode::kChanges;
  if (text.rfind("every:", 0) == 0) {
    auto d = ParseDuration(text.substr(6));
    if (!d.ok()) return Status::Usage(fmt::format("--emit {}: {}", text, d.status().message()));
    if (*d <= 0) return Status::Usage(fmt::format("--emit {}: the period must be positive", text));
    *every_ms = *d;
    return EmitMode::kEvery;
  }
  return Status::Usage(fmt::format("--emit {}: expected final, changes or every:DUR", text));
}

Status OutputSink::Write(std::string_view group, std::string_view row) {
  std::string* b = out_->buffer();
  b->append(row);
  b->push_back('\n');
  (*rows_)++;
  return out_->Commit();
}

namespace {

class Runner {
 public:
  Runner(const RunnerOptions& opt, Operator* op, RunStats* stats)
      : opt_(opt), op_(op), stats_(stats), wm_(opt.max_delay, opt.idle_ms),
        late_policy_(!opt.late.empty(), opt.max_late, opt.warn),
        decoder_(opt.time_path, opt.time_unit, opt.time_required) {
#ifdef SIMDJSON_THREADS_ENABLED
    parser_.threaded = false;  // one core: no stage-1 thread for parse_many
#endif
  }
  ~Runner() {
    if (behind_) {  // a run that failed with a checkpoint being written
      behind_->thread.join();
      op_->EndSnapshot();
    }
  }

  Status Run(SignalWatch* signals);

 private:
  Status Line(std::string_view line);
  Status Data(simdjson::dom::element root, std::string_view line);
  Status Control(simdjson::dom::object obj, std::string_view line);
  Status Bad(std::string_view reason, std::string_view line);
  Status End();
  Status Late(std::string_view line, int64_t t, const AddOutcome& outcome, int64_t w);
  // An event time as late rows and warnings write it.
  void AppendTime(std::string* b, int64_t ms) const;
  // After the watermark may have moved: closes windows, writes control.
  Status Advanced(bool force_watermark);
  Status WriteWatermark();
  Status OnIdle();
  // `between_blocks`: called while waiting for input, so the reader's
  // offset covers exactly the lines handled and a checkpoint may be made.
  Status OnTick(bool between_blocks);
  Status FlushAll();
  Status Block(std::string_view block);
  Status Parsed(std::string_view line, simdjson::dom::element root);
  // Every 1024 records: periodic output, and on a busy input (which never
  // goes quiet) the watermark at least every second.
  Status Every1024();
  // The source and line (for Kafka: partition and offset) of the line being
  // handled.
  void Locate(std::string* source, uint64_t* line) const;
  std::string Where() const {
    std::string source;
    uint64_t line = 0;
    Locate(&source, &line);
    return fmt::format("{}:{}", source, line);
  }
  Status OpenKafka();
  // systemd notify and --metrics, from this loop only (service/monitor.h).
  service::Snapshot Snap() const;
  void Monitor() {
    if (opt_.monitor && opt_.monitor->Due()) opt_.monitor->Tick(Snap());
  }
  // On a terminal, for a regular file or a Kafka input with --until.
  void StartProgress(int fd);
  void ShowProgress() {
    if (!progress_) return;
    uint64_t done = 0, total = 0;
    if (kafka_in_) kafka_in_->Progress(&done, &total);
    else done = reader_->offset();
    progress_->Show(done, stats_->in - base_.in);
  }
  std::unique_ptr<cli::Progress> progress_;

  const RunnerOptions& opt_;
  Operator* op_;
  RunStats* stats_;
  Watermark wm_;
  LatePolicy late_policy_;
  std::string source_;
  LineReader* reader_ = nullptr;
  Outputs outputs_;
  Output* out_ = nullptr;  // outputs_.rows()
  std::unique_ptr<RowSink> sink_;
  bool no_control_ = false;  // opt_.no_control, or rows go to Kafka
  std::unique_ptr<KafkaSource> kafka_in_;
  KafkaOutputs kafka_out_;
  size_t block_line_ = 0;  // of the line being handled, 1-based within the block

  simdjson::dom::parser parser_;       // whole blocks (parse_many)
  simdjson::dom::parser line_parser_;  // one line at a time
  uint64_t line_no_ = 0;               // of the line being handled
  RecordDecoder decoder_;
  bool control_out_ = false;  // write our own watermarks downstream
  bool ended_ = false;        // end of input seen (control or EOF)
  bool end_written_ = false;  // {"@kpipe":"end"} passed on
  bool upstream_said_ = false;  // "watermarks follow" passed on (a partitions record)
  int64_t w_seen_ = Watermark::kMinusInfinity;  // W the operator last saw
  int64_t written_wm_ = Watermark::kMinusInfinity;
  int64_t wm_written_at_ = 0;  // processing time of the last one written
  uint64_t seq_ = 0;
  int64_t next_tick_ = 0;
  std::string buf_;

  // --state
  // Opens the checkpoint store (before Kafka: see OpenKafka), then picks
  // the checkpoint to restore and restores it.
  Status OpenStore();
  Status OpenState(int in_fd);
  Status Restore(int in_fd);
  // `behind`: the operator's entries may be written by another thread
  // while reading goes on (Operator::BeginSnapshot).
  Status Checkpoint(bool behind = false);
  Status MaybeCheckpoint();
  // A checkpoint written behind: its thread, and what to do once it is done.
  struct Behind {
    std::thread thread;
    std::atomic<bool> done{false};
    Status status;                      // of the thread's work
    std::unique_ptr<SnapshotJob> job;
    std::vector<int> to_sync;           // output files to fdatasync() first
    std::vector<KafkaPosition> positions;
    uint64_t seq = 0, bytes = 0;
    int64_t started_us = 0, pause_us = 0, written_us = 0;
  };
  std::unique_ptr<Behind> behind_;
  // Waits for it when `wait`; once it is done: the rest of the checkpoint.
  Status CollectBehind(bool wait);
  bool CanWriteBehind() const { return op_->SavesChanges() && !opt_.exactly_once && opt_.memory_budget == 0; }
  Status DumpState();
  std::vector<KafkaSource*> KafkaInputs() {
    if (kafka_in_) return {kafka_in_.get()};
    return {};
  }
  std::unique_ptr<state::CheckpointStore> store_;
  int64_t next_checkpoint_ = INT64_MAX;
  uint64_t base_offset_ = 0;  // input offset where this run started reading
  int64_t restored_sizes_[3] = {-1, -1, -1};  // output, late, dead letters
  bool restored_ = false;
  bool fresh_ = false;
  uint64_t state_bytes_ = 0;  // of the last checkpoint  // --exactly-once: the store's one checkpoint never committed
  std::vector<KafkaPosition> restored_positions_;
  // What the last checkpoint recorded, to skip one that would record the same.
  uint64_t ck_offset_ = 0, ck_counts_[4] = {0, 0, 0, 0};
  std::vector<KafkaPosition> ck_positions_;
  int64_t ck_at_ms_ = service::Snapshot::kNone;  // when the state on disk was last made current
  double ck_seconds_ = 0;                        // the last checkpoint written, how long it took
  RunStats base_;                                // the counts when this process was ready
};

Status Runner::OpenKafka() {
  KafkaRunOptions k = KafkaRunOptionsOf(opt_, opt_.tool);
  KPIPE_RETURN_IF_ERROR(KafkaOutputs::Check(k, kafka_in_ != nullptr));
  if (kafka_in_) KPIPE_RETURN_IF_ERROR(kafka_in_->Open());
  // The store is open (OpenStore): a directory that cannot be this group's
  // is refused before the transactional producer fences the one running.
  if (opt_.exactly_once && store_ && !opt_.dump_state)
    KPIPE_RETURN_IF_ERROR(RefuseUnheldCheckpoint(*store_, {kafka_in_.get()}, opt_.group, opt_.state_dir));
  return kafka_out_.Open(k);
}

Status Runner::Run(SignalWatch* signals) {
  int fd = -1;
  if (IsKafka(opt_.input)) {
    source_ = opt_.input;
    KafkaSourceOptions ko;
    ko.topics = KafkaTopics(opt_.input);
    ko.group = opt_.group;
    ko.from = opt_.from;
    ko.until = opt_.until;
    ko.kafka = opt_.kafka;
    ko.tool = opt_.tool;
    kafka_in_ = std::make_unique<KafkaSource>(std::move(ko), opt_.warn, opt_.info);
  } else {
    source_ = opt_.input == "-" ? "stdin" : opt_.input;
    auto in_fd = OpenInput(opt_.input);
    if (!in_fd.ok()) return in_fd.status();
    fd = *in_fd;
  }
  FdCloser close_in(fd);
  if (!opt_.state_dir.empty()) KPIPE_RETURN_IF_ERROR(OpenStore());
  KPIPE_RETURN_IF_ERROR(OpenKafka());

  if (!opt_.state_dir.empty()) {
    KPIPE_RETURN_IF_ERROR(OpenState(fd));
    if (opt_.dump_state) return DumpState();
  }
  // Files written since the restored checkpoint are cut back to their size
  // then: what follows is written again, the same.
  KPIPE_RETURN_IF_ERROR(
      outputs_.Open(opt_.output, opt_.late, opt_.dead_letter, restored_sizes_, kafka_out_.Writers()));
  out_ = outputs_.rows();
  if (IsKafka(opt_.output)) {
    // Rows only: control records stay on pipes (kpipe(7), KAFKA INPUT AND OUTPUT).
    no_control_ = true;
    auto sink = kafka_out_.Rows(/*object_key=*/true, &stats_->out);
    if (!sink.ok()) return sink.status();
    sink_ = std::move(*sink);
  } else {
    no_control_ = opt_.no_control;
    sink_ = std::make_unique<OutputSink>(out_, &stats_->out);
  }
  control_out_ = (restored_ ? control_out_ : opt_.watermarks) && !no_control_;

  std::optional<LineReader> reader;
  if (kafka_in_) {
    kafka_in_->set_partition_callback([this](const std::string& name, bool done) {
      if (done) wm_.Remove(name, NowMs());
      else wm_.Add(name, NowMs());
    });
    KPIPE_RETURN_IF_ERROR(kafka_in_->Start(restored_ ? &restored_positions_ : nullptr));
  } else {
    reader.emplace(fd, source_);
    reader_ = &*reader;
  }
  // A first checkpoint before reading: a run killed before its next one
  // restarts by cutting the files back to what they were before it.
  if (store_ && (store_->meta().empty() || fresh_)) KPIPE_RETURN_IF_ERROR(Checkpoint());
  int64_t tick = opt_.every_ms > 0 ? opt_.every_ms : -1;
  auto shorter = [&tick](int64_t t) { tick = tick < 0 ? t : std::min(tick, t); };
  if (opt_.idle_ms >= 0) shorter(std::max<int64_t>(opt_.idle_ms / 2, 10));
  if (opt_.monitor && opt_.monitor->period_ms() > 0) shorter(opt_.monitor->period_ms());
  auto on_tick = [this] { return OnTick(/*between_blocks=*/true); };
  // Checkpoints come due (and one written behind is seen to be done) while
  // the input is quiet too.
  if (store_ && opt_.checkpoint_every_ms > 0) shorter(std::max<int64_t>(opt_.checkpoint_every_ms / 2, 10));
  if (kafka_in_) {
    kafka_in_->set_idle_callback([this] { return OnIdle(); });
    kafka_in_->set_signal_watch(signals);
    if (tick > 0) kafka_in_->set_tick(tick, on_tick);
  } else {
    reader->set_idle_callback([this] { return OnIdle(); });
    reader->set_signal_watch(signals);
    if (tick > 0) reader->set_tick(tick, on_tick);
  }
  next_tick_ = opt_.every_ms > 0 ? NowMs() + opt_.every_ms : INT64_MAX;
  base_ = *stats_;
  if (opt_.monitor) KPIPE_RETURN_IF_ERROR(opt_.monitor->Ready(Snap()));
  if (opt_.progress) StartProgress(fd);

  std::string_view block;
  Status st;
  while (st.ok() && (kafka_in_ ? kafka_in_->NextBlock(&block) : reader->NextBlock(&block))) {
    st = Block(block);
    // --max-late: the whole block is handled, so a checkpoint can hold it.
    if (st.ok() && late_policy_.exceeded()) st = late_policy_.Exceeded();
    if (st.ok()) st = MaybeCheckpoint();
    ShowProgress();
  }
  if (progress_) progress_->Clear();
  if (st.ok()) st = kafka_in_ ? kafka_in_->status() : reader->status();
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
  if (st.Is(Status::Code::kBrokenPipe)) return st;
  Status fs = FlushAll();
  if (st.ok()) st = fs;
  st = kafka_out_.End(st, store_ != nullptr, KafkaInputs());
  if (opt_.monitor) st = opt_.monitor->Finish(Snap(), std::move(st));
  return st;
}

void Runner::StartProgress(int fd) {
  uint64_t done = 0, total = 0;
  struct stat st;
  if (kafka_in_) {
    if (!kafka_in_->Progress(&done, &total)) return;
  } else if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    total = static_cast<uint64_t>(std::max<int64_t>(st.st_size - static_cast<int64_t>(base_offset_), 0));
  } else {
    return;
  }
  progress_ = std::make_unique<cli::Progress>(opt_.tool, total, true);
}

service::Snapshot Runner::Snap() const {
  service::Snapshot s;
  s.records_in = stats_->in - base_.in;
  s.records_out = stats_->out - base_.out;
  s.records_late = stats_->late - base_.late;
  s.records_dead_letter = stats_->dead_lettered - base_.dead_lettered;
  int64_t w = wm_.current();
  if (opt_.time_required && w != Watermark::kMinusInfinity && w != Watermark::kPlusInfinity) s.watermark_ms = w;
  AddInputMetrics(&s, kafka_in_.get(), reader_);
  if (store_) {
    s.checkpoints = true;
    s.checkpoint_seconds = ck_seconds_;
    s.checkpoint_at_ms = ck_at_ms_;
  }
  kafka_out_.Transactions(&s);
  return s;
}

void Runner::Locate(std::string* source, uint64_t* line) const {
  if (kafka_in_) {
    kafka_in_->Locate(block_line_ - 1, source, line);
    return;
  }
  *source = source_;
  *line = line_no_;
}

Status Runner::FlushAll() { return outputs_.Flush(); }

// The end of the input, by an end record or at the end of the file: every
// window closes. Records after an end record are late for kwindow, but
// start new keys in kagg, so the end of the file finishes again.
Status Runner::End() {
  // The operator lets go of its keys: a checkpoint being written behind
  // must be done with them first (an end record can come mid-stream).
  KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/true));
  ended_ = true;
  wm_.End();
  w_seen_ = Watermark::kPlusInfinity;
  KPIPE_RETURN_IF_ERROR(op_->Finish(sink_.get()));
  if (!control_out_ || end_written_) return Status::OK();
  end_written_ = true;
  return out_->Write("{\"@kpipe\":\"end\"}\n");
}

Status Runner::Bad(std::string_view reason, std::string_view line) {
  if (!outputs_.dead()) {
    Status f = FlushAll();
    if (!f.ok()) return f;
    return Status::BadInput(fmt::format("{}: {}", Where(), reason));
  }
  stats_->dead_lettered++;
  std::string source;
  uint64_t line_no = 0;
  Locate(&source, &line_no);
  return outputs_.dead()->Write(reason, source, line_no, line);
}

// A block of lines goes through simdjson's parse_many, which indexes the
// whole block in one pass, as long as each document is exactly one line:
// it starts on the line, and only whitespace follows it there. From the
// first line where that does not hold (an error, an empty line, two values
// on a line, one value over two lines) the lines are parsed one by one,
// which gives each its exact verdict.
Status Runner::Block(std::string_view block) {
  simdjson::dom::document_stream stream;
  bool fast = parser_.parse_many(block.data(), block.size(),
                                 std::max<size_t>(block.size(), simdjson::dom::DEFAULT_BATCH_SIZE))
                  .get(stream) == simdjson::SUCCESS;
  auto it = fast ? stream.begin() : simdjson::dom::document_stream::iterator();
  size_t pos = 0;
  block_line_ = 0;
  while (pos < block.size()) {
    const char* nl = static_cast<const char*>(std::memchr(block.data() + pos, '\n', block.size() - pos));
    size_t end = nl ? static_cast<size_t>(nl - block.data()) : block.size();
    std::string_view line = block.substr(pos, end - pos);
    line_no_++;
    block_line_++;
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
      st = Parsed(line, root);
      ++it;
    } else {
      st = Line(line);
    }
    KPIPE_RETURN_IF_ERROR(st);
    if ((seq_ & 1023) == 0) KPIPE_RETURN_IF_ERROR(Every1024());
    pos = end + 1;
  }
  return Status::OK();
}

Status Runner::Every1024() {
  Monitor();
  if (next_tick_ == INT64_MAX && !control_out_) return Status::OK();
  int64_t now = NowMs();
  if (now >= next_tick_) KPIPE_RETURN_IF_ERROR(OnTick(/*between_blocks=*/false));
  if (control_out_ && now - wm_written_at_ >= 1000) return WriteWatermark();
  return Status::OK();
}

Status Runner::Line(std::string_view line) {
  simdjson::dom::element root;
  Status st = json::ParseLine(&line_parser_, line, &root);  // inside the reader's padded block
  if (!st.ok()) {
    stats_->in++;
    return Bad(st.message(), line);
  }
  return Parsed(line, root);
}

Status Runner::Parsed(std::string_view line, simdjson::dom::element root) {
  simdjson::dom::object obj;
  if (json::IsControl(root, &obj)) return Control(obj, line);
  stats_->in++;
  return Data(root, line);
}

Status Runner::Control(simdjson::dom::object obj, std::string_view line) {
  std::string_view kind;
  if (obj["@kpipe"].get_string().get(kind) != simdjson::SUCCESS) {
    stats_->in++;
    return Bad("control record: \"@kpipe\" is not a string", line);
  }
  // Watermark and end records make a tool forward its own watermarks; a
  // partitions record only when it says that watermarks follow.
  if (!no_control_ && kind != "partitions") control_out_ = true;
  if (kind == "watermark") {
    int64_t ts;
    if (obj["ts"].get_int64().get(ts) != simdjson::SUCCESS || !CheckEventTime(ts, "ts").ok()) {
      stats_->in++;
      return Bad("watermark control record without an integer \"ts\" in range", line);
    }
    wm_.Control(ts);
    return Advanced(/*force_watermark=*/true);
  }
  if (kind == "end") return End();
  if (kind == "partitions") {
    bool upstream;
    Status st = ApplyPartitions(obj, &wm_, NowMs(), &upstream);
    if (!st.ok()) {
      stats_->in++;
      return Bad(st.message(), line);
    }
    if (upstream && !no_control_) control_out_ = true;
    // A partition that ended may have held W back.
    if (wm_.current() != w_seen_) KPIPE_RETURN_IF_ERROR(Advanced(/*force_watermark=*/false));
    // The names are this input's, not passed on; that watermark records
    // follow holds for the output too.
    if (!upstream || !control_out_ || upstream_said_) return Status::OK();
    upstream_said_ = true;
    return out_->Write("{\"@kpipe\":\"partitions\",\"names\":[],\"watermarks\":true}\n");
  }

  // A kind this version does not know: pass it on.
  if (no_control_) return Status::OK();
  std::string* b = out_->buffer();
  b->append(line);
  b->push_back('\n');
  return out_->Commit();
}

Status Runner::Data(simdjson::dom::element root, std::string_view line) {
  RecordDecoder::Record d;
  Status ds = decoder_.Decode(root, line, &d);
  if (ds.Is(Status::Code::kUsage)) return Status::Usage(fmt::format("{}: {}", Where(), ds.message()));
  if (!ds.ok()) return Bad(ds.message(), line);
  RecordIn rec;
  rec.value = d.value;
  rec.t = d.t;
  rec.has_time = d.has_time;
  rec.seq = ++seq_;

  int64_t w = wm_.current();
  AddOutcome outcome;
  Status st = op_->Add(rec, w, sink_.get(), &outcome);
  if (st.Is(Status::Code::kBadInput)) return Bad(st.message(), line);
  KPIPE_RETURN_IF_ERROR(st);
  if (outcome.late) KPIPE_RETURN_IF_ERROR(Late(line, rec.t, outcome, w));
  if (!rec.has_time) return Status::OK();
  wm_.Observe(decoder_.partition(), rec.t, opt_.idle_ms >= 0 ? NowMs() : 0);
  if (wm_.current() == w_seen_) return Status::OK();
  return Advanced(/*force_watermark=*/false);
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

Status Runner::Late(std::string_view line, int64_t t, const AddOutcome& outcome, int64_t w) {
  stats_->late++;
  if (late_policy_.watching()) {
    std::string ts, ws;
    AppendTime(&ts, t);
    AppendTime(&ws, w);
    late_policy_.Note(stats_->late, Where(), ts, ws);
  }
  Output* late = outputs_.late();
  if (!late) return Status::OK();
  std::string* b = late->buffer();
  b->append("{\"late\":");
  b->append(line);
  b->append(",\"window_end\":");
  AppendTime(b, outcome.window_end);
  b->append(",\"watermark\":");
  AppendTime(b, w);
  b->append("}\n");
  return late->Commit();
}

Status Runner::Advanced(bool force_watermark) {
  bool closed = false;
  if (wm_.current() != w_seen_) {
    w_seen_ = wm_.current();
    KPIPE_RETURN_IF_ERROR(op_->Advance(w_seen_, sink_.get(), &closed));
  }
  if (closed || force_watermark) return WriteWatermark();
  return Status::OK();
}

Status Runner::WriteWatermark() {
  if (!control_out_ || ended_) return Status::OK();
  int64_t ow = op_->OutputWatermark(w_seen_);
  if (ow <= written_wm_ || ow == Watermark::kMinusInfinity || ow == Watermark::kPlusInfinity)
    return Status::OK();
  written_wm_ = ow;
  wm_written_at_ = NowMs();
  fmt::format_to(std::back_inserter(*out_->buffer()), "{{\"@kpipe\":\"watermark\",\"ts\":{}}}\n", ow);
  return out_->Commit();
}

Status Runner::OnIdle() {
  Monitor();
  if (opt_.idle_ms >= 0 && !ended_) {
    wm_.Refresh(NowMs());
    KPIPE_RETURN_IF_ERROR(Advanced(false));
  }
  KPIPE_RETURN_IF_ERROR(WriteWatermark());
  if (next_tick_ != INT64_MAX && NowMs() >= next_tick_) KPIPE_RETURN_IF_ERROR(OnTick(true));
  if (out_->ReaderGone()) return Status::BrokenPipe();
  KPIPE_RETURN_IF_ERROR(FlushAll());
  return MaybeCheckpoint();
}

Status Runner::OnTick(bool between_blocks) {
  Monitor();
  int64_t now = NowMs();
  if (opt_.idle_ms >= 0 && !ended_) {
    wm_.Refresh(now);
    KPIPE_RETURN_IF_ERROR(Advanced(false));
  }
  if (next_tick_ != INT64_MAX && now >= next_tick_) {
    next_tick_ = now + opt_.every_ms;
    KPIPE_RETURN_IF_ERROR(op_->Tick(sink_.get()));
  }
  KPIPE_RETURN_IF_ERROR(WriteWatermark());
  if (out_->ReaderGone()) return Status::BrokenPipe();
  KPIPE_RETURN_IF_ERROR(FlushAll());
  return between_blocks ? MaybeCheckpoint() : Status::OK();
}

// What a checkpoint holds besides the operator's entries.
constexpr uint64_t kCheckpointVersion = 3;  // 3: the watermark keeps W_in

Status Runner::OpenStore() {
  auto store = state::CheckpointStore::Open(opt_.state_dir, /*point_reads=*/opt_.exactly_once || opt_.memory_budget > 0);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  if (opt_.memory_budget > 0) KPIPE_RETURN_IF_ERROR(op_->SetBacking(store_.get(), opt_.memory_budget));
  return Status::OK();
}

Status Runner::OpenState(int in_fd) {
  if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
  if (opt_.exactly_once && !opt_.dump_state)
    KPIPE_RETURN_IF_ERROR(
        SelectCommitted(store_.get(), {kafka_in_.get()}, opt_.group, opt_.state_dir, opt_.warn, &fresh_));
  if (store_->meta().empty() || fresh_) {
    if (opt_.dump_state) return Status::Usage(fmt::format("--state {}: no checkpoint yet", opt_.state_dir));
    return Status::OK();
  }
  return Restore(in_fd);
}

Status Runner::Restore(int in_fd) {
  state::Decoder d(store_->meta());
  uint64_t version = d.U64();
  std::string fingerprint(d.Str()), input(d.Str());
  if (!d.ok() || version != kCheckpointVersion)
    return Status::Usage(fmt::format("--state {}: not a checkpoint of this kpipe version", opt_.state_dir));
  if (fingerprint != opt_.fingerprint)
    return Status::Usage(fmt::format(
        "--state {}: the checkpoint was made with other options ({}); use a new directory",
        opt_.state_dir, fingerprint));
  uint64_t offset = d.U64();
  line_no_ = d.U64();
  seq_ = d.U64();
  stats_->in = d.U64();
  stats_->out = d.U64();
  stats_->late = d.U64();
  stats_->dead_lettered = d.U64();
  decoder_.set_form(static_cast<RecordDecoder::Form>(d.U8()));
  control_out_ = d.U8() != 0;
  ended_ = d.U8() != 0;
  end_written_ = d.U8() != 0;
  w_seen_ = d.I64();
  written_wm_ = d.I64();
  wm_.Load(&d, NowMs());
  for (int64_t& size : restored_sizes_) size = d.I64();
  restored_positions_ = DecodePositions(&d);
  KPIPE_RETURN_IF_ERROR(d.Check("checkpoint record"));
  restored_ = true;
  auto entries = op_->SavesChanges() ? store_->ReadKeyed() : store_->Read();
  KPIPE_RETURN_IF_ERROR(op_->Load(entries.get()));
  if (opt_.dump_state) return Status::OK();

  // Go on from the checkpoint's input position: Kafka offsets, the offset
  // in a regular file; a pipe cannot be rewound.
  if (input != opt_.input && opt_.warn)
    opt_.warn(fmt::format("--state {}: the checkpoint was made reading {}, not {}", opt_.state_dir,
                          input, opt_.input));
  ck_offset_ = offset;
  ck_positions_ = restored_positions_;
  if (kafka_in_) return Status::OK();
  struct stat st;
  bool regular = ::fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) {
    if (::lseek(in_fd, static_cast<off_t>(offset), SEEK_SET) < 0)
      return Status::IOError(fmt::format("{}: seek: {}", source_, std::strerror(errno)));
    base_offset_ = offset;
  } else if (opt_.warn) {
    opt_.warn(fmt::format("{} cannot be rewound: the state of {} is restored and reading goes on from "
                          "here; records between the checkpoint and the restart are not in it",
                          source_, opt_.state_dir));
  }
  if (opt_.output.empty() || opt_.output == "-") restored_sizes_[0] = -1;
  return Status::OK();
}

Status Runner::MaybeCheckpoint() {
  if (behind_) {
    if (!behind_->done.load(std::memory_order_acquire)) return Status::OK();
    KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/false));
  }
  // Over its memory budget the operator lets go of what a checkpoint has
  // made safe in the store.
  bool over = store_ && op_->OverBudget();
  if (!store_ || (NowMs() < next_checkpoint_ && !over)) return Status::OK();
  KPIPE_RETURN_IF_ERROR(Checkpoint(/*behind=*/CanWriteBehind()));
  if (over) op_->Evict();
  return Status::OK();
}

Status Runner::CollectBehind(bool wait) {
  if (!behind_) return Status::OK();
  if (!wait && !behind_->done.load(std::memory_order_acquire)) return Status::OK();
  behind_->thread.join();
  op_->EndSnapshot();
  std::unique_ptr<Behind> b = std::move(behind_);
  b->job.reset();
  KPIPE_RETURN_IF_ERROR(b->status);
  KPIPE_RETURN_IF_ERROR(kafka_out_.AfterSave(KafkaInputs(), &b->positions));
  state_bytes_ = b->bytes;
  ck_seconds_ = static_cast<double>(b->written_us - b->started_us) / 1e6;
  ck_at_ms_ = NowMs();
  if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
  if (opt_.info)
    opt_.info(fmt::format("checkpoint {}: {:.3f} ms, {} bytes written, {:.3f} ms behind the reading", b->seq,
                          b->pause_us / 1000.0, b->bytes, (b->written_us - b->started_us) / 1000.0));
  return Status::OK();
}

Status Runner::Checkpoint(bool behind) {
  // One at a time: a checkpoint still being written comes first.
  KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/true));
  // Everything the state has produced is written before the state is saved;
  // a restart cuts the files back to these sizes.
  int64_t started_us = MonotonicMicros();
  KPIPE_RETURN_IF_ERROR(FlushAll());
  std::vector<KafkaPosition> positions;
  uint64_t offset = 0;
  if (kafka_in_) positions = kafka_in_->positions();
  else offset = base_offset_ + reader_->offset();
  uint64_t counts[4] = {stats_->in, stats_->out, stats_->late, stats_->dead_lettered};
  // The next one is due a period after this one ends, so that a slow
  // checkpoint never leaves reading no time.
  struct Reschedule {
    Runner* r;
    ~Reschedule() {
      if (r && r->opt_.checkpoint_every_ms > 0) r->next_checkpoint_ = NowMs() + r->opt_.checkpoint_every_ms;
    }
  } reschedule{this};
  // Nothing read or written since the last one: it would record the same.
  // (With transactions it is made all the same: its requests are what
  // tells an idle instance that another one has fenced it.)
  if (store_->seq() != 0 && !fresh_ && !opt_.exactly_once && offset == ck_offset_ && positions == ck_positions_ &&
      std::equal(counts, counts + 4, ck_counts_)) {
    ck_at_ms_ = NowMs();  // what is on disk is still current
    return Status::OK();
  }
  std::vector<int64_t> sizes;
  std::vector<int> to_sync;
  if (behind) outputs_.Measure(&sizes, &to_sync);
  else KPIPE_RETURN_IF_ERROR(outputs_.SyncAndMeasure(&sizes));
  // Rows acknowledged (at-least-once), or the input offsets in the open
  // transaction, which commits once the checkpoint is saved (the one before
  // it is kept). Killed before the commit, the transaction is aborted and
  // the restart restores the checkpoint before (SelectCommitted).
  KPIPE_RETURN_IF_ERROR(
      kafka_out_.BeforeSave(kafka_in_ ? kafka_in_->handle() : nullptr, positions, store_->next_seq()));
  std::string meta;
  state::Encoder e(&meta);
  e.U64(kCheckpointVersion);
  e.Str(opt_.fingerprint);
  e.Str(opt_.input);
  e.U64(offset);
  e.U64(line_no_);
  e.U64(seq_);
  e.U64(stats_->in);
  e.U64(stats_->out);
  e.U64(stats_->late);
  e.U64(stats_->dead_lettered);
  e.U8(static_cast<uint8_t>(decoder_.form()));
  e.U8(control_out_);
  e.U8(ended_);
  e.U8(end_written_);
  e.I64(w_seen_);
  e.I64(written_wm_);
  wm_.Save(&e);
  for (int64_t size : sizes) e.I64(size);
  EncodePositions(positions, &e);
  std::unique_ptr<SnapshotJob> job = behind ? op_->BeginSnapshot() : nullptr;
  if (job) {
    // The entries, the output files' data and the record: another thread.
    // Until it is done no other checkpoint starts (next_checkpoint_), and
    // the one after is due a period after it ends.
    auto b = std::make_unique<Behind>();
    b->job = std::move(job);
    b->to_sync = std::move(to_sync);
    b->positions = positions;
    b->seq = store_->next_seq();
    b->started_us = started_us;
    Behind* raw = b.get();
    state::CheckpointStore* store = store_.get();
    b->thread = std::thread([raw, store, meta = std::move(meta)] {
      // Behind the reading, at a lower priority than it (nice 10): on two
      // cores the scheduler then lets the reading thread run first.
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
      Status st = SyncAll(raw->to_sync);
      state::CountingWriter w(store->BeginChanges(/*keep_previous=*/false));
      if (st.ok()) st = raw->job->Write(&w);
      if (st.ok()) st = store->Commit(meta);
      raw->bytes = w.bytes();
      raw->status = std::move(st);
      raw->written_us = MonotonicMicros();
      raw->done.store(true, std::memory_order_release);
    });
    behind_ = std::move(b);
    ck_offset_ = offset;
    ck_positions_ = std::move(positions);
    std::copy(counts, counts + 4, ck_counts_);
    behind_->pause_us = MonotonicMicros() - started_us;
    reschedule.r = nullptr;
    next_checkpoint_ = INT64_MAX;
    return Status::OK();
  }
  // An operator with a large table of keys writes only what changed.
  bool changes = op_->SavesChanges();
  state::CountingWriter w(changes ? store_->BeginChanges(/*keep_previous=*/opt_.exactly_once) : store_->Begin());
  KPIPE_RETURN_IF_ERROR(changes ? op_->SaveChanges(&w) : op_->Save(&w));
  state_bytes_ = w.bytes();
  KPIPE_RETURN_IF_ERROR(store_->Commit(meta));
  fresh_ = false;
  KPIPE_RETURN_IF_ERROR(kafka_out_.AfterSave(KafkaInputs()));
  ck_offset_ = offset;
  ck_positions_ = std::move(positions);
  std::copy(counts, counts + 4, ck_counts_);
  ck_seconds_ = (MonotonicMicros() - started_us) / 1e6;
  ck_at_ms_ = NowMs();
  if (opt_.info)
    opt_.info(fmt::format("checkpoint {}: {:.3f} ms, {} bytes written", store_->seq(), ck_seconds_ * 1e3,
                          state_bytes_));
  return Status::OK();
}

Status Runner::DumpState() {
  // The runner's record as one line, then the current row of every window
  // and key the checkpoint holds.
  Output out(1, "stdout");
  std::string* b = out.buffer();
  state::Decoder d(store_->meta());
  d.U64();
  d.Str();
  std::string_view input = d.Str();
  uint64_t offset = d.U64();
  b->append("{\"checkpoint\":{\"input\":");
  json::AppendQuoted(b, input);
  if (restored_positions_.empty()) {
    fmt::format_to(std::back_inserter(*b), ",\"offset\":{},\"line\":{}", offset, line_no_);
  } else {
    b->append(",\"offsets\":[");
    for (size_t i = 0; i < restored_positions_.size(); i++) {
      const KafkaPosition& p = restored_positions_[i];
      b->append(i ? ",{\"topic\":" : "{\"topic\":");
      json::AppendQuoted(b, p.topic);
      fmt::format_to(std::back_inserter(*b), ",\"partition\":{},\"offset\":{}}}", p.partition, p.offset);
    }
    b->push_back(']');
  }
  fmt::format_to(std::back_inserter(*b), ",\"number\":{},\"records_in\":{},\"rows_out\":{}", store_->seq(),
                 stats_->in, stats_->out);
  b->append(",\"watermark\":");
  if (w_seen_ == Watermark::kMinusInfinity || w_seen_ == Watermark::kPlusInfinity) b->append("null");
  else fmt::format_to(std::back_inserter(*b), "{}", w_seen_);
  fmt::format_to(std::back_inserter(*b), ",\"input_ended\":{}}}}}\n", ended_ ? "true" : "false");
  uint64_t dumped = 0;  // not output: not counted
  OutputSink sink(&out, &dumped);
  KPIPE_RETURN_IF_ERROR(op_->Dump(&sink));
  return out.Flush();
}

}  // namespace

Status RunOperator(const RunnerOptions& opt, Operator* op, SignalWatch* signals, RunStats* stats) {
  Runner runner(opt, op, stats);
  return runner.Run(signals);
}

}  // namespace kpipe
