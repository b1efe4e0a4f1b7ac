#include "kpipe/time/event_time.h"

#include <charconv>
#include <cmath>
#include <optional>

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

namespace {
Status OutOfRange(std::string_view field) {
  return Status::BadInput(
      fmt::format("event time '{}' is out of range (more than 146 million years from 1970)", field));
}
}  // namespace

Result<int64_t> CheckEventTime(int64_t ms, std::string_view field) {
  if (ms < -kMaxEventTime || ms > kMaxEventTime) return OutOfRange(field);
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

// The decimal that `d` was written as (its shortest form: 1.001, not
// 1.000999999999999890...) times 10^exp10, rounded down exactly, so that
// 1.001 seconds is 1001 ms. None beyond int64.
std::optional<int64_t> FloorOfDecimal(double d, int exp10) {
  char buf[40];
  char* end = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
  bool neg = buf[0] == '-';
  __int128 digits = 0;
  bool point = false;
  for (char* c = buf + neg; c < end; c++) {
    if (*c == '.') {
      point = true;
    } else if (*c == 'e') {
      int e = 0;
      std::from_chars(c + 1 + (c[1] == '+'), end, e);
      exp10 += e;
      break;
    } else {
      digits = digits * 10 + (*c - '0');
      if (point) exp10--;
    }
  }
  if (digits == 0) return 0;
  if (exp10 > 19) return std::nullopt;
  __int128 ms;  // of the magnitude, rounded toward -infinity below
  if (exp10 >= 0) {
    ms = digits;
    for (int k = 0; k < exp10; k++) ms *= 10;
  } else if (exp10 < -36) {
    ms = neg ? 1 : 0;  // below a millisecond by far: 0, or -1
  } else {
    __int128 div = 1;
    for (int k = 0; k < -exp10; k++) div *= 10;
    ms = digits / div;
    if (neg && digits % div != 0) ms++;
  }
  if (ms > INT64_MAX) return std::nullopt;
  return static_cast<int64_t>(neg ? -ms : ms);
}

Result<int64_t> EventTimeOfUnchecked(simdjson::dom::element value, TimeUnit unit,
                                     std::string_view field) {
  int64_t i;
  uint64_t u;
  double d;
  std::string_view s;
  if (value.get_int64().get(i) == simdjson::SUCCESS) {
    switch (unit) {
      case TimeUnit::kSeconds:
        if (i > INT64_MAX / 1000 || i < INT64_MIN / 1000) return OutOfRange(field);
        return i * 1000;
      case TimeUnit::kMillis: return i;
      case TimeUnit::kMicros: return FloorDiv(i, 1000);
      case TimeUnit::kNanos: return FloorDiv(i, 1'000'000);
    }
  }
  if (value.is_uint64() && value.get_uint64().get(u) == simdjson::SUCCESS) {  // beyond int64
    if (unit == TimeUnit::kMicros) return static_cast<int64_t>(u / 1000);
    if (unit == TimeUnit::kNanos) return static_cast<int64_t>(u / 1'000'000);
    return OutOfRange(field);
  }
  if (value.get_double().get(d) == simdjson::SUCCESS) {
    if (!std::isfinite(d)) return OutOfRange(field);
    int exp10 = unit == TimeUnit::kSeconds ? 3 : unit == TimeUnit::kMillis ? 0 : unit == TimeUnit::kMicros ? -3 : -6;
    // Far from a whole millisecond, the double's product rounds down as the
    // decimal does.
    double x = d * (exp10 == 3 ? 1e3 : exp10 == 0 ? 1.0 : exp10 == -3 ? 1e-3 : 1e-6);
    double f = std::floor(x), margin = std::abs(x) * 1e-14;
    if (x - f > margin && f + 1 - x > margin && std::abs(f) < 9e18) return static_cast<int64_t>(f);
    auto ms = FloorOfDecimal(d, exp10);
    if (!ms) return OutOfRange(field);
    return *ms;
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
