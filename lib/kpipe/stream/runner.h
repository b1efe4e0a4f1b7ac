// The runner loop of kwindow and kagg (kpipe(7), EVENT TIME, CONTROL RECORDS,
// BAD INPUT): reads JSON lines, tells control records from data, unwraps
// envelope lines, reads the event time, keeps the watermark, hands each
// record to an Operator, and writes rows, late records, dead letters and
// control records. Input and output here are files and pipes; the Operator
// interface is what stays when Kafka sources and sinks join.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "kpipe/json/output.h"
#include "kpipe/json/path.h"
#include "kpipe/kafka/config.h"
#include "kpipe/status.h"
#include "kpipe/stream/operator.h"
#include "kpipe/time/event_time.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

struct RunnerOptions {
  std::string input = "-";       // "-", a path (file, FIFO, <(...)) or kafka:TOPIC[,TOPIC...]
  std::string output;            // empty: stdout; or kafka:TOPIC
  std::string late;              // --late DEST; empty: late records are counted, and the first warned of
  int64_t max_late = -1;         // --max-late N: stop (BadInput) after more than N; < 0: no limit
  std::string dead_letter;       // --dead-letter DEST; empty: bad input stops the run
  std::optional<json::FieldPath> time_path;
  TimeUnit time_unit = TimeUnit::kMillis;
  bool time_required = true;     // kwindow: every record needs an event time
  int64_t max_delay = 0;         // D
  int64_t idle_ms = -1;          // --idle; < 0: never
  int64_t every_ms = 0;          // --emit every:DUR; 0: no ticks
  bool watermarks = false;       // write watermark records even without input ones
  bool no_control = false;       // write no control records
  bool rfc3339 = false;          // times in late rows
  // --state DIR: checkpoints every checkpoint_every_ms of processing time,
  // at the end and on SIGINT/SIGTERM; a restart restores the last one and
  // goes on from its input position (kpipe(7), STATE).
  std::string state_dir;
  int64_t checkpoint_every_ms = 10000;
  // kagg --memory-budget: keys beyond about this many bytes live only in
  // the checkpoint store (0: all in memory).
  int64_t memory_budget = 0;
  bool dump_state = false;       // print the checkpoint's rows instead of running
  std::string fingerprint;       // the options that shape the state
  // Kafka inputs and destinations (kpipe(7), KAFKA INPUT AND OUTPUT).
  std::string tool;              // names default group and transactional ids
  KafkaFlags kafka;
  std::string group, from, until;  // -G, --from, --until of a kafka: input
  // --exactly-once: kafka: input and output, one transaction per checkpoint
  // carrying the input offsets (kpipe(7), EXACTLY-ONCE).
  bool exactly_once = false;
  std::function<void(const std::string&)> warn;  // a warning for stderr
  std::function<void(const std::string&)> info;  // -v: a note for stderr (may be empty)
  service::Monitor* monitor = nullptr;           // systemd notify, --metrics (may be null)
  bool progress = false;  // draw progress of a bounded input (stderr is a TTY)
};

struct RunStats {
  uint64_t in = 0;       // data records read (bad ones included)
  uint64_t out = 0;      // rows written
  uint64_t late = 0;
  uint64_t dead_lettered = 0;
};

// Rows go to an Output, one line each, counted in `*rows`.
class OutputSink : public RowSink {
 public:
  OutputSink(Output* out, uint64_t* rows) : out_(out), rows_(rows) {}
  Status Write(std::string_view group, std::string_view row) override;

 private:
  Output* out_;
  uint64_t* rows_;
};

// Runs `op` over the input until its end, a signal (Status::Interrupted
// after flushing) or an error. BadInput names SOURCE:LINE.
Status RunOperator(const RunnerOptions& opt, Operator* op, SignalWatch* signals, RunStats* stats);

// Parses --emit: final, changes or every:DUR (`*every_ms` gets DUR).
Result<EmitMode> ParseEmit(std::string_view text, int64_t* every_ms);

}  // namespace kpipe
