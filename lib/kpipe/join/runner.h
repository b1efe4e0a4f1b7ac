// The runner loop of kjoin(1): reads two inputs concurrently with poll(), so
// that neither starves the other, keeps a watermark per side, and feeds an
// IntervalJoin or a TableJoin (join/join.h). Bad input, late records,
// control records and the summary follow kpipe(7) as in the other tools.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kpipe/join/join.h"
#include "kpipe/json/path.h"
#include "kpipe/kafka/config.h"
#include "kpipe/status.h"
#include "kpipe/time/event_time.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

struct JoinOptions {
  std::string input[2] = {"-", "-"};   // LEFT, RIGHT; each may be kafka:TOPIC[,TOPIC...]
  std::vector<json::FieldPath> keys[2];
  std::optional<json::FieldPath> time[2];
  TimeUnit time_unit = TimeUnit::kMillis;
  bool table = false, as_of = false;
  int64_t lo = 0, hi = 0;     // interval bounds
  JoinType type = JoinType::kInner;
  int64_t retain = -1;        // --retain; < 0: keep every version
  int64_t max_delay = 0, lateness = 0, idle_ms = -1;
  std::string output, late, dead_letter;
  int64_t max_late = -1;      // --max-late N: stop (BadInput) after more than N late records
  bool merge = false, watermarks = false, no_control = false;
  // --state DIR, as for kwindow (stream/runner.h): checkpoints hold the
  // join's records, both inputs' positions and watermarks.
  std::string state_dir;
  int64_t checkpoint_every_ms = 10000;
  bool dump_state = false;
  std::string fingerprint;
  std::function<void(const std::string&)> warn;
  std::function<void(const std::string&)> info;  // -v (may be empty)
  service::Monitor* monitor = nullptr;           // systemd notify, --metrics (may be null)
  bool progress = false;  // draw progress when both inputs are bounded (stderr is a TTY)
  // Kafka inputs and destinations, as for kwindow (stream/runner.h); both
  // Kafka inputs share the group.
  KafkaFlags kafka;
  std::string group, from, until;
  bool exactly_once = false;
};

struct JoinStats {
  uint64_t in[2] = {0, 0};
  uint64_t out = 0, late = 0, dead_lettered = 0;
};

Status RunJoin(const JoinOptions& opt, SignalWatch* signals, JoinStats* stats);

}  // namespace kpipe
