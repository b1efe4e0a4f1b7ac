#include "kpipe/json/schema.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <vector>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe::json {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

bool IsNumber(element v) {
  auto t = v.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

double Number(element v) {
  switch (v.type()) {
    case element_type::INT64: return static_cast<double>(int64_t(v));
    case element_type::UINT64: return static_cast<double>(uint64_t(v));
    default: return double(v);
  }
}

bool IsInteger(element v) {
  if (v.type() == element_type::INT64 || v.type() == element_type::UINT64) return true;
  if (v.type() != element_type::DOUBLE) return false;
  double d = double(v);
  return std::isfinite(d) && std::floor(d) == d;
}

// The JSON Schema type name of a value ("integer" for whole numbers).
const char* TypeOf(element v) {
  switch (v.type()) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "boolean";
    case element_type::NULL_VALUE: return "null";
    default: return IsInteger(v) ? "integer" : "number";
  }
}

bool HasType(element v, std::string_view type) {
  std::string_view t = TypeOf(v);
  return t == type || (type == "number" && t == "integer");
}

// JSON equality: numbers by value (1 == 1.0), objects whatever their order.
bool Equal(element a, element b) {
  if (IsNumber(a) && IsNumber(b)) {
    if (a.type() != element_type::DOUBLE && b.type() == a.type())
      return a.type() == element_type::INT64 ? int64_t(a) == int64_t(b) : uint64_t(a) == uint64_t(b);
    return Number(a) == Number(b);
  }
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case element_type::STRING: return std::string_view(a) == std::string_view(b);
    case element_type::BOOL: return bool(a) == bool(b);
    case element_type::NULL_VALUE: return true;
    case element_type::ARRAY: {
      array x = a, y = b;
      if (x.size() != y.size()) return false;
      auto i = x.begin(), j = y.begin();
      for (; i != x.end(); ++i, ++j)
        if (!Equal(*i, *j)) return false;
      return true;
    }
    case element_type::OBJECT: {
      object x = a, y = b;
      if (x.size() != y.size()) return false;
      for (auto [k, v] : x) {
        element w;
        if (y.at_key(k).get(w) != simdjson::SUCCESS || !Equal(v, w)) return false;
      }
      return true;
    }
    default: return false;
  }
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// `v` as short JSON text for a message.
std::string Show(element v) {
  std::string s = simdjson::minify(v);
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

void PushKey(std::string& path, std::string_view key) {
  path.push_back('/');
  for (char c : key) {
    if (c == '~') path += "~0";
    else if (c == '/') path += "~1";
    else path.push_back(c);
  }
}

bool Fail(const std::string& path, std::string rule, std::string* why) {
  *why = fmt::format("{}: {}", path.empty() ? "(root)" : path, rule);
  return false;
}

bool Schemaish(element e) { return e.type() == element_type::OBJECT || e.type() == element_type::BOOL; }

// Decodes a JSON Pointer token of a URI fragment: %XX first, then ~1 and ~0.
std::string Token(std::string_view t) {
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; };
  std::string pct;
  for (size_t i = 0; i < t.size(); i++) {
    if (t[i] == '%' && i + 2 < t.size() && std::isxdigit(static_cast<unsigned char>(t[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(t[i + 2]))) {
      pct.push_back(static_cast<char>(hex(t[i + 1]) * 16 + hex(t[i + 2])));
      i += 2;
    } else {
      pct.push_back(t[i]);
    }
  }
  std::string out;
  for (size_t i = 0; i < pct.size(); i++) {
    if (pct[i] == '~' && i + 1 < pct.size() && (pct[i + 1] == '0' || pct[i + 1] == '1')) {
      out.push_back(pct[++i] == '0' ? '~' : '/');
    } else {
      out.push_back(pct[i]);
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Schema>> Schema::Parse(std::string_view text, const std::string& name) {
  std::unique_ptr<Schema> s(new Schema());
  s->name_ = name;
  element root;
  if (auto err = s->parser_.parse(text.data(), text.size()).get(root))
    return Status::Usage(fmt::format("schema {}: not JSON ({})", name, simdjson::error_message(err)));
  s->root_ = root;
  if (!Schemaish(root)) return Status::Usage(fmt::format("schema {}: a schema is an object or a boolean", name));
  KPIPE_RETURN_IF_ERROR(s->Prepare(root, name));
  return s;
}

// Walks the subschemas: anchors and patterns first, then every $ref must
// resolve (a second walk, since an anchor may follow its reference).
Status Schema::Prepare(element root, const std::string& name) {
  std::vector<std::string_view> refs;
  std::function<Status(element)> walk = [&](element s) -> Status {
    object o;
    if (s.get(o) != simdjson::SUCCESS) return Status::OK();
    std::string_view str;
    if (o["$id"].get(str) == simdjson::SUCCESS && !str.empty() && str[0] == '#') anchors_.emplace(str, s);
    if (o["$ref"].get(str) == simdjson::SUCCESS) refs.push_back(str);
    if (o["pattern"].get(str) == simdjson::SUCCESS && !Regex(str)) {
      try {
        regexes_.emplace(std::string(str), std::regex(std::string(str), std::regex::ECMAScript));
      } catch (const std::regex_error& e) {
        return Status::Usage(fmt::format("schema {}: pattern {}: {}", name, str, e.what()));
      }
    }
    for (const char* k : {"properties", "patternProperties", "definitions", "dependencies"}) {
      object m;
      if (o[k].get(m) != simdjson::SUCCESS) continue;
      for (auto [key, sub] : m) {
        if (std::string_view(k) == "patternProperties" && !Regex(key)) {
          try {
            regexes_.emplace(std::string(key), std::regex(std::string(key), std::regex::ECMAScript));
          } catch (const std::regex_error& e) {
            return Status::Usage(fmt::format("schema {}: patternProperties {}: {}", name, key, e.what()));
          }
        }
        KPIPE_RETURN_IF_ERROR(walk(sub));
      }
    }
    for (const char* k : {"additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if",
                          "then", "else", "items"}) {
      element sub;
      if (o[k].get(sub) == simdjson::SUCCESS) KPIPE_RETURN_IF_ERROR(walk(sub));
    }
    for (const char* k : {"allOf", "anyOf", "oneOf", "items"}) {
      array a;
      if (o[k].get(a) != simdjson::SUCCESS) continue;
      for (element sub : a) KPIPE_RETURN_IF_ERROR(walk(sub));
    }
    return Status::OK();
  };
  KPIPE_RETURN_IF_ERROR(walk(root));
  for (std::string_view r : refs) {
    element target;
    if (!Resolve(r, &target))
      return Status::Usage(fmt::format("schema {}: $ref {} names nothing in this schema (kpipe reads no other "
                                       "schema document)", name, r));
  }
  return Status::OK();
}

const std::regex* Schema::Regex(std::string_view pattern) const {
  auto it = regexes_.find(pattern);
  return it == regexes_.end() ? nullptr : &it->second;
}

bool Schema::Resolve(std::string_view ref, element* out) const {
  if (ref.empty() || ref[0] != '#') return false;
  if (ref.size() > 1 && ref[1] != '/') {
    auto it = anchors_.find(ref);
    if (it == anchors_.end()) return false;
    *out = it->second;
    return true;
  }
  element at = root_;
  std::string_view rest = ref.substr(1);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // '/'
    size_t slash = rest.find('/');
    std::string token = Token(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (at.type() == element_type::OBJECT) {
      if (object(at).at_key(token).get(at) != simdjson::SUCCESS) return false;
    } else if (at.type() == element_type::ARRAY) {
      char* end;
      unsigned long i = std::strtoul(token.c_str(), &end, 10);
      if (token.empty() || *end || array(at).at(i).get(at) != simdjson::SUCCESS) return false;
    } else {
      return false;
    }
  }
  if (!Schemaish(at)) return false;
  *out = at;
  return true;
}

bool Schema::Validate(element value, std::string* why) const {
  std::string path;
  return Check(root_, value, path, why);
}

bool Schema::Check(element s, element v, std::string& path, std::string* why) const {
  if (s.type() == element_type::BOOL) return bool(s) || Fail(path, "the schema allows no value here", why);
  object o = s;
  std::string_view ref;
  if (o["$ref"].get(ref) == simdjson::SUCCESS) {  // draft 7: the keywords beside $ref are ignored
    element target;
    if (!Resolve(ref, &target)) return Fail(path, fmt::format("$ref {} names nothing", ref), why);
    return Check(target, v, path, why);
  }
  element e;
  if (o["type"].get(e) == simdjson::SUCCESS) {
    bool ok = false;
    std::string want;
    if (e.type() == element_type::STRING) {
      ok = HasType(v, std::string_view(e));
      want = std::string_view(e);
    } else if (e.type() == element_type::ARRAY) {
      for (element t : array(e)) {
        if (t.type() == element_type::STRING && HasType(v, std::string_view(t))) ok = true;
        want += (want.empty() ? "" : " or ") + std::string(std::string_view(t));
      }
    }
    if (!ok) return Fail(path, fmt::format("type: expected {}, got {}", want, TypeOf(v)), why);
  }
  if (o["enum"].get(e) == simdjson::SUCCESS && e.type() == element_type::ARRAY) {
    bool found = false;
    for (element c : array(e)) found = found || Equal(c, v);
    if (!found) return Fail(path, fmt::format("enum: {} is not one of {}", Show(v), Show(e)), why);
  }
  if (o["const"].get(e) == simdjson::SUCCESS && !Equal(e, v))
    return Fail(path, fmt::format("const: expected {}, got {}", Show(e), Show(v)), why);
  if (IsNumber(v) && !CheckNumber(o, v, path, why)) return false;
  if (v.type() == element_type::STRING && !CheckString(o, v, path, why)) return false;
  if (v.type() == element_type::ARRAY && !CheckArray(o, array(v), path, why)) return false;
  if (v.type() == element_type::OBJECT && !CheckObject(o, v, path, why)) return false;
  array list;
  if (o["allOf"].get(list) == simdjson::SUCCESS)
    for (element sub : list)
      if (!Check(sub, v, path, why)) return false;
  std::string ignored;
  if (o["anyOf"].get(list) == simdjson::SUCCESS) {
    bool any = false;
    for (element sub : list) any = any || Check(sub, v, path, &ignored);
    if (!any) return Fail(path, "anyOf: matches none of the schemas", why);
  }
  if (o["oneOf"].get(list) == simdjson::SUCCESS) {
    int n = 0;
    for (element sub : list) n += Check(sub, v, path, &ignored);
    if (n != 1) return Fail(path, fmt::format("oneOf: matches {} of the schemas, not exactly one", n), why);
  }
  if (o["not"].get(e) == simdjson::SUCCESS && Check(e, v, path, &ignored))
    return Fail(path, "not: matches the schema it must not", why);
  if (o["if"].get(e) == simdjson::SUCCESS) {
    element branch;
    const char* which = Check(e, v, path, &ignored) ? "then" : "else";
    if (o[which].get(branch) == simdjson::SUCCESS && !Check(branch, v, path, why)) return false;
  }
  return true;
}

bool Schema::CheckNumber(object o, element v, const std::string& path, std::string* why) const {
  double x = Number(v);
  element e;
  if (o["minimum"].get(e) == simdjson::SUCCESS && IsNumber(e) && x < Number(e))
    return Fail(path, fmt::format("minimum: {} is below {}", Show(v), Show(e)), why);
  if (o["maximum"].get(e) == simdjson::SUCCESS && IsNumber(e) && x > Number(e))
    return Fail(path, fmt::format("maximum: {} is above {}", Show(v), Show(e)), why);
  if (o["exclusiveMinimum"].get(e) == simdjson::SUCCESS && IsNumber(e) && x <= Number(e))
    return Fail(path, fmt::format("exclusiveMinimum: {} is not above {}", Show(v), Show(e)), why);
  if (o["exclusiveMaximum"].get(e) == simdjson::SUCCESS && IsNumber(e) && x >= Number(e))
    return Fail(path, fmt::format("exclusiveMaximum: {} is not below {}", Show(v), Show(e)), why);
  if (o["multipleOf"].get(e) == simdjson::SUCCESS && IsNumber(e) && Number(e) > 0) {
    bool ok;
    if (v.type() == element_type::INT64 && e.type() == element_type::INT64) {
      ok = int64_t(v) % int64_t(e) == 0;
    } else {
      double q = x / Number(e);
      ok = std::isfinite(q) && std::fabs(q - std::round(q)) <= 1e-9 * std::max(1.0, std::fabs(q));
    }
    if (!ok) return Fail(path, fmt::format("multipleOf: {} is not a multiple of {}", Show(v), Show(e)), why);
  }
  return true;
}

bool Schema::CheckString(object o, element v, const std::string& path, std::string* why) const {
  std::string_view str = v;
  element e;
  size_t n = CodePoints(str);
  if (o["minLength"].get(e) == simdjson::SUCCESS && IsNumber(e) && static_cast<double>(n) < Number(e))
    return Fail(path, fmt::format("minLength: {} characters, fewer than {}", n, Show(e)), why);
  if (o["maxLength"].get(e) == simdjson::SUCCESS && IsNumber(e) && static_cast<double>(n) > Number(e))
    return Fail(path, fmt::format("maxLength: {} characters, more than {}", n, Show(e)), why);
  std::string_view pattern;
  if (o["pattern"].get(pattern) == simdjson::SUCCESS) {
    const std::regex* rx = Regex(pattern);
    if (rx && !std::regex_search(str.begin(), str.end(), *rx))
      return Fail(path, fmt::format("pattern: {} does not match {}", Show(v), pattern), why);
  }
  return true;
}

bool Schema::CheckArray(object o, array a, std::string& path, std::string* why) const {
  element e;
  double n = static_cast<double>(a.size());
  if (o["minItems"].get(e) == simdjson::SUCCESS && IsNumber(e) && n < Number(e))
    return Fail(path, fmt::format("minItems: {} items, fewer than {}", a.size(), Show(e)), why);
  if (o["maxItems"].get(e) == simdjson::SUCCESS && IsNumber(e) && n > Number(e))
    return Fail(path, fmt::format("maxItems: {} items, more than {}", a.size(), Show(e)), why);
  bool unique = false;
  if (o["uniqueItems"].get(unique) == simdjson::SUCCESS && unique) {
    size_t i = 0;
    for (auto x = a.begin(); x != a.end(); ++x, ++i) {
      auto y = x;
      for (++y; y != a.end(); ++y)
        if (Equal(*x, *y)) return Fail(path, fmt::format("uniqueItems: item {} repeats", i), why);
    }
  }
  size_t base = path.size();
  element items;
  bool has_items = o["items"].get(items) == simdjson::SUCCESS;
  size_t i = 0;
  for (element item : a) {
    element sub;
    bool check = false;
    if (has_items && Schemaish(items)) {
      sub = items, check = true;
    } else if (has_items && items.type() == element_type::ARRAY) {
      if (array(items).at(i).get(sub) == simdjson::SUCCESS) check = true;
      else check = o["additionalItems"].get(sub) == simdjson::SUCCESS;
    }
    if (check) {
      PushKey(path, std::to_string(i));
      bool ok = Check(sub, item, path, why);
      path.resize(base);
      if (!ok) return false;
    }
    i++;
  }
  if (o["contains"].get(e) == simdjson::SUCCESS) {
    std::string ignored;
    bool any = false;
    for (element item : a) any = any || Check(e, item, path, &ignored);
    if (!any) return Fail(path, "contains: no item matches the schema", why);
  }
  return true;
}

bool Schema::CheckObject(object o, element value_element, std::string& path, std::string* why) const {
  object v = value_element;
  element e;
  double n = static_cast<double>(v.size());
  if (o["minProperties"].get(e) == simdjson::SUCCESS && IsNumber(e) && n < Number(e))
    return Fail(path, fmt::format("minProperties: {} properties, fewer than {}", v.size(), Show(e)), why);
  if (o["maxProperties"].get(e) == simdjson::SUCCESS && IsNumber(e) && n > Number(e))
    return Fail(path, fmt::format("maxProperties: {} properties, more than {}", v.size(), Show(e)), why);
  array required;
  if (o["required"].get(required) == simdjson::SUCCESS)
    for (element r : required) {
      std::string_view name;
      element ignored;
      if (r.get(name) == simdjson::SUCCESS && v.at_key(name).get(ignored) != simdjson::SUCCESS)
        return Fail(path, fmt::format("required: no property \"{}\"", name), why);
    }
  object props, patterns, deps;
  bool has_props = o["properties"].get(props) == simdjson::SUCCESS;
  bool has_patterns = o["patternProperties"].get(patterns) == simdjson::SUCCESS;
  element additional;
  bool has_additional = o["additionalProperties"].get(additional) == simdjson::SUCCESS;
  element names;
  bool has_names = o["propertyNames"].get(names) == simdjson::SUCCESS;
  bool has_deps = o["dependencies"].get(deps) == simdjson::SUCCESS;
  size_t base = path.size();
  for (auto [key, value] : v) {
    if (has_names) {
      // The name itself is the value: a string element of the record.
      std::string quoted;
      AppendQuoted(&quoted, key);
      simdjson::dom::parser p;
      element name_value;
      if (p.parse(quoted).get(name_value) == simdjson::SUCCESS && !Check(names, name_value, path, why)) {
        *why = fmt::format("{} (propertyNames, \"{}\")", *why, key);
        return false;
      }
    }
    bool matched = false;
    PushKey(path, key);
    element sub;
    if (has_props && props.at_key(key).get(sub) == simdjson::SUCCESS) {
      matched = true;
      if (!Check(sub, value, path, why)) return false;
    }
    if (has_patterns) {
      for (auto [pattern, psub] : patterns) {
        const std::regex* rx = Regex(pattern);
        if (!rx || !std::regex_search(key.begin(), key.end(), *rx)) continue;
        matched = true;
        if (!Check(psub, value, path, why)) return false;
      }
    }
    if (!matched && has_additional && !Check(additional, value, path, why)) {
      if (additional.type() == element_type::BOOL)
        *why = fmt::format("{}: additionalProperties: \"{}\" is not allowed", base ? path.substr(0, base) : "(root)", key);
      return false;
    }
    path.resize(base);
    if (has_deps && deps.at_key(key).get(sub) == simdjson::SUCCESS) {
      if (sub.type() == element_type::ARRAY) {
        for (element d : array(sub)) {
          std::string_view dep;
          element ignored;
          if (d.get(dep) == simdjson::SUCCESS && v.at_key(dep).get(ignored) != simdjson::SUCCESS)
            return Fail(path, fmt::format("dependencies: \"{}\" needs \"{}\"", key, dep), why);
        }
      } else if (!Check(sub, value_element, path, why)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace kpipe::json
