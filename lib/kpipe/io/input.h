// Input: one source of JSON lines for the runner (stream/runner.h). A file,
// FIFO or stdin (FileInput, io/file_input.h), a Kafka input (KafkaSource,
// kafka/source.h), or an in-memory one in the tests. An input hands over
// blocks of whole lines, tells where each line came from, where reading
// stands (what a checkpoint records) and how to go on from there, and which
// partitions it reads.
//
// Two ways to read: NextBlock() waits, and calls the idle, tick and signal
// hooks while it does (a run over one input); TryBlock() never waits, and
// ReadyFd() is what to poll() for more (a run over several inputs).
//
// Partitions: an input that reads partitions (Kafka) tells the partition
// callback when it starts reading one and when one ends. A Kafka input read
// as a member of its consumer group (kpipe(7), SCALING) also tells the
// rebalance callback which partitions it gains and loses, always between
// blocks: every line of the blocks returned before has been handled.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;
namespace service {
struct Snapshot;
}

// The next offset to read in one partition of a partitioned input.
struct PartitionPosition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  bool operator==(const PartitionPosition&) const = default;
};

// Partitions a group member gains or loses (Input::set_rebalance_callback).
struct Rebalance {
  bool assigned = false;  // gained; else lost to another member
  // Revoked without the chance to commit first: another member may own
  // them already (a session that timed out).
  bool lost = false;
  // Assigned: the callback sets where to start in each (`offset`), or
  // leaves -1 for the input's own rule (--from, else the beginning).
  std::vector<PartitionPosition> partitions;
};

// Where an input's reading stands: everything before it has been returned
// in a block. A byte stream counts bytes; a partitioned input has an offset
// per partition.
struct InputPosition {
  uint64_t offset = 0;
  std::vector<PartitionPosition> partitions;
  bool operator==(const InputPosition&) const = default;
};

class Input {
 public:
  virtual ~Input() = default;

  // How diagnostics name the input: "stdin", a path, "kafka:T1,T2".
  virtual const std::string& name() const = 0;

  // Starts reading, at `at` (a checkpoint's position) when given.
  // `*rewound`: reading goes on from `at`; false when the input cannot be
  // rewound (a pipe), which then goes on from where it is.
  virtual Status Start(const InputPosition* at, bool* rewound) = 0;

  // Hooks of NextBlock(): `idle` before a read that would wait, `tick`
  // every `period_ms` of waiting, `signals` a SIGINT/SIGTERM that ends the
  // wait with Status::Interrupted.
  virtual void set_idle_callback(std::function<Status()> cb) = 0;
  virtual void set_tick(int64_t period_ms, std::function<Status()> cb) = 0;
  virtual void set_signal_watch(SignalWatch* signals) = 0;
  // While waiting for input, also watch `fd`, the tool's output: a pipe
  // whose reader has gone ends the wait with Status::BrokenPipe.
  virtual void set_output_watch(int fd) { (void)fd; }
  // NextBlock() and TryBlock() may read the next block ahead on a thread of
  // their own, while the caller works on the one returned, where that never
  // delays the hooks above (a regular file). Asked before Start().
  virtual void set_read_ahead(bool on) { (void)on; }
  // Called with a partition's name ("topic/partition", as RecordDecoder
  // names it) when reading it starts, and with done = true when it ends.
  // Inputs without partitions never call it.
  virtual void set_partition_callback(std::function<void(const std::string& name, bool done)> cb) {
    (void)cb;
  }

  // Group members only: called with the partitions gained or lost, between
  // blocks (from NextBlock). An error ends the read with that status.
  virtual void set_rebalance_callback(std::function<Status(Rebalance*)> cb) { (void)cb; }

  // The next block of whole lines, each ending with '\n' (the last line of
  // a file may not), followed by at least SIMDJSON_PADDING readable bytes;
  // valid until the next call. Waits for one; false at the end or on an
  // error (see status()).
  virtual bool NextBlock(std::string_view* block) = 0;
  // As NextBlock, without waiting: false when nothing is there now, at the
  // end (ended()) or on an error (status()).
  virtual bool TryBlock(std::string_view* block) = 0;
  // A descriptor that becomes readable when TryBlock() may have more; -1
  // when it never has to be waited for (poll() leaves it out).
  virtual Result<int> ReadyFd() = 0;
  virtual bool ended() const = 0;
  virtual const Status& status() const = 0;
  // An input read up to where it ended when reading started (a table topic
  // read before the other input starts) has caught up; a byte stream only
  // at its end.
  virtual bool caught_up() const { return ended(); }

  // Where line `i` (0-based) of the last block came from; `line_no` is its
  // number counted over the whole input by the caller, which is what an
  // input numbered by lines gives back (Kafka inputs give the offset).
  virtual void Locate(size_t i, uint64_t line_no, std::string* source, uint64_t* line) const = 0;
  virtual InputPosition position() const = 0;
  // A bounded input: how much of it has been read, and how much it holds
  // from where this run started; false when unbounded (a pipe, a live topic).
  virtual bool Progress(uint64_t* done, uint64_t* total) const = 0;
  // The input's share of the metrics (bytes read, for Kafka the lag).
  virtual void AddMetrics(service::Snapshot* s) const = 0;
};

}  // namespace kpipe
