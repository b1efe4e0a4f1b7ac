#include "kpipe/json/path.h"

#include <fmt/format.h>

#include "kpipe/json/text.h"

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
      // The first member of that key, as at_key would find it, its keys
      // compared inline (at_key calls memcmp for each of the same length).
      bool found = false;
      simdjson::dom::object object = cur.get_object().value_unsafe();
      for (simdjson::dom::key_value_pair member : object) {
        if (member.key.size() == st.key.size() && SameBytes(member.key.data(), st.key.data(), st.key.size())) {
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
