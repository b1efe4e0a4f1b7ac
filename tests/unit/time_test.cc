#include "kpipe/time/time.h"

#include <catch2/catch.hpp>

using namespace kpipe;

TEST_CASE("ParseDuration") {
  CHECK(*ParseDuration("250ms") == 250);
  CHECK(*ParseDuration("10s") == 10'000);
  CHECK(*ParseDuration("5m") == 300'000);
  CHECK(*ParseDuration("1h30m") == 5'400'000);
  CHECK(*ParseDuration("2d") == 172'800'000);
  CHECK(*ParseDuration("1.5s") == 1'500);
  CHECK(*ParseDuration("-5m", true) == -300'000);
  CHECK_FALSE(ParseDuration("-5m").ok());
  CHECK_FALSE(ParseDuration("5").ok());
  CHECK_FALSE(ParseDuration("5x").ok());
  CHECK_FALSE(ParseDuration("").ok());
  CHECK_FALSE(ParseDuration("m").ok());
  // Decimals exactly, not through doubles (which made each of these 1 ms less).
  CHECK(*ParseDuration("1.001s") == 1'001);
  CHECK(*ParseDuration("1.001m") == 60'060);
  CHECK(*ParseDuration("0.7d") == 60'480'000);
  CHECK(*ParseDuration("0.1s") == 100);
  CHECK(*ParseDuration(".5s") == 500);
  CHECK(*ParseDuration("9223372036854775ms") == 9'223'372'036'854'775);
  CHECK(*ParseDuration("1.0000000000000000000000009s") == 1'000);
  // Rounded down to milliseconds, negative ones too.
  CHECK(*ParseDuration("1500us") == 1);
  CHECK(*ParseDuration("-1500us", true) == -2);
  CHECK(*ParseDuration("-1ns", true) == -1);
  CHECK(*ParseDuration("999999ns") == 0);
  CHECK(*ParseDuration("-0.5ns", true) == -1);
  CHECK(*ParseDuration("-1000000.5ns", true) == -2);
  CHECK(*ParseDuration("-1.00000000000000000000001ms", true) == -2);
  CHECK(*ParseDuration("0.0009999999995s0.0000000005s") == 1);  // what is below a nanosecond adds up
  // At most 2^60 ms.
  CHECK(*ParseDuration("1152921504606846976ms") == int64_t{1} << 60);
  CHECK_FALSE(ParseDuration("1152921504606846977ms").ok());
  CHECK_FALSE(ParseDuration("99999999999999999999999999999999999999999d").ok());
  CHECK(ParseDuration("1H").status().message().find("unknown unit 'H'") != std::string::npos);
  CHECK(ParseDuration("1_000ms").status().message().find("unexpected '_'") != std::string::npos);
  CHECK_FALSE(ParseDuration("1.2.3s").ok());
  CHECK_FALSE(ParseDuration("5.").ok());
  CHECK_FALSE(ParseDuration(".s").ok());
}

TEST_CASE("ParseRfc3339") {
  CHECK(*ParseRfc3339("1970-01-01T00:00:00Z") == 0);
  CHECK(*ParseRfc3339("2026-11-24T10:00:00.123Z") == 1795514400123);
  CHECK(*ParseRfc3339("2026-11-24T11:00:00.123+01:00") == 1795514400123);
  CHECK(*ParseRfc3339("2026-11-24T05:30:00.123-04:30") == 1795514400123);
  CHECK(*ParseRfc3339("2026-11-24 10:00:00.123456Z") == 1795514400123);
  CHECK(*ParseRfc3339("2026-11-24") == 1795478400000);
  CHECK(*ParseRfc3339("1969-12-31T23:59:59.999Z") == -1);
  CHECK_FALSE(ParseRfc3339("2026-13-01").ok());
  CHECK_FALSE(ParseRfc3339("2026-11-24T10").ok());
  CHECK_FALSE(ParseRfc3339("2026-11-24T10:00:00Zjunk").ok());
  CHECK_FALSE(ParseRfc3339("yesterday").ok());
}

TEST_CASE("FormatRfc3339 inverts ParseRfc3339") {
  for (int64_t ms : {int64_t{0}, int64_t{-1}, int64_t{1795514400123}, int64_t{-86'400'001},
                     int64_t{951782400000} /* 2000-02-29 */}) {
    CHECK(*ParseRfc3339(FormatRfc3339(ms)) == ms);
  }
  CHECK(FormatRfc3339(1795514400123) == "2026-11-24T10:00:00.123Z");
}

TEST_CASE("ParseTimePoint: absolute, epoch ms and relative") {
  const int64_t now = 1'000'000'000;
  CHECK(*ParseTimePoint("-1h", now) == now - 3'600'000);
  CHECK(*ParseTimePoint("+5m", now) == now + 300'000);
  CHECK(*ParseTimePoint("now", now) == now);
  CHECK(*ParseTimePoint("1732441200123", now) == 1732441200123);
  CHECK(*ParseTimePoint("2026-11-24T10:00:00.123Z", now) == 1795514400123);
  CHECK_FALSE(ParseTimePoint("soon", now).ok());
}

TEST_CASE("ParseRfc3339 refuses impossible dates and offsets") {
  CHECK(ParseRfc3339("2024-02-29T00:00:00Z").ok());   // a leap year
  CHECK_FALSE(ParseRfc3339("2023-02-29T00:00:00Z").ok());
  CHECK_FALSE(ParseRfc3339("2024-02-31T00:00:00Z").ok());
  CHECK_FALSE(ParseRfc3339("2024-04-31").ok());
  CHECK(ParseRfc3339("2000-02-29").ok());             // divisible by 400
  CHECK_FALSE(ParseRfc3339("1900-02-29").ok());       // by 100, not 400
  CHECK(ParseRfc3339("2024-01-01T00:00:00+23:59").ok());
  CHECK_FALSE(ParseRfc3339("2024-01-01T00:00:00+24:00").ok());
  CHECK_FALSE(ParseRfc3339("2024-01-01T00:00:00+99:99").ok());
  CHECK_FALSE(ParseRfc3339("2024-01-01T00:00:00-01:60").ok());
}
