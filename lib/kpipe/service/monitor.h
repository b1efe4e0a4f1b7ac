// Monitor: what a long-running tool tells the system that runs it
// (kpipe(7), RUNNING AS A SERVICE and METRICS):
//  - systemd's notify protocol, through sd_notify(3), when NOTIFY_SOCKET is
//    set: READY=1 once connected and restored, WATCHDOG=1 every
//    WATCHDOG_USEC/2, STATUS= a short human line, STOPPING=1 on the way out;
//  - --metrics FILE: Prometheus text format, replaced atomically every
//    --metrics-every and at exit, for node_exporter's textfile collector.
// Every call comes from the tool's main loop, never from a side thread: a
// loop stuck in a write or a computation stops calling Tick, the watchdog
// stops, and systemd restarts the service.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kpipe/status.h"

namespace kpipe::service {

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t records = 0;  // end offset minus the next offset to read
};

// The loop's counters at one moment. Fields a tool does not have stay at
// their defaults and their metrics are left out.
struct Snapshot {
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t records_late = 0;
  uint64_t records_dead_letter = 0;
  uint64_t bytes_in = 0;
  static constexpr int64_t kNone = INT64_MIN;
  int64_t watermark_ms = kNone;       // event-time tools, once there is one
  bool kafka_input = false;           // `lag` is meaningful
  std::vector<PartitionLag> lag;
  bool checkpoints = false;           // --state
  double checkpoint_seconds = 0;      // the last checkpoint's duration
  int64_t checkpoint_at_ms = kNone;   // processing time it ended
  bool transactions = false;          // a transactional producer
  uint64_t transactions_committed = 0;
  uint64_t transactions_aborted = 0;
  // A member of a consumer group (kpipe(7), SCALING): `lag` has the
  // partitions it owns; how each one's state came back from the changelog;
  // a restore under way; commits refused and started over.
  bool member = false;
  struct Restore {
    std::string topic;
    int32_t partition = 0;
    uint64_t entries = 0;
    double seconds = 0;  // of the restore that brought it (several partitions at once)
  };
  std::vector<Restore> restores;
  int restoring_partitions = 0;  // > 0: a restore under way...
  uint64_t restoring_read = 0;   // ...that has read this many changelog records
  uint64_t rewinds = 0;
};

struct MonitorOptions {
  std::string tool;
  std::string metrics_path;                                 // --metrics; empty: none
  int64_t metrics_every_ms = 10'000;                        // --metrics-every
  std::vector<std::pair<std::string, std::string>> labels;  // --metrics-label, after tool=
  std::function<void(const std::string&)> warn;             // a warning for stderr
};

// Prometheus text exposition format (version 0.0.4) of `s`, each metric
// with # HELP and # TYPE, labelled tool="…" and `labels`. `now_ms` is the
// processing time (ms since the epoch) for the ages and lags.
std::string FormatMetrics(const Snapshot& s, const std::string& tool,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          int64_t start_ms, int64_t now_ms);

// "1,234 in (567/s), 1,200 out, lag 12, watermark 1.5s behind": STATUS=.
std::string StatusLine(const Snapshot& s, double in_per_s, int64_t now_ms);

// Parses --metrics-label NAME=VALUE (a Prometheus label name).
Result<std::pair<std::string, std::string>> ParseLabel(const std::string& text);

class Monitor {
 public:
  // Reads NOTIFY_SOCKET and the watchdog settings (sd_watchdog_enabled(3)).
  explicit Monitor(MonitorOptions opt);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Anything to do at all: a notify socket or a metrics file.
  bool active() const { return notify_ || !opt_.metrics_path.empty(); }
  // The longest a waiting loop may go without calling Tick, in ms (the
  // watchdog's half period, the metrics and status periods); -1 when none.
  int64_t period_ms() const { return period_ms_; }
  // True when Tick has something to do (a monotonic clock: a wall clock
  // set back must not silence the watchdog).
  bool Due() const;

  // Connected and restored: READY=1 with the first STATUS=, and the first
  // metrics file; an error if that file cannot be written.
  Status Ready(const Snapshot& s);
  // Whatever is due: WATCHDOG=1, STATUS=, the metrics file. A metrics file
  // that cannot be written is a warning (once until it works again), never
  // a reason to stop the pipeline.
  void Tick(const Snapshot& s);
  // SIGINT/SIGTERM: STOPPING=1, before the final checkpoint.
  void Stopping();
  // At exit: the last metrics file. Returns `run` (the run's status), or
  // the file's error when the run went well.
  Status Finish(const Snapshot& s, Status run);

 private:
  void Notify(const std::string& state);
  Status WriteMetrics(const Snapshot& s, int64_t now_ms);
  void Schedule();

  MonitorOptions opt_;
  bool notify_ = false;
  int64_t watchdog_ms_ = 0;  // half of WATCHDOG_USEC, in ms; 0: no watchdog
  int64_t period_ms_ = -1;
  int64_t start_ms_;         // wall clock, for kpipe_start_time_seconds
  int64_t next_due_ = INT64_MAX;  // the times below are monotonic ms
  int64_t next_watchdog_ = INT64_MAX, next_status_ = INT64_MAX, next_metrics_ = INT64_MAX;
  bool ready_ = false, stopping_ = false;
  bool metrics_failing_ = false;
  uint64_t status_in_ = 0;  // records_in at the last STATUS=
  int64_t status_at_ = 0;   // monotonic ms
};

}  // namespace kpipe::service
