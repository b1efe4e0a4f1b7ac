#include "kpipe/json/scan.h"

namespace kpipe::json {

namespace {

std::string_view SkipWs(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  return s.substr(i);
}

// Index one past the closing quote of the string starting at s[0] == '"'.
size_t StringEnd(std::string_view s) {
  for (size_t i = 1; i < s.size(); i++) {
    if (s[i] == '\\') {
      i++;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

bool NextValue(std::string_view s, std::string_view* value, std::string_view* rest) {
  s = SkipWs(s);
  if (s.empty()) return false;
  size_t end;
  char c = s[0];
  if (c == '"') {
    end = StringEnd(s);
    if (end == std::string_view::npos) return false;
  } else if (c == '{' || c == '[') {
    int depth = 0;
    end = std::string_view::npos;
    for (size_t i = 0; i < s.size(); i++) {
      char d = s[i];
      if (d == '"') {
        size_t e = StringEnd(s.substr(i));
        if (e == std::string_view::npos) return false;
        i += e - 1;
      } else if (d == '{' || d == '[') {
        depth++;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) {
          end = i + 1;
          break;
        }
      }
    }
    if (end == std::string_view::npos) return false;
  } else {
    end = 0;
    while (end < s.size() && s[end] != ',' && s[end] != '}' && s[end] != ']' && s[end] != ' ' &&
           s[end] != '\t' && s[end] != '\n' && s[end] != '\r')
      end++;
    if (end == 0) return false;
  }
  *value = s.substr(0, end);
  *rest = s.substr(end);
  return true;
}

ObjectReader::ObjectReader(std::string_view text) {
  text = SkipWs(text);
  if (text.empty() || text[0] != '{') {
    ok_ = false;
    return;
  }
  rest_ = text.substr(1);
}

bool ObjectReader::Next(std::string_view* key, std::string_view* value) {
  if (!ok_) return false;
  rest_ = SkipWs(rest_);
  if (rest_.empty()) return ok_ = false;
  if (rest_[0] == '}') return false;
  if (!first_) {
    if (rest_[0] != ',') return ok_ = false;
    rest_ = SkipWs(rest_.substr(1));
  }
  first_ = false;
  if (rest_.empty() || rest_[0] != '"') return ok_ = false;
  size_t e = StringEnd(rest_);
  if (e == std::string_view::npos) return ok_ = false;
  *key = rest_.substr(0, e);
  rest_ = SkipWs(rest_.substr(e));
  if (rest_.empty() || rest_[0] != ':') return ok_ = false;
  if (!NextValue(rest_.substr(1), value, &rest_)) return ok_ = false;
  return true;
}

ArrayReader::ArrayReader(std::string_view text) {
  text = SkipWs(text);
  if (text.empty() || text[0] != '[') {
    ok_ = false;
    return;
  }
  rest_ = text.substr(1);
}

bool ArrayReader::Next(std::string_view* value) {
  if (!ok_) return false;
  rest_ = SkipWs(rest_);
  if (rest_.empty()) return ok_ = false;
  if (rest_[0] == ']') return false;
  if (!first_) {
    if (rest_[0] != ',') return ok_ = false;
    rest_ = rest_.substr(1);
  }
  first_ = false;
  if (!NextValue(rest_, value, &rest_)) return ok_ = false;
  return true;
}

}  // namespace kpipe::json
