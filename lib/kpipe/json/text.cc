#include "kpipe/json/text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <fmt/compile.h>
#include <fmt/format.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace kpipe::json {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// 1 where a byte needs escaping inside a JSON string.
struct EscapeTable {
  bool need[256] = {};
  constexpr explicit EscapeTable(bool del) {
    for (int i = 0; i < 0x20; i++) need[i] = true;
    need[static_cast<unsigned char>('"')] = true;
    need[static_cast<unsigned char>('\\')] = true;
    need[0x7f] = del;
  }
};
constexpr EscapeTable kEscape(false), kEscapeDel(true);

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int B64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// `s`, into `*out`, with each number that simdjson cannot hold (an integer
// beyond 64 bits, a double past the largest) written as the nearest double
// it can, the largest past it. False when `s` is not JSON (ForEachToken).
bool RewriteNumbers(std::string_view s, std::string* out) {
  out->clear();
  return ForEachToken(s, [&](JsonToken kind, std::string_view text) {
    if (kind != JsonToken::kNumber) {
      out->append(text);
      return;
    }
    std::string number(text);
    bool fits;
    if (number.find_first_of(".eE") == std::string::npos) {
      int64_t v;
      uint64_t u;
      fits = std::from_chars(text.begin(), text.end(), v).ec == std::errc() ||
             std::from_chars(text.begin(), text.end(), u).ec == std::errc();
    } else {
      fits = std::isfinite(std::strtod(number.c_str(), nullptr));
    }
    if (fits) {
      out->append(text);
      return;
    }
    double d = std::strtod(number.c_str(), nullptr);  // ±HUGE_VAL past the largest
    if (!std::isfinite(d)) d = std::copysign(std::numeric_limits<double>::max(), d);
    fmt::format_to(std::back_inserter(*out), "{}", d);
  });
}

}  // namespace

void AppendQuoted(std::string* out, std::string_view s, bool escape_del) {
  const EscapeTable& table = escape_del ? kEscapeDel : kEscape;
  size_t clean = 0;
  while (clean < s.size() && !table.need[static_cast<unsigned char>(s[clean])]) clean++;
  if (clean == s.size()) {  // the usual case: one resize, one copy
    size_t at = out->size();
    out->resize(at + s.size() + 2);
    char* p = out->data() + at;
    p[0] = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    return;
  }
  out->push_back('"');
  size_t start = 0;
  for (size_t i = clean; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!table.need[c]) continue;
    out->append(s.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(esc, 6);
      }
    }
  }
  out->append(s.data() + start, s.size() - start);
  out->push_back('"');
}

std::string_view MemberName(std::string_view literal, std::string* buf) {
  if (literal.size() < 2) return {};
  std::string_view inside = literal.substr(1, literal.size() - 2);
  if (inside.find('\\') == std::string_view::npos) return inside;
  return Unquote(literal, buf) ? std::string_view(*buf) : std::string_view();
}

bool Unquote(std::string_view lit, std::string* out) {
  out->clear();
  if (lit.size() < 2 || lit.front() != '"' || lit.back() != '"') return false;
  std::string_view s = lit.substr(1, lit.size() - 2);
  size_t i = 0;
  while (i < s.size()) {
    const char* bs = static_cast<const char*>(std::memchr(s.data() + i, '\\', s.size() - i));
    size_t end = bs ? static_cast<size_t>(bs - s.data()) : s.size();
    out->append(s.data() + i, end - i);
    if (!bs) break;
    i = end + 1;
    if (i >= s.size()) return false;
    char e = s[i++];
    switch (e) {
      case '"': out->push_back('"'); break;
      case '\\': out->push_back('\\'); break;
      case '/': out->push_back('/'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        auto hex4 = [&](uint32_t* v) {
          if (i + 4 > s.size()) return false;
          *v = 0;
          for (int k = 0; k < 4; k++) {
            int h = HexValue(s[i + k]);
            if (h < 0) return false;
            *v = *v * 16 + h;
          }
          i += 4;
          return true;
        };
        uint32_t cp;
        if (!hex4(&cp)) return false;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
          size_t save = i;
          i += 2;
          uint32_t lo;
          if (hex4(&lo) && lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            i = save;
          }
        }
        AppendUtf8(out, cp);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

void AppendBase64(std::string* out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    char q[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
    out->append(q, 4);
  }
  if (i + 1 == n) {
    uint32_t v = p[i] << 16;
    char q[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], '=', '='};
    out->append(q, 4);
  } else if (i + 2 == n) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    char q[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
    out->append(q, 4);
  }
}

bool DecodeBase64(std::string_view b64, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char ch : b64) {
    if (ch == '=') {
      pad++;
      continue;
    }
    if (pad) return false;  // data after padding
    int v = B64Value(static_cast<unsigned char>(ch));
    if (v < 0) return false;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return pad <= 2 && bits < 6;
}

bool IsUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

bool HasLineBreak(std::string_view s) {
  return std::memchr(s.data(), '\n', s.size()) || std::memchr(s.data(), '\r', s.size());
}

bool HasBlank(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size(), i = 0;
#ifdef __SSE2__
  // 16 bytes a step; a line of a record is a few of them.
  const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), cr = _mm_set1_epi8('\r');
  auto blank = [&](const char* at) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, tab)), _mm_cmpeq_epi8(v, cr));
    return _mm_movemask_epi8(hit) != 0;
  };
  if (n >= 16) {  // the last 16 bytes may overlap the step before
    for (; i + 16 <= n; i += 16)
      if (blank(p + i)) return true;
    return i < n && blank(p + n - 16);
  }
#endif
  for (; i < n; i++)
    if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r') return true;
  return false;
}

bool ForEachToken(std::string_view t, const std::function<void(JsonToken, std::string_view)>& token) {
  auto digit = [&](size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  size_t i = 0;
  while (i < t.size()) {
    size_t start = i;
    char c = t[i];
    if (c == '"') {
      for (i++; i < t.size() && t[i] != '"'; i++)
        if (t[i] == '\\') i++;
      i = std::min(i + 1, t.size());
      token(JsonToken::kString, t.substr(start, i - start));
    } else if (c == '-' || digit(i)) {
      if (c == '-') i++;
      if (!digit(i)) return false;
      if (t[i] == '0') i++;
      else while (digit(i)) i++;
      if (digit(i)) return false;  // a leading zero
      if (i < t.size() && t[i] == '.') {
        if (!digit(++i)) return false;
        while (digit(i)) i++;
      }
      if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < t.size() && (t[i] == '+' || t[i] == '-')) i++;
        if (!digit(i)) return false;
        while (digit(i)) i++;
      }
      token(JsonToken::kNumber, t.substr(start, i - start));
    } else if (c == 't' || c == 'f' || c == 'n') {
      std::string_view word = c == 't' ? "true" : c == 'f' ? "false" : "null";
      if (t.substr(i, word.size()) != word) return false;
      i += word.size();
      token(JsonToken::kLiteral, word);
    } else if (std::strchr("{}[],: \t\r\n", c) && c != '\0') {
      i++;
      token(JsonToken::kOther, t.substr(start, 1));
    } else {
      return false;
    }
  }
  return true;
}

bool Validator::Valid(std::string_view s) {
  simdjson::dom::element e;
  return Parse(s, &e) == simdjson::SUCCESS;
}

simdjson::error_code Validator::Parse(std::string_view s, simdjson::dom::element* elem,
                                      bool padded) {
  const char* p = s.data();
  if (!padded) {
    if (buf_.size() < s.size() + simdjson::SIMDJSON_PADDING)
      buf_.resize(s.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(buf_.data(), s.data(), s.size());
    p = buf_.data();
  }
  rewrote_ = false;
  simdjson::error_code err = parser_.parse(p, s.size(), false).get(*elem);
  if (err != simdjson::NUMBER_ERROR || !RewriteNumbers(s, &numbers_)) return err;
  size_t n = numbers_.size();
  numbers_.append(simdjson::SIMDJSON_PADDING, '\0');
  if (parser_.parse(numbers_.data(), n, false).get(*elem) != simdjson::SUCCESS) return err;
  rewrote_ = true;
  return simdjson::SUCCESS;
}

void AppendDouble(std::string* out, double d) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  if (d == 0) d = 0;  // -0.0 as 0, as AppendCompact writes it
  // Compiled, into a buffer: no format string read for each value.
  char buf[32];
  out->append(buf, fmt::format_to(buf, FMT_COMPILE("{}"), d));
}

void AppendCompact(std::string* out, simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      AppendQuoted(out, std::string_view(v.get_string().value_unsafe()));
      return;
    case simdjson::dom::element_type::INT64: {
      fmt::format_int n(v.get_int64().value_unsafe());
      out->append(n.data(), n.size());
      return;
    }
    case simdjson::dom::element_type::UINT64: {
      fmt::format_int n(v.get_uint64().value_unsafe());
      out->append(n.data(), n.size());
      return;
    }
    case simdjson::dom::element_type::DOUBLE: {
      // -0.0 is 0, as the integer -0 is: one group, key and partition.
      AppendDouble(out, v.get_double().value_unsafe());
      return;
    }
    case simdjson::dom::element_type::BOOL:
      out->append(v.get_bool().value_unsafe() ? "true" : "false");
      return;
    case simdjson::dom::element_type::NULL_VALUE:
      out->append("null");
      return;
    // Members and elements as a top-level value is written: [1.0] is [1].
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array a;
      if (v.get_array().get(a) != simdjson::SUCCESS) break;  // (the type says it is one)
      out->push_back('[');
      bool first = true;
      for (simdjson::dom::element e : a) {
        if (!first) out->push_back(',');
        first = false;
        AppendCompact(out, e);
      }
      out->push_back(']');
      return;
    }
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS) break;
      out->push_back('{');
      bool first = true;
      for (simdjson::dom::key_value_pair m : o) {
        if (!first) out->push_back(',');
        first = false;
        AppendQuoted(out, m.key);
        out->push_back(':');
        AppendCompact(out, m.value);
      }
      out->push_back('}');
      return;
    }
  }
  out->append(simdjson::to_string(v));  // (no other type)
}

}  // namespace kpipe::json
