// Event time of a record (kpipe(7), EVENT TIME): a number in epoch units
// (--time-unit s|ms|us|ns, default ms) or an RFC 3339 string, read from a
// field. Results are epoch milliseconds, rounded toward minus infinity for
// finer units so that a record never moves into a later window.
#pragma once

#include <cstdint>
#include <string_view>

#include <simdjson.h>

#include "kpipe/status.h"

namespace kpipe {

enum class TimeUnit { kSeconds, kMillis, kMicros, kNanos };

Result<TimeUnit> ParseTimeUnit(std::string_view text);

// The event time of `value`, the field's value. BadInput names why it is not
// a time; `field` is the path for the message.
Result<int64_t> EventTimeOf(simdjson::dom::element value, TimeUnit unit, std::string_view field);

// BadInput when `ms` (from `field`: a path, "timestamp", "ts") is beyond
// +-kMaxEventTime.
Result<int64_t> CheckEventTime(int64_t ms, std::string_view field);

}  // namespace kpipe
