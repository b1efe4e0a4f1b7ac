// RunConsume: the work of kconsume(1): messages of Kafka topics as JSON lines,
// plus the -L metadata and --lag listings.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kpipe/json/output.h"
#include "kpipe/json/path.h"
#include "kpipe/kafka/config.h"
#include "kpipe/time/event_time.h"
#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

// Where reading each partition starts.
struct ConsumeStart {
  // kDefault: the beginning, or with a group its committed offsets.
  enum Kind { kDefault, kBeginning, kEnd, kStored, kOffset, kTail, kTime } kind = kDefault;
  int64_t value = 0;  // kOffset: the offset; kTail: how many before the end; kTime: epoch ms
};

// What kconsume does, as typed values (the tool checks the flags).
struct ConsumeOptions {
  std::vector<std::string> topics;     // TOPIC[:P,P...]
  ConsumeStart start;
  bool exit_at_end = false;            // stop at the end offsets recorded at start
  int64_t until_ms = -1;               // stop before the first message at or after it; -1: no time
  int64_t count = -1;                  // stop after this many messages; -1 = unlimited, 0 = none
  std::string group;                   // empty: no group, nothing committed
  bool read_committed = true;          // else read_uncommitted
  bool envelope = false;
  std::string format;                  // a kcat-style format
  bool list = false;                   // list the partitions of `topics` (all topics when empty)
  std::string lag_group;               // list this group's lag instead
  bool watermarks = false;             // write watermark records, by the rule of time/watermark.h
  int64_t max_delay_ms = 0, idle_ms = -1;
  std::optional<json::FieldPath> time_path;  // event time; none: the message timestamp
  TimeUnit time_unit = TimeUnit::kMillis;
  bool no_control = false;             // no control records at all, partitions records neither
  KafkaFlags kafka;
  int connect_timeout_ms = 10'000;
  bool progress = false;                // draw progress of -e/--until (stderr is a TTY)
  service::Monitor* monitor = nullptr;  // systemd notify, --metrics (may be null)
};

struct ConsumeStats {
  uint64_t messages = 0;
  uint64_t bytes = 0;  // payload bytes (key + value)
  uint64_t partitions = 0;
};

// Writes to `out`. `diag` receives warnings for stderr; `signals` (may be
// null) stops the run on SIGINT/SIGTERM after committing what was written.
Status RunConsume(const ConsumeOptions& opt, SignalWatch* signals,
                  const std::function<void(const std::string&)>& diag, Output* out,
                  ConsumeStats* stats);

}  // namespace kpipe
