#include "kpipe/json/schema.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

// Exact order of two numbers: long double holds every int64, uint64 and
// double exactly (64-bit mantissa), so a mixed pair is compared exactly too.
long double Exact(element v) {
  switch (v.type()) {
    case element_type::INT64: return static_cast<long double>(int64_t(v));
    case element_type::UINT64: return static_cast<long double>(uint64_t(v));
    default: return double(v);
  }
}
int Compare(element a, element b) {
  long double x = Exact(a), y = Exact(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

bool IsInteger(element v) {
  if (v.type() == element_type::INT64 || v.type() == element_type::UINT64) return true;
  if (v.type() != element_type::DOUBLE) return false;
  double d = double(v);
  return std::isfinite(d) && std::floor(d) == d;
}

// A number as the decimal it was written as, by its shortest form (which
// reads back as the same double): digits × 10^exp, the digits without
// leading zeros (none for 0). False for what is not finite.
bool DecimalOf(element v, std::string* digits, int64_t* exp) {
  std::string text;
  switch (v.type()) {
    case element_type::INT64: text = fmt::format("{}", int64_t(v)); break;
    case element_type::UINT64: text = fmt::format("{}", uint64_t(v)); break;
    default:
      if (!std::isfinite(double(v))) return false;
      text = fmt::format("{}", double(v));
  }
  digits->clear();
  *exp = 0;
  size_t i = text[0] == '-' ? 1 : 0;
  bool point = false;
  for (; i < text.size() && text[i] != 'e'; i++) {
    if (text[i] == '.') {
      point = true;
    } else {
      if (!(digits->empty() && text[i] == '0')) digits->push_back(text[i]);
      if (point) --*exp;
    }
  }
  if (i < text.size()) *exp += std::stoll(text.substr(i + 1));
  return true;
}

// Whether the decimal `x` is a whole multiple of the decimal `d` (not 0),
// each as DecimalOf gives it (at most 20 digits): exactly, with 128-bit
// remainders.
bool DecimalMultiple(const std::string& x_digits, int64_t x_exp, const std::string& d_digits, int64_t d_exp) {
  if (x_digits.empty()) return true;  // 0
  unsigned __int128 x = 0, d = 0;
  for (char c : x_digits) x = x * 10 + static_cast<unsigned>(c - '0');
  for (char c : d_digits) d = d * 10 + static_cast<unsigned>(c - '0');
  if (x_exp < d_exp) {
    // x / (d * 10^k): x < 10^20 <= the divisor once k reaches 20.
    int64_t k = d_exp - x_exp;
    if (k >= 20) return false;
    for (int64_t j = 0; j < k; j++) d *= 10;
    return x % d == 0;
  }
  // (x * 10^k) mod d, a digit at a time.
  unsigned __int128 r = x % d;
  for (int64_t j = 0; j < x_exp - d_exp && r != 0; j++) r = r * 10 % d;
  return r == 0;
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

// JSON equality: numbers by value (1 == 1.0), objects whatever their order.
bool Equal(element a, element b) {
  if (IsNumber(a) && IsNumber(b)) return Compare(a, b) == 0;
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
  if (s.size() <= 40) return s;
  size_t cut = 37;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut--;  // not inside a character
  return s.substr(0, cut) + "...";
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


// The "type" names as bits; a value has the bit of its type, and an
// integer both "integer" and "number".
enum TypeBit : unsigned { kNull = 1, kBoolean = 2, kInteger = 4, kNumber = 8, kString = 16, kArray = 32, kObject = 64 };

unsigned TypeBitOf(std::string_view name) {
  if (name == "null") return kNull;
  if (name == "boolean") return kBoolean;
  if (name == "integer") return kInteger;
  if (name == "number") return kNumber;
  if (name == "string") return kString;
  if (name == "array") return kArray;
  if (name == "object") return kObject;
  return 0;
}

unsigned TypeBitsOf(element v) {
  switch (v.type()) {
    case element_type::ARRAY: return kArray;
    case element_type::OBJECT: return kObject;
    case element_type::STRING: return kString;
    case element_type::BOOL: return kBoolean;
    case element_type::NULL_VALUE: return kNull;
    default: return IsInteger(v) ? kInteger | kNumber : kNumber;
  }
}

std::string Escape(std::string_view key) {
  std::string out;
  PushKey(out, key);
  return out;
}

// A ref's JSON Pointer as Build registers it: tokens decoded, then escaped.
std::string Canonical(std::string_view ref) {
  std::string out = "#";
  std::string_view rest = ref.substr(1);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // '/'
    size_t slash = rest.find('/');
    out += Escape(Token(rest.substr(0, slash)));
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return out;
}

}  // namespace

// A compiled pattern (PCRE2, UTF-8, JIT when the machine has it). Searches
// may run on several threads at once: each thread has match data of its own.
class Schema::Regex {
 public:
  static Result<std::unique_ptr<Regex>> Make(std::string_view pattern) {
    int code;
    PCRE2_SIZE offset;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF,
                                   &code, &offset, nullptr);
    if (!re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(code, msg, sizeof msg);
      return Status::Usage(fmt::format("pattern {}: {} at offset {}", pattern, reinterpret_cast<char*>(msg), offset));
    }
    std::unique_ptr<Regex> r(new Regex());
    r->code_ = re;
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // interpreted when JIT is not there
    r->context_ = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(r->context_, kMatchLimit);
    pcre2_set_heap_limit(r->context_, kHeapLimitKib);
    pcre2_jit_stack_assign(r->context_, &ThreadJitStack, nullptr);
    return r;
  }
  ~Regex() {
    pcre2_match_context_free(context_);
    pcre2_code_free(code_);
  }
  // 1 when `s` holds a match, 0 when not, -1 when the search gave up
  // (more than kMatchLimit steps, or the JIT's stack).
  int Search(std::string_view s) const {
    struct Free {
      void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
    };
    thread_local std::unique_ptr<pcre2_match_data, Free> data(pcre2_match_data_create(1, nullptr));
    // Strings and keys come from simdjson, which checked their UTF-8.
    auto match = [&](uint32_t options) {
      return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, PCRE2_NO_UTF_CHECK | options,
                         data.get(), context_);
    };
    int rc = match(0);
    // The JIT's stack is bounded; the interpreter keeps its backtracking on
    // the heap (within kHeapLimitKib).
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = match(PCRE2_NO_JIT);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
  }
  static constexpr uint32_t kMatchLimit = 10'000'000;
  static constexpr uint32_t kHeapLimitKib = 256 * 1024;

 private:
  Regex() = default;
  // Each thread's JIT stack: 32 KiB, growing to 1 MiB.
  static pcre2_jit_stack* ThreadJitStack(void*) {
    struct Free {
      void operator()(pcre2_jit_stack* s) const { pcre2_jit_stack_free(s); }
    };
    thread_local std::unique_ptr<pcre2_jit_stack, Free> stack(pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr));
    return stack.get();
  }
  pcre2_code* code_ = nullptr;
  pcre2_match_context* context_ = nullptr;
};

struct Schema::Node {
  bool is_bool = false, allow = true;  // a boolean schema
  std::string_view ref_text;           // $ref: the other keywords are ignored
  const Node* ref = nullptr;
  unsigned types = 0;                  // type, as TypeBits; 0: any
  std::string type_names;              // "number or null"
  std::optional<element> enum_values, const_value;
  std::optional<element> minimum, maximum, xminimum, xmaximum, multiple_of;
  std::optional<element> min_length, max_length;
  const Regex* pattern = nullptr;
  std::string_view pattern_text;
  const Node* items = nullptr;             // items: one schema for every item
  std::vector<const Node*> item_list;      // items: a schema per position
  bool has_item_list = false;
  const Node* additional_items = nullptr;
  std::optional<element> min_items, max_items;
  bool unique_items = false;
  const Node* contains = nullptr;
  std::optional<element> min_properties, max_properties;
  std::vector<std::string_view> required;
  std::vector<std::pair<std::string_view, const Node*>> properties;
  std::vector<std::tuple<std::string_view, const Regex*, const Node*>> pattern_properties;
  const Node* additional_properties = nullptr;
  const Node* property_names = nullptr;
  std::vector<std::pair<std::string_view, const Node*>> dependent_schemas;
  std::vector<std::pair<std::string_view, std::vector<std::string_view>>> dependent_names;
  std::vector<const Node*> all_of, any_of, one_of;
  const Node* not_ = nullptr;
  const Node* if_ = nullptr;
  const Node* then_ = nullptr;
  const Node* else_ = nullptr;
};

Schema::Schema() = default;
Schema::~Schema() = default;

Result<std::unique_ptr<Schema>> Schema::Parse(std::string_view text, const std::string& name) {
  std::unique_ptr<Schema> s(new Schema());
  s->name_ = name;
  element root;
  if (auto err = s->parser_.parse(text.data(), text.size()).get(root))
    return Status::Usage(fmt::format("schema {}: not JSON ({})", name, simdjson::error_message(err)));
  if (!Schemaish(root)) return Status::Usage(fmt::format("schema {}: a schema is an object or a boolean", name));
  auto top = s->Build(root, "#");
  if (!top.ok()) return Status::Usage(fmt::format("schema {}: {}", name, top.status().message()));
  s->root_ = *top;
  // Every $ref names a subschema built above, or one that a pointer walk
  // finds (built then); an anchor or pointer that names nothing, or another
  // document, refuses the schema.
  for (size_t i = 0; i < s->nodes_.size(); i++) {
    Node& n = s->nodes_[i];
    if (n.ref_text.empty()) continue;
    std::string_view r = n.ref_text;
    std::string key = r.size() > 1 && r[0] == '#' && r[1] == '/' ? Canonical(r) : std::string(r);
    if (auto it = s->at_.find(key); it != s->at_.end()) {
      n.ref = it->second;
      continue;
    }
    element at = root;
    bool found = r.size() > 1 && r[0] == '#' && r[1] == '/';
    std::string_view rest = found ? r.substr(1) : std::string_view();
    while (found && !rest.empty()) {
      rest.remove_prefix(1);
      size_t slash = rest.find('/');
      std::string token = Token(rest.substr(0, slash));
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      if (at.type() == element_type::OBJECT) {
        found = object(at).at_key(token).get(at) == simdjson::SUCCESS;
      } else if (at.type() == element_type::ARRAY) {
        char* end;
        unsigned long idx = std::strtoul(token.c_str(), &end, 10);
        found = !token.empty() && !*end && array(at).at(idx).get(at) == simdjson::SUCCESS;
      } else {
        found = false;
      }
    }
    if (!found || !Schemaish(at))
      return Status::Usage(fmt::format("schema {}: $ref {} names nothing in this schema (kpipe reads no other "
                                       "schema document)", name, r));
    auto built = s->Build(at, key);
    if (!built.ok()) return Status::Usage(fmt::format("schema {}: {}", name, built.status().message()));
    s->nodes_[i].ref = *built;  // nodes_ is a deque: Build kept it in place
  }
  // A value is checked against a node's $ref, allOf, anyOf, oneOf, not,
  // if/then/else and dependencies as it is: a cycle through those alone
  // ({"$ref":"#"}) would never end, and is refused.
  std::map<const Node*, int> state;  // 1: on the path, 2: done
  std::function<bool(const Node*)> cyclic = [&](const Node* n) {
    int& st = state[n];
    if (st == 1) return true;
    if (st == 2) return false;
    st = 1;
    std::vector<const Node*> next;
    if (!n->ref_text.empty()) {  // draft 7: beside $ref the other keywords are not applied
      next.push_back(n->ref);
    } else {
      next = {n->not_, n->if_, n->then_, n->else_};
      for (const auto* list : {&n->all_of, &n->any_of, &n->one_of}) next.insert(next.end(), list->begin(), list->end());
      for (const auto& [k, d] : n->dependent_schemas) next.push_back(d);
    }
    for (const Node* m : next)
      if (m && cyclic(m)) return true;
    state[n] = 2;
    return false;
  };
  for (const Node& n : s->nodes_)
    if (cyclic(&n))
      return Status::Usage(fmt::format("schema {}: its $ref and allOf/anyOf/oneOf/not/if refer back to "
                                       "themselves without a value between them: a check would never end", name));
  return s;
}

Result<const Schema::Regex*> Schema::Compile(std::string_view pattern) {
  auto it = regexes_.find(pattern);
  if (it != regexes_.end()) return it->second.get();
  auto re = Regex::Make(pattern);
  if (!re.ok()) return re.status();
  return regexes_.emplace(std::string(pattern), std::move(*re)).first->second.get();
}

Result<const Schema::Node*> Schema::Build(element s, const std::string& at) {
  if (auto it = at_.find(at); it != at_.end()) return it->second;
  Node& n = nodes_.emplace_back();
  at_.emplace(at, &n);
  if (s.type() == element_type::BOOL) {
    n.is_bool = true;
    n.allow = bool(s);
    return &n;
  }
  auto sub = [&](element e, const std::string& where, const Node** out) -> Status {
    if (!Schemaish(e)) return Status::OK();  // not a schema: no constraint
    auto b = Build(e, where);
    if (!b.ok()) return b.status();
    *out = *b;
    return Status::OK();
  };
  auto subs = [&](element e, const std::string& where, std::vector<const Node*>* out) -> Status {
    array a;
    if (e.get(a) != simdjson::SUCCESS) return Status::OK();
    size_t i = 0;
    for (element x : a) {
      const Node* c = nullptr;
      KPIPE_RETURN_IF_ERROR(sub(x, fmt::format("{}/{}", where, i++), &c));
      if (c) out->push_back(c);
    }
    return Status::OK();
  };
  auto number = [](element e) { return IsNumber(e) ? std::optional<element>(e) : std::nullopt; };
  for (auto [key, e] : object(s)) {
    std::string where = at + Escape(key);
    std::string_view str;
    if (key == "$id") {
      if (e.get(str) == simdjson::SUCCESS && !str.empty() && str[0] == '#') at_.emplace(std::string(str), &n);
    } else if (key == "$ref") {
      // An empty reference names the document itself.
      if (e.get(str) == simdjson::SUCCESS) n.ref_text = str.empty() ? std::string_view("#") : str;
    } else if (key == "type") {
      if (e.type() == element_type::STRING) {
        n.types = TypeBitOf(std::string_view(e));
        n.type_names = std::string_view(e);
      } else if (e.type() == element_type::ARRAY) {
        for (element t : array(e)) {
          if (t.type() != element_type::STRING) continue;
          n.types |= TypeBitOf(std::string_view(t));
          n.type_names += (n.type_names.empty() ? "" : " or ") + std::string(std::string_view(t));
        }
      }
      if (n.types & kNumber) n.types |= kInteger;
      if (n.types == 0) n.types = ~0u & ~(kNull | kBoolean | kInteger | kNumber | kString | kArray | kObject);
    } else if (key == "enum") {
      if (e.type() == element_type::ARRAY) n.enum_values = e;
    } else if (key == "const") {
      n.const_value = e;
    } else if (key == "minimum") {
      n.minimum = number(e);
    } else if (key == "maximum") {
      n.maximum = number(e);
    } else if (key == "exclusiveMinimum") {
      n.xminimum = number(e);
    } else if (key == "exclusiveMaximum") {
      n.xmaximum = number(e);
    } else if (key == "multipleOf") {
      if (IsNumber(e) && Number(e) > 0) n.multiple_of = e;
    } else if (key == "minLength") {
      n.min_length = number(e);
    } else if (key == "maxLength") {
      n.max_length = number(e);
    } else if (key == "pattern") {
      if (e.get(str) == simdjson::SUCCESS) {
        auto rx = Compile(str);
        if (!rx.ok()) return rx.status();
        n.pattern = *rx;
        n.pattern_text = str;
      }
    } else if (key == "items") {
      if (e.type() == element_type::ARRAY) {
        n.has_item_list = true;
        KPIPE_RETURN_IF_ERROR(subs(e, where, &n.item_list));
      } else {
        KPIPE_RETURN_IF_ERROR(sub(e, where, &n.items));
      }
    } else if (key == "additionalItems") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.additional_items));
    } else if (key == "minItems") {
      n.min_items = number(e);
    } else if (key == "maxItems") {
      n.max_items = number(e);
    } else if (key == "uniqueItems") {
      n.unique_items = e.type() == element_type::BOOL && bool(e);
    } else if (key == "contains") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.contains));
    } else if (key == "minProperties") {
      n.min_properties = number(e);
    } else if (key == "maxProperties") {
      n.max_properties = number(e);
    } else if (key == "required") {
      if (e.type() == element_type::ARRAY)
        for (element r : array(e))
          if (r.get(str) == simdjson::SUCCESS) n.required.push_back(str);
    } else if (key == "properties" || key == "patternProperties" || key == "definitions" ||
               key == "dependencies") {
      if (e.type() != element_type::OBJECT) continue;
      for (auto [name, v] : object(e)) {
        const Node* c = nullptr;
        std::string child = where + Escape(name);
        if (key == "dependencies" && v.type() == element_type::ARRAY) {
          std::vector<std::string_view> names;
          for (element d : array(v))
            if (d.get(str) == simdjson::SUCCESS) names.push_back(str);
          n.dependent_names.emplace_back(name, std::move(names));
          continue;
        }
        KPIPE_RETURN_IF_ERROR(sub(v, child, &c));
        if (!c) continue;
        if (key == "properties") {
          n.properties.emplace_back(name, c);
        } else if (key == "patternProperties") {
          auto rx = Compile(name);
          if (!rx.ok()) return Status::Usage("patternProperties " + rx.status().message());
          n.pattern_properties.emplace_back(name, *rx, c);
        } else if (key == "dependencies") {
          n.dependent_schemas.emplace_back(name, c);
        }
      }
    } else if (key == "additionalProperties") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.additional_properties));
    } else if (key == "propertyNames") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.property_names));
    } else if (key == "allOf") {
      KPIPE_RETURN_IF_ERROR(subs(e, where, &n.all_of));
    } else if (key == "anyOf") {
      KPIPE_RETURN_IF_ERROR(subs(e, where, &n.any_of));
    } else if (key == "oneOf") {
      KPIPE_RETURN_IF_ERROR(subs(e, where, &n.one_of));
    } else if (key == "not") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.not_));
    } else if (key == "if") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.if_));
    } else if (key == "then") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.then_));
    } else if (key == "else") {
      KPIPE_RETURN_IF_ERROR(sub(e, where, &n.else_));
    }
  }
  return &n;
}

bool Schema::Validate(element value, std::string* why) const {
  std::string path;
  return Check(root_, value, path, why);
}

bool Schema::Check(const Node* n, element v, std::string& path, std::string* why) const {
  if (n->is_bool) return n->allow || Fail(path, "the schema allows no value here", why);
  if (!n->ref_text.empty()) return Check(n->ref, v, path, why);  // draft 7: $ref alone counts
  unsigned bits = TypeBitsOf(v);
  if (n->types && !(n->types & bits))
    return Fail(path, fmt::format("type: expected {}, got {}", n->type_names, TypeOf(v)), why);
  if (n->enum_values) {
    bool found = false;
    for (element c : array(*n->enum_values)) found = found || Equal(c, v);
    if (!found) return Fail(path, fmt::format("enum: {} is not one of {}", Show(v), Show(*n->enum_values)), why);
  }
  if (n->const_value && !Equal(*n->const_value, v))
    return Fail(path, fmt::format("const: expected {}, got {}", Show(*n->const_value), Show(v)), why);
  if ((bits & kNumber) && !CheckNumber(*n, v, path, why)) return false;
  if (bits == kString && !CheckString(*n, v, path, why)) return false;
  if (bits == kArray && !CheckArray(*n, v, path, why)) return false;
  if (bits == kObject && !CheckObject(*n, v, path, why)) return false;
  for (const Node* sub : n->all_of)
    if (!Check(sub, v, path, why)) return false;
  std::string ignored;
  if (!n->any_of.empty()) {
    bool any = false;
    for (const Node* sub : n->any_of) any = any || Check(sub, v, path, &ignored);
    if (!any) return Fail(path, "anyOf: matches none of the schemas", why);
  }
  if (!n->one_of.empty()) {
    int count = 0;
    for (const Node* sub : n->one_of) count += Check(sub, v, path, &ignored);
    if (count != 1) return Fail(path, fmt::format("oneOf: matches {} of the schemas, not exactly one", count), why);
  }
  if (n->not_ && Check(n->not_, v, path, &ignored)) return Fail(path, "not: matches the schema it must not", why);
  if (n->if_) {
    const Node* branch = Check(n->if_, v, path, &ignored) ? n->then_ : n->else_;
    if (branch && !Check(branch, v, path, why)) return false;
  }
  return true;
}

bool Schema::CheckNumber(const Node& n, element v, const std::string& path, std::string* why) const {
  if (n.minimum && Compare(v, *n.minimum) < 0)
    return Fail(path, fmt::format("minimum: {} is below {}", Show(v), Show(*n.minimum)), why);
  if (n.maximum && Compare(v, *n.maximum) > 0)
    return Fail(path, fmt::format("maximum: {} is above {}", Show(v), Show(*n.maximum)), why);
  if (n.xminimum && Compare(v, *n.xminimum) <= 0)
    return Fail(path, fmt::format("exclusiveMinimum: {} is not above {}", Show(v), Show(*n.xminimum)), why);
  if (n.xmaximum && Compare(v, *n.xmaximum) >= 0)
    return Fail(path, fmt::format("exclusiveMaximum: {} is not below {}", Show(v), Show(*n.xmaximum)), why);
  if (n.multiple_of) {
    element m = *n.multiple_of;
    bool ok;
    long double x = Exact(v), d = Exact(m);
    if (IsInteger(v) && IsInteger(m) && std::fabs(x) < 2e19L && d < 2e19L) {
      // Whole numbers (whole doubles too): an exact remainder.
      unsigned __int128 a = static_cast<unsigned __int128>(std::fabs(x)), b = static_cast<unsigned __int128>(d);
      ok = a % b == 0;
    } else {
      // Fractions: on the decimals the numbers were written as (their
      // shortest forms), exactly; 1234567.89 is a multiple of 0.01, which
      // the doubles' remainder does not say.
      std::string xd, dd;
      int64_t xe, de;
      ok = DecimalOf(v, &xd, &xe) && DecimalOf(m, &dd, &de) && !dd.empty() && DecimalMultiple(xd, xe, dd, de);
    }
    if (!ok) return Fail(path, fmt::format("multipleOf: {} is not a multiple of {}", Show(v), Show(m)), why);
  }
  return true;
}

bool Schema::CheckString(const Node& n, element v, const std::string& path, std::string* why) const {
  std::string_view str = v;
  if (n.min_length || n.max_length) {
    size_t count = CodePoints(str);
    if (n.min_length && static_cast<double>(count) < Number(*n.min_length))
      return Fail(path, fmt::format("minLength: {} characters, fewer than {}", count, Show(*n.min_length)), why);
    if (n.max_length && static_cast<double>(count) > Number(*n.max_length))
      return Fail(path, fmt::format("maxLength: {} characters, more than {}", count, Show(*n.max_length)), why);
  }
  if (n.pattern) {
    int found = n.pattern->Search(str);
    if (found < 0)
      return Fail(path, fmt::format("pattern: matching {} against {} took too long (more than {} steps)", Show(v),
                                    n.pattern_text, Regex::kMatchLimit), why);
    if (!found) return Fail(path, fmt::format("pattern: {} does not match {}", Show(v), n.pattern_text), why);
  }
  return true;
}

bool Schema::CheckArray(const Node& n, element value, std::string& path, std::string* why) const {
  array a = value;
  double count = static_cast<double>(a.size());
  if (n.min_items && count < Number(*n.min_items))
    return Fail(path, fmt::format("minItems: {} items, fewer than {}", a.size(), Show(*n.min_items)), why);
  if (n.max_items && count > Number(*n.max_items))
    return Fail(path, fmt::format("maxItems: {} items, more than {}", a.size(), Show(*n.max_items)), why);
  if (n.unique_items) {
    size_t i = 0;
    for (auto x = a.begin(); x != a.end(); ++x, ++i) {
      auto y = x;
      for (++y; y != a.end(); ++y)
        if (Equal(*x, *y)) return Fail(path, fmt::format("uniqueItems: item {} repeats", i), why);
    }
  }
  size_t base = path.size();
  size_t i = 0;
  for (element item : a) {
    const Node* sub = n.has_item_list ? (i < n.item_list.size() ? n.item_list[i] : n.additional_items) : n.items;
    if (sub) {
      PushKey(path, std::to_string(i));
      bool ok = Check(sub, item, path, why);
      path.resize(base);
      if (!ok) return false;
    }
    i++;
  }
  if (n.contains) {
    std::string ignored;
    bool any = false;
    for (element item : a) any = any || Check(n.contains, item, path, &ignored);
    if (!any) return Fail(path, "contains: no item matches the schema", why);
  }
  return true;
}

bool Schema::CheckObject(const Node& n, element value, std::string& path, std::string* why) const {
  object v = value;
  struct Restore {  // whatever return: the path as it came (failures may be ignored: anyOf, not)
    std::string& path;
    size_t size;
    ~Restore() { path.resize(size); }
  } restore{path, path.size()};
  double count = static_cast<double>(v.size());
  if (n.min_properties && count < Number(*n.min_properties))
    return Fail(path, fmt::format("minProperties: {} properties, fewer than {}", v.size(), Show(*n.min_properties)),
                why);
  if (n.max_properties && count > Number(*n.max_properties))
    return Fail(path, fmt::format("maxProperties: {} properties, more than {}", v.size(), Show(*n.max_properties)),
                why);
  for (std::string_view name : n.required) {
    element ignored;
    if (v.at_key(name).get(ignored) != simdjson::SUCCESS)
      return Fail(path, fmt::format("required: no property \"{}\"", name), why);
  }
  bool per_key = !n.properties.empty() || !n.pattern_properties.empty() || n.additional_properties ||
                 n.property_names || !n.dependent_schemas.empty() || !n.dependent_names.empty();
  if (!per_key) return true;
  size_t base = path.size();
  for (auto [key, item] : v) {
    if (n.property_names) {
      // The name itself is the value checked: a string of its own, parsed
      // by this thread's parser. A string's check never reaches another
      // propertyNames, so the element outlives every use of the parser.
      thread_local simdjson::dom::parser names_parser;
      thread_local std::string quoted;
      quoted.clear();
      AppendQuoted(&quoted, key);
      element name_value;
      if (names_parser.parse(quoted).get(name_value) == simdjson::SUCCESS &&
          !Check(n.property_names, name_value, path, why)) {
        *why = fmt::format("{} (propertyNames, \"{}\")", *why, key);
        return false;
      }
    }
    bool matched = false;
    PushKey(path, key);
    for (const auto& [name, sub] : n.properties) {
      if (name != key) continue;
      matched = true;
      if (!Check(sub, item, path, why)) return false;
    }
    for (const auto& [text, rx, sub] : n.pattern_properties) {
      int found = rx->Search(key);
      if (found < 0)
        return Fail(path, fmt::format("patternProperties: matching the key against {} took too long", text), why);
      if (!found) continue;
      matched = true;
      if (!Check(sub, item, path, why)) return false;
    }
    if (!matched && n.additional_properties && !Check(n.additional_properties, item, path, why)) {
      if (n.additional_properties->is_bool)
        *why = fmt::format("{}: additionalProperties: \"{}\" is not allowed", base ? path.substr(0, base) : "(root)",
                           key);
      return false;
    }
    path.resize(base);
    for (const auto& [name, names] : n.dependent_names) {
      if (name != key) continue;
      for (std::string_view dep : names) {
        element ignored;
        if (v.at_key(dep).get(ignored) != simdjson::SUCCESS)
          return Fail(path, fmt::format("dependencies: \"{}\" needs \"{}\"", key, dep), why);
      }
    }
    for (const auto& [name, sub] : n.dependent_schemas)
      if (name == key && !Check(sub, value, path, why)) return false;
  }
  return true;
}

}  // namespace kpipe::json
