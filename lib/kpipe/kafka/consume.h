// RunConsume: the work of kconsume(1): messages of Kafka topics as JSON lines,
// plus the -L metadata and --lag listings.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kpipe/json/output.h"
#include "kpipe/kafka/config.h"
#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

struct ConsumeOptions {
  std::vector<std::string> topics;     // TOPIC[:P,P...]
  std::string offset;                  // -o; empty = beginning (stored with -G)
  std::string from, until;             // --from TIME, --until TIME|end
  bool exit_at_end = false;            // -e
  int64_t count = -1;                  // -c; -1 = unlimited
  std::string group;                   // -G
  std::string isolation = "read_committed";
  bool envelope = false;
  std::string format;                  // -f
  bool list = false;                   // -L [TOPIC]
  std::string lag_group;               // --lag GROUP
  bool watermarks = false;             // --watermarks
  std::string max_delay, idle, time_path, time_unit;
  bool no_control = false;             // --no-control: no partitions records either
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
