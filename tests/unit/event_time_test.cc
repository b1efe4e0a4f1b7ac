#include "kpipe/time/event_time.h"

#include <catch2/catch.hpp>

using namespace kpipe;

namespace {
Result<int64_t> At(const char* json, TimeUnit unit = TimeUnit::kMillis) {
  static simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(std::string_view(json));
  return EventTimeOf(e, unit, "ts");
}
}  // namespace

TEST_CASE("Event times in every unit, floored to milliseconds") {
  CHECK(*At("1732441200123") == 1732441200123);
  CHECK(*At("1732441200", TimeUnit::kSeconds) == 1732441200000);
  CHECK(*At("1732441200.5", TimeUnit::kSeconds) == 1732441200500);
  CHECK(*At("1732441200123999", TimeUnit::kMicros) == 1732441200123);
  CHECK(*At("1732441200123999999", TimeUnit::kNanos) == 1732441200123);
  CHECK(*At("-1", TimeUnit::kMicros) == -1);  // floor, not truncation
  CHECK(*At("-1500", TimeUnit::kMicros) == -2);
  CHECK(*At("12.9") == 12);
  CHECK(*At("-12.1") == -13);
  CHECK(*At("\"2026-11-24T10:00:00.123Z\"") == 1795514400123);
  // The decimal as written, scaled exactly: 1.001 * 1000 in doubles is
  // 1000.9999999999999.
  CHECK(*At("1.001", TimeUnit::kSeconds) == 1001);
  CHECK(*At("1732441200.123", TimeUnit::kSeconds) == 1732441200123);
  CHECK(*At("-17074812.736", TimeUnit::kSeconds) == -17074812736);
  CHECK(*At("-0.0005", TimeUnit::kSeconds) == -1);
  CHECK(*At("1.5e-3", TimeUnit::kSeconds) == 1);
  CHECK(*At("1e3", TimeUnit::kSeconds) == 1'000'000);
  CHECK(*At("1500.7", TimeUnit::kMicros) == 1);
  CHECK(*At("-0.0", TimeUnit::kSeconds) == 0);
  CHECK(*At("-1e-40", TimeUnit::kSeconds) == -1);
  CHECK(*At("-5e-324") == -1);
  CHECK(*At("1e-40", TimeUnit::kSeconds) == 0);
  CHECK(*At("1.999999999999999e18", TimeUnit::kMicros) == 1999999999999999);  // shortest digits, not the double's
  // Beyond int64, in microseconds: exact, not through a double.
  CHECK(*At("18446744073709551615", TimeUnit::kMicros) == 18446744073709551);
}

TEST_CASE("Ill-typed event times are bad input with a reason") {
  CHECK(At("true").status().Is(Status::Code::kBadInput));
  CHECK(At("{\"a\":1}").status().message().find("not a number or an RFC 3339 string") != std::string::npos);
  CHECK(At("\"soon\"").status().message().find("event time 'ts'") != std::string::npos);
  CHECK(At("9223372036854775807", TimeUnit::kSeconds).status().Is(Status::Code::kBadInput));
  CHECK(At("1e300").status().Is(Status::Code::kBadInput));
  CHECK(At("9223372036854775808").status().message().find("more than 146 million years") != std::string::npos);
  CHECK(ParseTimeUnit("us").ok());
  CHECK_FALSE(ParseTimeUnit("min").ok());
}
