// The runner of stream/runner.h, shared by its three files: runner.cc (the
// loop over the inputs, blocks, lines and records), control.cc (control
// records, the watermark, the end) and checkpoint.cc (checkpoints, restore,
// --dump-state). Not part of the library's interface. Not thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "kpipe/cli/progress.h"
#include "kpipe/io/outputs.h"
#include "kpipe/json/block_parser.h"
#include "kpipe/json/line.h"
#include "kpipe/kafka/source.h"
#include "kpipe/service/monitor.h"
#include "kpipe/state/store.h"
#include "kpipe/stream/exactly_once.h"
#include "kpipe/stream/late.h"
#include "kpipe/stream/members.h"
#include "kpipe/stream/record_decoder.h"
#include "kpipe/stream/runner.h"
#include "kpipe/time/watermark.h"

namespace kpipe::run {

// The partitions record that says watermark records follow (kpipe(7),
// CONTROL RECORDS): written once, before the first watermark a tool writes
// (Runner::SayWatermarksFollow).
inline constexpr std::string_view kWatermarksFollow = "{\"@kpipe\":\"partitions\",\"names\":[],\"watermarks\":true}\n";

// One input and what the runner keeps of it.
struct Lane {
  Lane(const RunnerOptions& opt, const InputOptions& in)
      : opt(in), decoder(in.time_path, opt.time_unit, in.time_required), wm(opt.max_delay, opt.idle_ms) {}
  const InputOptions& opt;
  std::unique_ptr<Input> in;
  KafkaSource* kafka = nullptr;  // `in`, when it is a Kafka input
  RecordDecoder decoder;
  Watermark wm;
  uint64_t records = 0;      // data records read from it (RunStats::in_by_input)
  uint64_t line_no = 0;      // lines handled, over the whole input (a restored count goes on)
  size_t block_line = 0;     // of the line being handled, 1-based within its block
  bool ended = false;        // this input's W is +inf (an end record, or its end)
  bool eof = false;          // nothing more to read
  int64_t last_data_ms = 0;  // processing time of its last record (with --idle)
  int64_t w_seen = Watermark::kMinusInfinity;  // its W as the operator last saw it
  bool restored = false;     // `at` holds a checkpoint's position
  InputPosition at;
  int64_t W() const { return ended ? Watermark::kPlusInfinity : wm.current(); }
};

class Runner {
 public:
  Runner(const RunnerOptions& opt, Operator* op, RunStats* stats);
  ~Runner();
  Status Run(std::vector<std::unique_ptr<Input>> inputs, SignalWatch* signals);

 private:
  // --- runner.cc: reading and records; control.cc: control, watermarks, the end
  Status Open(std::vector<std::unique_ptr<Input>> inputs);
  Status OpenKafka();
  Status StartInputs();
  Status ReadOne();           // one input: wait for each block
  Status ReadAll(SignalWatch* signals);  // several: poll() so that none starves another
  bool Reading(size_t s) const;
  Status Block(size_t s, std::string_view block);
  // The lines of `text` (a block, or a chunk of one that the block parser
  // left unparsed): through parse_many, each line judged on its own from
  // the first that is not one whole document.
  Status Lines(size_t s, std::string_view text);
  // A chunk the block parser parsed: one value per line.
  Status Values(size_t s, const json::BlockParser::Chunk& c);
  // The hints of the lines of lane `s` for the block parser's thread,
  // given their form: the operator's hint function of the record (an
  // envelope's value), with `*key_hints`; the event time of a plain line.
  // None when there is neither.
  json::BlockParser::Hint Hint(size_t s, bool* key_hints) const;
  Status Line(size_t s, std::string_view line);
  [[gnu::always_inline]] Status Parsed(size_t s, std::string_view line, simdjson::dom::element root) {
    simdjson::dom::object obj;
    if (json::IsControl(root, &obj)) return Control(s, obj, line);
    stats_->in++;
    lanes_[s]->records++;
    return Data(s, root, line);
  }
  Status Data(size_t s, simdjson::dom::element root, std::string_view line);
  Status Control(size_t s, simdjson::dom::object obj, std::string_view line);
  Status Bad(size_t s, std::string_view reason, std::string_view line);
  Status Late(size_t s, std::string_view line, int64_t t, const AddOutcome& outcome, int64_t w);
  void AppendTime(std::string* b, int64_t ms) const;
  // An input ended (end record, or its end); every input ended: End().
  Status EndInput(size_t s);
  // Every input ended: every window closes, the end record is passed on.
  Status End();
  // After a watermark may have moved: W = the minimum over the inputs (with
  // --idle, over those not quiet), never backwards; the operator sees each
  // rise, and a watermark record follows what it released (or `force`).
  // `refresh`: re-evaluate idle partitions first.
  Status Moved(bool force, bool refresh);
  int64_t Combined(int64_t now) const;
  Status WriteWatermark();
  // Writes kWatermarksFollow, once, when watermarks are written downstream.
  Status SayWatermarksFollow();
  Status OnIdle();
  // `between_blocks`: called while waiting for input, so the inputs'
  // positions cover exactly the lines handled and a checkpoint may be made.
  Status OnTick(bool between_blocks);
  Status Every1024();
  void Locate(size_t s, std::string* source, uint64_t* line) const;
  std::string Where(size_t s) const;
  std::vector<KafkaSource*> KafkaInputs() const;
  service::Snapshot Snap() const;
  void Monitor() {
    if (opt_.monitor && opt_.monitor->Due()) opt_.monitor->Tick(Snap());
  }
  bool Bounds(uint64_t* done, uint64_t* total) const;
  void ShowProgress();

  // --- checkpoint.cc: --state
  Status OpenStore();
  Status OpenState();
  Status Restore();
  // `behind`: the operator's entries may be written by another thread
  // while reading goes on (IncrementalState::BeginSnapshot).
  Status Checkpoint(bool behind = false);
  Status MaybeCheckpoint();
  // Waits for a checkpoint written behind when `wait`; once it is done:
  // the rest of the checkpoint.
  Status CollectBehind(bool wait);
  bool CanWriteBehind() const {
    return op_->incremental() && !opt_.kafka_io.exactly_once && opt_.memory_budget == 0 && lanes_.size() == 1;
  }
  Status DumpState();
  std::vector<KafkaPosition> KafkaPositions(const std::vector<InputPosition>& at) const;

  const RunnerOptions& opt_;
  Operator* op_;
  RunStats* stats_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  LatePolicy late_policy_;
  Outputs outputs_;
  Output* out_ = nullptr;  // outputs_.rows()
  std::unique_ptr<RowSink> sink_;
  bool no_control_ = false;  // opt_.no_control, or rows go to Kafka
  KafkaOutputs kafka_out_;
  std::unique_ptr<cli::Progress> progress_;

  simdjson::dom::parser parser_;       // whole blocks (parse_many)
  std::unique_ptr<json::BlockParser> block_parser_;  // threads >= 2
  const json::BlockParser::Hints* hint_ = nullptr;  // Values: the hints of the record at hand
  bool key_hints_ = false;  // the block's hints hold the operator's (Hint)
  simdjson::dom::parser line_parser_;  // one line at a time
  bool control_out_ = false;    // write our own watermarks downstream
  bool ended_ = false;          // every input ended
  bool end_written_ = false;    // {"@kpipe":"end"} passed on
  bool follow_said_ = false;    // kWatermarksFollow written
  int64_t w_ = Watermark::kMinusInfinity;  // W the operator last saw
  int64_t written_wm_ = Watermark::kMinusInfinity;
  int64_t wm_written_at_ = 0;  // processing time of the last one written
  uint64_t seq_ = 0;
  int64_t next_tick_ = INT64_MAX;
  int64_t poll_ms_ = 1000;     // ReadAll's wait while the inputs are quiet
  RunStats base_;              // the counts when this process was ready

  // -G: a member of the group (kpipe(7), SCALING)
  std::unique_ptr<Members> members_;

  // --state
  std::unique_ptr<state::CheckpointStore> store_;
  int64_t next_checkpoint_ = INT64_MAX;
  int64_t restored_sizes_[3] = {-1, -1, -1};  // output, late, dead letters
  // The same files' paths (canonical) where they are regular files, as
  // checkpoints record them, and those a restored checkpoint recorded
  // (empty: not a regular file, or a checkpoint of a build before).
  std::string output_paths_[3], restored_paths_[3];
  // The checkpoint restored was made at the end of the input, and nothing
  // was read since.
  bool restored_at_end_ = false;
  bool watch_output_ = true;  // ReadAll polls the output for a reader gone
  bool restored_ = false;
  bool fresh_ = false;  // --exactly-once: the store's one checkpoint never committed
  uint64_t state_bytes_ = 0;  // of the last checkpoint
  // What the last checkpoint recorded, to skip one that would record the same.
  std::vector<InputPosition> ck_positions_;
  uint64_t ck_counts_[4] = {0, 0, 0, 0};
  int64_t ck_at_ms_ = service::Snapshot::kNone;  // when the state on disk was last made current
  double ck_seconds_ = 0;                        // the last checkpoint written, how long it took
  // A checkpoint written behind: its thread, and what to do once it is done.
  struct Behind {
    std::thread thread;
    std::atomic<bool> done{false};
    Status status;  // of the thread's work
    std::unique_ptr<SnapshotJob> job;
    std::vector<int> to_sync;  // output files to fdatasync() first
    std::vector<KafkaPosition> positions;
    uint64_t seq = 0, bytes = 0;
    int64_t started_us = 0, pause_us = 0, written_us = 0;
  };
  std::unique_ptr<Behind> behind_;
};

}  // namespace kpipe::run
