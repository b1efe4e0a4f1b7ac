// Byte-level JSON text helpers: string escaping and unescaping, base64, UTF-8
// checks, and a reusable validator. All functions append to a caller-owned
// std::string so that hot loops reuse one buffer. Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace kpipe::json {

// Whether the `n` bytes at `a` and at `b` are equal: up to 16 by two loads
// each, which may overlap, rather than a call to memcmp (for short keys,
// compared once a record or more).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  auto same = [](const char* x, const char* y, size_t w) {
    uint64_t u = 0, v = 0;
    std::memcpy(&u, x, w);
    std::memcpy(&v, y, w);
    return u == v;
  };
  if (n > 16) return std::memcmp(a, b, n) == 0;
  if (n >= 8) return same(a, b, 8) && same(a + n - 8, b + n - 8, 8);
  if (n >= 4) return same(a, b, 4) && same(a + n - 4, b + n - 4, 4);
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

// Appends the compact JSON text of `v`, as group and join keys are
// written (and kproduce -k keys a message): strings escaped by
// AppendQuoted, numbers by their value (1, 1.0 and 1e0 give 1; 100.5 and
// 1.005e2 give 100.5; -0.0 gives 0), arrays and objects of these, at any depth.
void AppendCompact(std::string* out, simdjson::dom::element v);
// Appends a double in shortest round-trip form (-0.0 as 0); null when not
// finite.
void AppendDouble(std::string* out, double d);

// Appends `s` as a JSON string literal (with quotes): '"' and '\\' escaped,
// \b \f \n \r \t, other control characters as \u00xx; with `escape_del`
// DEL too, as jq writes strings (kjq). REQUIRES: s is UTF-8.
void AppendQuoted(std::string* out, std::string_view s, bool escape_del = false);

// Decodes the JSON string literal `lit` (quotes included, as it appears in
// valid JSON) into `out` (replacing its content). Returns false on a
// malformed escape.
bool Unquote(std::string_view lit, std::string* out);
// The name of an object member from its literal (quotes included, as
// ObjectReader gives it), escapes read as simdjson reads them: "val\u0075e"
// is value. Without a backslash, a view of `literal`; else unescaped into
// `*buf`. Empty when the literal is malformed.
std::string_view MemberName(std::string_view literal, std::string* buf);

void AppendBase64(std::string* out, std::string_view bytes);
// Replaces `out` with the decoded bytes; false when `b64` is not base64.
bool DecodeBase64(std::string_view b64, std::string* out);

bool IsUtf8(std::string_view s);

// True when a message key `key` names the JSON value whose compact text is
// `compact`: it is that text ("u1", 3), or, for a string without escapes,
// its characters (u1). The rule that keeps a group's or a join key's records
// on one partition (kpipe(7), SCALING).
inline bool KeyNamesValue(std::string_view key, std::string_view compact) {
  if (key == compact) return true;
  return compact.size() >= 2 && compact.front() == '"' && compact.find('\\') == std::string_view::npos &&
         key == compact.substr(1, compact.size() - 2);
}

// True when `s` holds a CR or LF byte.
bool HasLineBreak(std::string_view s);

// The tokens of JSON text, for a text simdjson refused for its numbers
// alone. Calls `token(kind, text)` for each, in order: a string with its
// quotes, a number (checked against JSON's grammar), a literal (true, false,
// null), or one other byte (a bracket, ',', ':', whitespace). False at the
// first byte that starts none of these (jq also reads "012", ".5", "+5",
// "nan"): the text is not JSON. Brackets are not matched; the caller has
// the text parsed as well.
enum class JsonToken { kString, kNumber, kLiteral, kOther };
bool ForEachToken(std::string_view t, const std::function<void(JsonToken, std::string_view)>& token);

// True when `s` holds a space, a tab or a CR: JSON text of one line without
// any is compact (JSON's fourth whitespace, LF, ends the line).
bool HasBlank(std::string_view s);

// Validates JSON documents with simdjson's DOM parser (full validation,
// including UTF-8), copying each input into one reused padded buffer.
// A number simdjson cannot hold (an integer beyond 64 bits, a double past
// the largest) is valid JSON all the same: such a text is parsed with each
// of those numbers as the nearest double (past the largest, the largest),
// as jq reads it; the element then holds those doubles.
class Validator {
 public:
  // True when `s` is exactly one valid JSON value (whitespace around allowed).
  bool Valid(std::string_view s);
  // Parses `s`; on success `*elem` stays valid until the next call.
  // `padded` says that SIMDJSON_PADDING readable bytes follow `s`.
  simdjson::error_code Parse(std::string_view s, simdjson::dom::element* elem,
                             bool padded = false);
  // Whether the last Parse read numbers as the nearest doubles (above).
  bool rewrote() const { return rewrote_; }

 private:
  simdjson::dom::parser parser_;
  std::string buf_;
  std::string numbers_;  // a text with its numbers rewritten, padded
  bool rewrote_ = false;
};

}  // namespace kpipe::json
