// Durations and instants as kpipe(7) writes them. All times are int64
// milliseconds since the Unix epoch (UTC); durations are milliseconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kpipe/status.h"

namespace kpipe {

// Event times beyond +-2^62 ms (146 million years from 1970) are bad input
// and durations are at most 2^60 ms, so that window and join arithmetic on
// them (t - size, start + slide, t + HI + L) never overflows int64.
inline constexpr int64_t kMaxEventTime = int64_t{1} << 62;
inline constexpr int64_t kMaxDuration = int64_t{1} << 60;

// "250ms", "10s", "5m", "1h", "2d", "1h30m", "1.5s"; a leading '-' when
// `allow_negative`. Units: ms, s, m, h, d (also us/ns rounded down to ms).
Result<int64_t> ParseDuration(std::string_view text, bool allow_negative = false);

// RFC 3339 / ISO 8601: "2026-11-24T10:00:00.123Z", "2026-11-24T11:00:00+01:00",
// "2026-11-24 10:00:00Z", "2026-11-24" (midnight UTC). No zone means UTC.
Result<int64_t> ParseRfc3339(std::string_view text);

// A point in time as a user types it on the command line: RFC 3339, epoch
// milliseconds (all digits), "now", or relative to `now_ms` ("-1h", "+5m").
Result<int64_t> ParseTimePoint(std::string_view text, int64_t now_ms);

// "2026-11-24T10:00:00.123Z" (always milliseconds, always Z).
std::string FormatRfc3339(int64_t ms);

int64_t NowMs();
// A monotonic clock in microseconds, for measuring how long work takes.
int64_t MonotonicMicros();

// floor(a / b) for b > 0, also for negative a (window starts, unit changes).
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

}  // namespace kpipe
