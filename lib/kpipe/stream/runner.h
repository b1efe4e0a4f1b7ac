// The one runner of kwindow, kagg and kjoin (kpipe(7), EVENT TIME, CONTROL
// RECORDS, BAD INPUT, STATE): reads JSON lines from one or more Inputs
// (io/input.h), tells control records from data, unwraps envelope lines,
// reads the event time, keeps a watermark per input and their minimum,
// hands each record to an Operator (stream/operator.h), and writes rows,
// late records, dead letters and control records; with --state it
// checkpoints the operator with the inputs' positions, and restores both.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kpipe/io/input.h"
#include "kpipe/json/output.h"
#include "kpipe/json/path.h"
#include "kpipe/kafka/config.h"
#include "kpipe/json/schema.h"
#include "kpipe/status.h"
#include "kpipe/stream/operator.h"
#include "kpipe/time/event_time.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

// One input of a run.
struct InputOptions {
  std::string name = "-";  // "-", a path (file, FIFO, <(...)) or kafka:TOPIC[,TOPIC...]
  std::optional<json::FieldPath> time_path;
  bool time_required = true;      // every record needs an event time
  bool spans = false;             // the operator reads RecordIn::raw and message_key
  bool key = false;               // the operator reads RecordIn::key
  bool null_value_timestamp = false;  // an envelope with a null value takes the envelope's time
  // Read to its end (a Kafka input: to its end offsets at start) before the
  // other inputs start (the table of a table join).
  // --validate FILE: a record whose value does not fit is bad input
  // (kpipe(7), VALIDATION); null: not checked.
  std::shared_ptr<const json::Schema> validate;
  bool first = false;
  std::string role;  // how late rows and --dump-state name it with several inputs ("left")
};

struct RunnerOptions {
  std::vector<InputOptions> inputs = {InputOptions{}};
  std::string output;            // empty: stdout; or kafka:TOPIC
  std::string late;              // --late DEST; empty: late records are counted, and the first warned of
  int64_t max_late = -1;         // --max-late N: stop (BadInput) after more than N; < 0: no limit
  std::string dead_letter;       // --dead-letter DEST; empty: bad input stops the run
  TimeUnit time_unit = TimeUnit::kMillis;
  int64_t max_delay = 0;         // D, of each input's watermark
  int64_t idle_ms = -1;          // --idle; < 0: never
  int64_t every_ms = 0;          // --emit every:DUR; 0: no ticks
  bool watermarks = false;       // write watermark records even without input ones
  bool no_control = false;       // write no control records
  bool rfc3339 = false;          // times in late rows
  // --state DIR: checkpoints every checkpoint_every_ms of processing time,
  // at the end and on SIGINT/SIGTERM; a restart restores the last one and
  // goes on from the inputs' positions (kpipe(7), STATE).
  std::string state_dir;
  int64_t checkpoint_every_ms = 10000;
  // kagg --memory-budget: keys beyond about this many bytes live only in
  // the checkpoint store (0: all in memory).
  int64_t memory_budget = 0;
  bool dump_state = false;       // print the checkpoint's rows instead of running
  std::string fingerprint;       // the options that shape the state
  // Kafka inputs and destinations (kpipe(7), KAFKA INPUT AND OUTPUT).
  // With exactly_once: kafka: input and output, one transaction per
  // checkpoint carrying the input offsets (kpipe(7), EXACTLY-ONCE). All
  // kafka: inputs share the group.
  KafkaIo kafka_io;
  // -G on a kafka: input without --state: this process is a member of the
  // group, reads the partitions it is given, and keeps its state per
  // partition in a changelog topic (kpipe(7), SCALING). The operator is then
  // a PartitionedOperator (stream/partitioned.h).
  bool members = false;
  // --state DIR with --instance (or --changelog): a member that keeps a
  // local copy of its partitions' changelog in DIR (state/partition_copy.h),
  // and reads only the changelog past it when it gains one again.
  std::string member_copy_dir;
  std::string tool;              // names the progress, default group and transactional ids
  bool object_key = true;        // rows to Kafka keyed by {group fields} (kjoin: by the join key)
  std::function<void(const std::string&)> warn;  // a warning for stderr
  std::function<void(const std::string&)> info;  // -v: a note for stderr (may be empty)
  service::Monitor* monitor = nullptr;           // systemd notify, --metrics (may be null)
  bool progress = false;  // draw progress of bounded inputs (stderr is a TTY)
  // --threads: 1, everything on one thread; 2 or more, large blocks of input
  // are parsed on a second thread, a chunk ahead (json/block_parser.h).
  // The output is the same either way.
  int threads = 1;
};

struct RunStats {
  uint64_t in = 0;       // data records read (bad ones included), over all inputs
  uint64_t out = 0;      // rows written
  uint64_t late = 0;
  uint64_t dead_lettered = 0;
  std::vector<uint64_t> in_by_input;  // `in` per input
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

// Runs `op` over the inputs until their end, a signal (Status::Interrupted
// after flushing) or an error. BadInput names SOURCE:LINE. The inputs are
// opened from opt.inputs, or given (one per opt.inputs entry, for tests).
Status RunOperator(const RunnerOptions& opt, Operator* op, SignalWatch* signals, RunStats* stats);
Status RunOperator(const RunnerOptions& opt, Operator* op, std::vector<std::unique_ptr<Input>> inputs,
                   SignalWatch* signals, RunStats* stats);

}  // namespace kpipe
