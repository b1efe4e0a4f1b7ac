#include "kpipe/json/path.h"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace kpipe::json {

namespace {

long long IndexOf(std::string_view s) {
  if (s.empty() || s.size() > 18) return -1;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Whether two keys are equal: short ones by two loads each, which may
// overlap, rather than by a call to memcmp, which simdjson's at_key makes
// for every key of the same length it passes.
bool SameKey(std::string_view a, std::string_view b) {
  size_t n = a.size();
  if (n != b.size()) return false;
  auto same = [](const char* x, const char* y, size_t w) {
    uint64_t u = 0, v = 0;
    std::memcpy(&u, x, w);
    std::memcpy(&v, y, w);
    return u == v;
  };
  const char* x = a.data();
  const char* y = b.data();
  if (n > 16) return std::memcmp(x, y, n) == 0;
  if (n >= 8) return same(x, y, 8) && same(x + n - 8, y + n - 8, 8);
  if (n >= 4) return same(x, y, 4) && same(x + n - 4, y + n - 4, 4);
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return false;
  return true;
}

}  // namespace

Result<FieldPath> FieldPath::Parse(std::string_view text) {
  FieldPath p;
  if (text.empty()) return Status::Usage("empty field path");
  if (text[0] == '/') {
    p.text_ = std::string(text);
    size_t i = 1;
    for (;;) {
      size_t j = text.find('/', i);
      std::string_view raw = text.substr(i, j == std::string_view::npos ? j : j - i);
      Step st;
      for (size_t k = 0; k < raw.size(); k++) {
        if (raw[k] == '~' && k + 1 < raw.size() && (raw[k + 1] == '0' || raw[k + 1] == '1')) {
          st.key.push_back(raw[k + 1] == '0' ? '~' : '/');
          k++;
        } else {
          st.key.push_back(raw[k]);
        }
      }
      st.index = IndexOf(st.key);
      p.steps_.push_back(std::move(st));
      if (j == std::string_view::npos) break;
      i = j + 1;
    }
    return p;
  }
  if (text[0] == '.') text.remove_prefix(1);
  p.text_ = std::string(text);
  if (text.empty()) return Status::Usage("empty field path '.'");
  size_t i = 0;
  for (;;) {
    size_t j = text.find('.', i);
    std::string_view raw = text.substr(i, j == std::string_view::npos ? j : j - i);
    if (raw.empty()) return Status::Usage(fmt::format("invalid field path '{}': empty step", text));
    p.steps_.push_back(Step{std::string(raw), IndexOf(raw)});
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return p;
}

bool FieldPath::Lookup(simdjson::dom::element root, simdjson::dom::element* out) const {
  simdjson::dom::element cur = root;
  for (const Step& st : steps_) {
    if (cur.is_object()) {
      // The first member of that key, as at_key would find it.
      bool found = false;
      simdjson::dom::object object = cur.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair member : object) {
        if (SameKey(member.key, st.key)) {
          cur = member.value;
          found = true;
          break;
        }
      }
      if (!found) return false;
    } else if (cur.is_array() && st.index >= 0) {
      if (cur.get_array().at(st.index).get(cur) != simdjson::SUCCESS) return false;
    } else {
      return false;
    }
  }
  if (cur.is_null()) return false;
  *out = cur;
  return true;
}

}  // namespace kpipe::json
