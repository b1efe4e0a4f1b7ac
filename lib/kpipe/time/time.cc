#include "kpipe/time/time.h"

#include <charconv>
#include <chrono>

#include <fmt/format.h>

namespace kpipe {

namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
// (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text, bool allow_negative) {
  std::string_view s = text;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    if (neg && !allow_negative)
      return Status::Usage(fmt::format("invalid duration '{}': must not be negative", text));
    s.remove_prefix(1);
  }
  if (s.empty()) return Status::Usage(fmt::format("invalid duration '{}'", text));
  // In nanoseconds, exactly: 1.001s is 1001 ms and 0.7d 60480000 ms, where
  // doubles made them a millisecond less. What each part has below a
  // nanosecond is kept too, in units of 10^-18 ns, for the rounding.
  constexpr __int128 kE18 = static_cast<__int128>(1'000'000'000) * 1'000'000'000;
  __int128 total = 0, below = 0;
  bool beyond = false;  // digits past 18 places that are not zero
  constexpr __int128 kMax = static_cast<__int128>(kMaxDuration) * 1'000'000;
  auto too_long = [&] {
    return Status::Usage(fmt::format("invalid duration '{}': longer than 36 million years", text));
  };
  while (!s.empty()) {
    size_t i = 0;
    __int128 whole = 0, frac = 0, scale = 1;
    bool digits = false, point = false;
    for (; i < s.size() && ((s[i] >= '0' && s[i] <= '9') || (s[i] == '.' && !point)); i++) {
      if (s[i] == '.') {
        point = true;
        continue;
      }
      digits = true;
      int d = s[i] - '0';
      if (!point) {
        whole = whole * 10 + d;
        if (whole > kMax) return too_long();
      } else if (scale < kE18) {
        frac = frac * 10 + d;
        scale *= 10;
      } else {
        beyond = beyond || d != 0;
      }
    }
    if (!digits) return Status::Usage(fmt::format("invalid duration '{}'", text));
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) j++;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    int64_t ns;
    if (unit == "ms") ns = 1'000'000;
    else if (unit == "s") ns = 1'000'000'000;
    else if (unit == "m") ns = 60'000'000'000;
    else if (unit == "h") ns = 3'600'000'000'000;
    else if (unit == "d") ns = 86'400'000'000'000;
    else if (unit == "us") ns = 1'000;
    else if (unit == "ns") ns = 1;
    else
      return Status::Usage(fmt::format(
          "invalid duration '{}': {} (units: ms, s, m, h, d; e.g. 250ms, 1h30m)", text,
          unit.empty() ? (s.empty() || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')
                              ? std::string("missing unit")
                              : fmt::format("unexpected '{}'", s.substr(0, 1)))
                       : fmt::format("unknown unit '{}'", unit)));
    total += whole * ns + frac * ns / scale;
    below += frac * ns % scale * (kE18 / scale);
    total += below / kE18;
    below %= kE18;
    // Durations are bounded (2^60 ms, 36 million years) so that time
    // arithmetic on event times (bounded by kMaxEventTime) cannot overflow.
    if (total > kMax) return too_long();
  }
  // Rounded down to whole milliseconds (-1500us is -2ms, -0.5ns is -1ms).
  __int128 ms = total / 1'000'000;
  if (neg && (total % 1'000'000 != 0 || below != 0 || beyond)) ms++;
  return static_cast<int64_t>(neg ? -ms : ms);
}

Result<int64_t> ParseRfc3339(std::string_view s) {
  auto bad = [&] { return Status::BadInput(fmt::format("invalid RFC 3339 time '{}'", s)); };
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d))
    return bad();
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && leap)) return bad();  // 2024-02-31
  size_t i = 10;
  int64_t frac_ms = 0;
  int64_t offset_min = 0;
  if (i < s.size()) {
    if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return bad();
    if (!Digits(s, i + 1, 2, &h) || s.size() < i + 6 || s[i + 3] != ':' ||
        !Digits(s, i + 4, 2, &mi))
      return bad();
    i += 6;
    if (i < s.size() && s[i] == ':') {
      if (!Digits(s, i + 1, 2, &sec)) return bad();
      i += 3;
    }
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      i++;
      int n = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (n < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
        n++;
        i++;
      }
      if (n == 0) return bad();
      for (int k = n; k < 3; k++) frac_ms *= 10;
    }
    if (i < s.size()) {
      if (s[i] == 'Z' || s[i] == 'z') {
        i++;
      } else if (s[i] == '+' || s[i] == '-') {
        int oh, om = 0;
        if (!Digits(s, i + 1, 2, &oh)) return bad();
        size_t k = i + 3;
        if (k < s.size() && s[k] == ':') k++;
        if (k < s.size()) {
          if (!Digits(s, k, 2, &om)) return bad();
          k += 2;
        }
        if (oh > 23 || om > 59) return bad();  // +99:99
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i = k;
      } else {
        return bad();
      }
    }
    if (i != s.size()) return bad();
    if (h > 23 || mi > 59 || sec > 60) return bad();
  }
  int64_t days = DaysFromCivil(y, mo, d);
  return ((days * 24 + h) * 60 + mi - offset_min) * 60'000 + sec * 1000LL + frac_ms;
}

Result<int64_t> ParseTimePoint(std::string_view text, int64_t now_ms) {
  if (text == "now") return now_ms;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    auto d = ParseDuration(text, true);
    if (!d.ok()) return d.status();
    return now_ms + *d;
  }
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t v;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec == std::errc() && p == text.data() + text.size()) return v;
  }
  auto t = ParseRfc3339(text);
  if (!t.ok())
    return Status::Usage(fmt::format(
        "invalid time '{}' (use RFC 3339, epoch milliseconds, or relative like -1h)", text));
  return t;
}

std::string FormatRfc3339(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86'400'000 : -((-ms + 86'399'999) / 86'400'000);
  int64_t rem = ms - days * 86'400'000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", y, m, d, rem / 3'600'000,
                     rem / 60'000 % 60, rem / 1000 % 60, rem % 1000);
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kpipe
