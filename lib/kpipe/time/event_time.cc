#include "kpipe/time/event_time.h"

#include <cmath>

#include <fmt/format.h>

#include "kpipe/time/time.h"

namespace kpipe {

Result<TimeUnit> ParseTimeUnit(std::string_view text) {
  if (text == "s") return TimeUnit::kSeconds;
  if (text == "ms") return TimeUnit::kMillis;
  if (text == "us") return TimeUnit::kMicros;
  if (text == "ns") return TimeUnit::kNanos;
  return Status::Usage(fmt::format("{}: expected s, ms, us or ns", text));
}

Result<int64_t> CheckEventTime(int64_t ms, std::string_view field) {
  if (ms < -kMaxEventTime || ms > kMaxEventTime)
    return Status::BadInput(fmt::format(
        "event time '{}' is out of range (more than 146 million years from 1970)", field));
  return ms;
}

namespace {
Result<int64_t> EventTimeOfUnchecked(simdjson::dom::element value, TimeUnit unit,
                                     std::string_view field);
}  // namespace

Result<int64_t> EventTimeOf(simdjson::dom::element value, TimeUnit unit, std::string_view field) {
  auto t = EventTimeOfUnchecked(value, unit, field);
  if (!t.ok()) return t;
  return CheckEventTime(*t, field);
}

namespace {

Result<int64_t> EventTimeOfUnchecked(simdjson::dom::element value, TimeUnit unit,
                                     std::string_view field) {
  int64_t i;
  double d;
  std::string_view s;
  if (value.get_int64().get(i) == simdjson::SUCCESS) {
    switch (unit) {
      case TimeUnit::kSeconds:
        if (i > INT64_MAX / 1000 || i < INT64_MIN / 1000)
          return Status::BadInput(fmt::format("event time '{}' is out of range", field));
        return i * 1000;
      case TimeUnit::kMillis: return i;
      case TimeUnit::kMicros: return FloorDiv(i, 1000);
      case TimeUnit::kNanos: return FloorDiv(i, 1'000'000);
    }
  }
  if (value.get_double().get(d) == simdjson::SUCCESS) {
    double scale = unit == TimeUnit::kSeconds ? 1e3
                   : unit == TimeUnit::kMillis ? 1.0
                   : unit == TimeUnit::kMicros ? 1e-3
                                               : 1e-6;
    double ms = std::floor(d * scale);
    if (!std::isfinite(ms) || ms >= 9.2e18 || ms <= -9.2e18)
      return Status::BadInput(fmt::format("event time '{}' is out of range", field));
    return static_cast<int64_t>(ms);
  }
  if (value.get_string().get(s) == simdjson::SUCCESS) {
    auto t = ParseRfc3339(s);
    if (!t.ok())
      return Status::BadInput(fmt::format("event time '{}': {}", field, t.status().message()));
    return t;
  }
  return Status::BadInput(
      fmt::format("event time '{}' is not a number or an RFC 3339 string", field));
}

}  // namespace

}  // namespace kpipe
