#include "kpipe/jq/program.h"

#include <unistd.h>

extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe::jq {

// simdjson's DOM to jq's values. Numbers become doubles, as jq 1.6 parses
// them. Object keys come from a cache: records repeat their keys, and a
// cached jv string is shared by reference, its hash computed once.
jv Program::ToJv(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      jv o = jv_object();
      int n = 0;
      for (auto [key, value] : simdjson::dom::object(e)) {
        o = jv_object_set(o, Key(key), ToJv(value));
        n++;
      }
      if (n > 1 && jv_object_length(jv_copy(o)) != n) faithful_ = false;  // a key repeated
      return o;
    }
    case simdjson::dom::element_type::ARRAY: {
      jv a = jv_array();
      for (simdjson::dom::element v : simdjson::dom::array(e)) a = jv_array_append(a, ToJv(v));
      return a;
    }
    case simdjson::dom::element_type::STRING: {
      std::string_view s = e.get_string().value_unsafe();
      return jv_string_sized(s.data(), static_cast<int>(s.size()));
    }
    case simdjson::dom::element_type::INT64: return jv_number(static_cast<double>(e.get_int64().value_unsafe()));
    case simdjson::dom::element_type::UINT64: return jv_number(static_cast<double>(e.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE: return jv_number(e.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL: return e.get_bool().value_unsafe() ? jv_true() : jv_false();
    case simdjson::dom::element_type::NULL_VALUE: return jv_null();
  }
  return jv_null();
}

jv Program::Key(std::string_view key) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return jv_copy(it->second);
  jv k = jv_string_sized(key.data(), static_cast<int>(key.size()));
  if (keys_.size() >= kMaxKeys) return k;  // records with keys of their own: not worth keeping
  keys_.emplace(std::string(key), jv_copy(k));
  return k;
}

namespace {

// A number as jq 1.6 writes it (jv_print.c, jvp_dtoa_fmt): the shortest
// digits that read back as the same double, in plain notation unless the
// decimal exponent is below -4 or more than 15 past the digits; exponents
// of at least two digits with their sign (1e-05, 1e+17); NaN as null, the
// infinities as the largest doubles.
void AppendNumber(std::string* b, double d) {
  if (d != d) {
    b->append("null");
    return;
  }
  d = std::clamp(d, -DBL_MAX, DBL_MAX);
  char sci[64];
  auto r = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
  std::string_view t(sci, static_cast<size_t>(r.ptr - sci));  // [-]D[.DDD]e(+|-)XX
  if (t[0] == '-') {
    b->push_back('-');
    t.remove_prefix(1);
  }
  size_t e = t.find('e');
  std::string digits;
  digits.push_back(t[0]);
  if (e > 1) digits.append(t.substr(2, e - 2));
  int exp = 0;
  std::from_chars(t.data() + e + (t[e + 1] == '+' ? 2 : 1), t.data() + t.size(), exp);
  int decpt = exp + 1;
  int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > n + 15) {
    b->push_back(digits[0]);
    if (n > 1) {
      b->push_back('.');
      b->append(digits, 1);
    }
    int x = decpt - 1;
    b->push_back('e');
    b->push_back(x < 0 ? '-' : '+');
    if (x < 0) x = -x;
    if (x < 10) b->push_back('0');
    fmt::format_to(std::back_inserter(*b), "{}", x);
  } else if (decpt <= 0) {
    b->append("0.");
    b->append(static_cast<size_t>(-decpt), '0');
    b->append(digits);
  } else if (decpt >= n) {
    b->append(digits);
    b->append(static_cast<size_t>(decpt - n), '0');
  } else {
    b->append(digits, 0, static_cast<size_t>(decpt));
    b->push_back('.');
    b->append(digits, static_cast<size_t>(decpt));
  }
}

// A string as jq 1.6 writes it: JSON's escapes, and DEL as \u007f.
void AppendString(std::string* b, jv str) {
  json::AppendQuoted(b, std::string_view(jv_string_value(str), static_cast<size_t>(jv_string_length_bytes(jv_copy(str)))),
                     /*escape_del=*/true);
}

// `v` as `jq -c` writes it (objects in their insertion order). Borrows `v`.
void AppendJv(std::string* b, jv v) {
  switch (jv_get_kind(v)) {
    case JV_KIND_NULL: b->append("null"); break;
    case JV_KIND_TRUE: b->append("true"); break;
    case JV_KIND_FALSE: b->append("false"); break;
    case JV_KIND_NUMBER: AppendNumber(b, jv_number_value(v)); break;
    case JV_KIND_STRING:
      AppendString(b, v);
      break;
    case JV_KIND_ARRAY: {
      b->push_back('[');
      int n = jv_array_length(jv_copy(v));
      for (int i = 0; i < n; i++) {
        if (i) b->push_back(',');
        jv e = jv_array_get(jv_copy(v), i);
        AppendJv(b, e);
        jv_free(e);
      }
      b->push_back(']');
      break;
    }
    case JV_KIND_OBJECT: {
      b->push_back('{');
      bool first = true;
      for (int it = jv_object_iter(v); jv_object_iter_valid(v, it); it = jv_object_iter_next(v, it)) {
        if (!first) b->push_back(',');
        first = false;
        jv k = jv_object_iter_key(v, it);
        AppendString(b, k);
        jv_free(k);
        b->push_back(':');
        jv e = jv_object_iter_value(v, it);
        AppendJv(b, e);
        jv_free(e);
      }
      b->push_back('}');
      break;
    }
    case JV_KIND_INVALID: b->append("null"); break;  // not an output: jq_next ends with these
  }
}

std::string Message(jv msg) {
  std::string out;
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    out = jv_string_value(msg);
  } else {
    jv text = jv_dump_string(jv_copy(msg), 0);
    out = fmt::format("{} (not a string)", jv_string_value(text));
    jv_free(text);
  }
  jv_free(msg);
  return out;
}

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// jq 1.6's keywords, which cannot stand alone as a key.
bool IsKeyword(std::string_view w) {
  static constexpr std::string_view kKeywords[] = {
      "__loc__", "and", "as", "catch", "def", "elif", "else", "end", "foreach", "if",
      "import", "include", "label", "module", "not", "or", "reduce", "then", "try"};
  return std::find(std::begin(kKeywords), std::end(kKeywords), w) != std::end(kKeywords);
}

// `e` as `jq -c` writes the value it converts `e` to (ToJv, then AppendJv).
// False, with `b` partly written, for an object with a repeated key: jq
// keeps one of them, in the place of the first.
bool AppendElement(std::string* b, simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object o(e);
      std::string_view keys[32];
      size_t n = 0;
      b->push_back('{');
      for (auto [key, value] : o) {
        if (n == std::size(keys) || std::find(keys, keys + n, key) != keys + n) return false;
        keys[n] = key;
        if (n++) b->push_back(',');
        json::AppendQuoted(b, key, /*escape_del=*/true);
        b->push_back(':');
        if (!AppendElement(b, value)) return false;
      }
      b->push_back('}');
      return true;
    }
    case simdjson::dom::element_type::ARRAY: {
      b->push_back('[');
      bool first = true;
      for (simdjson::dom::element v : simdjson::dom::array(e)) {
        if (!first) b->push_back(',');
        first = false;
        if (!AppendElement(b, v)) return false;
      }
      b->push_back(']');
      return true;
    }
    case simdjson::dom::element_type::STRING:
      json::AppendQuoted(b, e.get_string().value_unsafe(), /*escape_del=*/true);
      return true;
    case simdjson::dom::element_type::INT64:
      AppendNumber(b, static_cast<double>(e.get_int64().value_unsafe()));
      return true;
    case simdjson::dom::element_type::UINT64:
      AppendNumber(b, static_cast<double>(e.get_uint64().value_unsafe()));
      return true;
    case simdjson::dom::element_type::DOUBLE: AppendNumber(b, e.get_double().value_unsafe()); return true;
    case simdjson::dom::element_type::BOOL: b->append(e.get_bool().value_unsafe() ? "true" : "false"); return true;
    case simdjson::dom::element_type::NULL_VALUE: b->append("null"); return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Program>> Program::Compile(const std::string& text,
                                                  const std::vector<std::pair<std::string, std::string>>& args) {
  std::unique_ptr<Program> p(new Program());
  p->jq_ = jq_init();
  if (!p->jq_) return Status::IOError("cannot start libjq");
  jq_set_error_cb(
      p->jq_,
      [](void* data, jv msg) {
        auto* errors = static_cast<std::vector<std::string>*>(data);
        errors->push_back(Message(msg));
      },
      &p->compile_errors_);
  // debug's messages, as jq writes them with -c: ["DEBUG:",VALUE] and a
  // line end, in one write (threads run programs side by side).
  jq_set_debug_cb(
      p->jq_,
      [](void*, jv value) {
        jv text = jv_dump_string(JV_ARRAY(jv_string("DEBUG:"), value), 0);
        std::string line = jv_string_value(text);
        jv_free(text);
        line.push_back('\n');
        std::fwrite(line.data(), 1, line.size(), stderr);
      },
      nullptr);
  jv named = jv_object();
  for (const auto& [name, json] : args) {
    jv value = jv_parse_sized(json.data(), static_cast<int>(json.size()));
    if (!jv_is_valid(value)) {
      jv_free(named);
      return Status::Usage(fmt::format("--argjson {}: not a JSON text ({})", name, Message(jv_invalid_get_msg(value))));
    }
    // A name given twice keeps its first value, as with jq.
    if (jv_object_has(jv_copy(named), jv_string(name.c_str())))
      jv_free(value);
    else
      named = jv_object_set(named, jv_string(name.c_str()), value);
  }
  // As jq's own main sets them: modules from ~/.jq and beside the program
  // (import, include, get_search_list), and $ARGS (no positional ones).
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  std::string origin = n > 0 ? std::string(exe, static_cast<size_t>(n)) : std::string();
  origin = origin.substr(0, origin.rfind('/') == std::string::npos ? 0 : origin.rfind('/'));
  jq_set_attr(p->jq_, jv_string("JQ_ORIGIN"), jv_string(origin.c_str()));
  jq_set_attr(p->jq_, jv_string("JQ_LIBRARY_PATH"),
              JV_ARRAY(jv_string("~/.jq"), jv_string("$ORIGIN/../lib/jq"), jv_string("$ORIGIN/lib")));
  named = jv_object_set(named, jv_string("ARGS"),
                        JV_OBJECT(jv_string("positional"), jv_array(), jv_string("named"), jv_copy(named)));
  // jq 1.6 takes the named arguments as an object of $NAME values.
  if (!jq_compile_args(p->jq_, text.c_str(), named)) {
    // jq's messages on one line: "jq: error: WHAT at <top-level>, line N:"
    // and the program's text under it, then "jq: N compile error(s)".
    std::string all;
    for (std::string e : p->compile_errors_) {
      if (e.rfind("jq: error: ", 0) == 0) e.erase(0, 11);
      if (e.rfind("jq: ", 0) == 0 && e.find("compile error") != std::string::npos) continue;
      std::replace(e.begin(), e.end(), '\n', ' ');
      while (!e.empty() && e.back() == ' ') e.pop_back();
      all += (all.empty() ? "" : "; ") + e;
    }
    return Status::Usage(fmt::format("cannot compile the jq program: {}", all.empty() ? "error" : all));
  }
  p->compile_errors_.clear();
  p->projection_ = ParseProjection(text);
  p->picked_.resize(p->projection_.size());
  p->found_.resize(p->projection_.size());
  return p;
}

// {KEY, KEY: .A.B, "KEY": .A.B, "KEY", ...} with KEY an identifier that is
// not a keyword or a string without escapes, and .A.B a path of
// identifiers; no key twice. Anything else, comments included, is not a
// projection (an empty result) and runs in jq.
std::vector<Program::Field> Program::ParseProjection(std::string_view t) {
  size_t i = 0;
  auto space = [&] {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) i++;
  };
  auto ident = [&] {
    size_t from = i;
    if (i < t.size() && IsIdentStart(t[i]))
      while (++i < t.size() && IsIdentChar(t[i])) {
      }
    return t.substr(from, i - from);
  };
  std::vector<Field> fields;
  space();
  if (i == t.size() || t[i++] != '{') return {};
  for (;;) {
    space();
    Field f;
    if (i < t.size() && t[i] == '"') {
      size_t end = t.find('"', i + 1);
      if (end == std::string_view::npos) return {};
      f.key = std::string(t.substr(i + 1, end - i - 1));
      for (char c : f.key)
        if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return {};
      i = end + 1;
    } else {
      std::string_view w = ident();
      if (w.empty() || (i < t.size() && t[i] == ':' && i + 1 < t.size() && t[i + 1] == ':')) return {};
      f.key = std::string(w);
    }
    space();
    if (i < t.size() && t[i] == ':') {
      i++;
      space();
      while (i < t.size() && t[i] == '.') {
        i++;
        std::string_view w = ident();
        if (w.empty()) return {};
        f.path.emplace_back(w);
      }
      if (f.path.empty()) return {};
      space();
    } else {
      if (t[i - 1] != '"' && IsKeyword(f.key)) return {};
      f.path.push_back(f.key);
    }
    for (const Field& g : fields)
      if (g.key == f.key) return {};
    json::AppendQuoted(&f.quoted, f.key, /*escape_del=*/true);
    f.quoted.push_back(':');
    fields.push_back(std::move(f));
    if (i < t.size() && t[i] == ',') {
      i++;
      continue;
    }
    if (i < t.size() && t[i] == '}') break;
    return {};
  }
  i++;
  space();
  if (i != t.size() || fields.empty()) return {};
  return fields;
}

Program::~Program() {
  for (auto& [name, k] : keys_) jv_free(k);
  if (jq_) jq_teardown(&jq_);
}

Status Program::Run(simdjson::dom::element value, const Emit& emit) {
  if (!halted_.ok()) return halted_;
  if (!projection_.empty() && value.type() == simdjson::dom::element_type::OBJECT) {
    bool handled = false;
    Status st = RunProjection(value, emit, &handled);
    if (handled) return st;
  }
  faithful_ = true;
  jv in = ToJv(value);
  return RunJv(in, faithful_, emit);
}

// The projection as jq runs it: each field's first step is the last
// member of that name (jq keeps the last of repeated keys), a missing one
// or null gives null, further steps index objects the same way. Falls back
// to jq on what jq would reject (indexing a number, an array, a string),
// on repeated keys inside a value it writes, and when the output may equal
// the input: the caller then writes the input's own bytes, and only jq's
// equality says when.
Status Program::RunProjection(simdjson::dom::element value,
                              const Emit& emit, bool* handled) {
  const size_t n = projection_.size();
  std::fill(found_.begin(), found_.end(), false);
  // Whether the input's keys are exactly the output's: then the output may
  // be the input.
  bool same_keys = true;
  size_t keys_found = 0;
  uint64_t key_seen = 0;  // bit per field (the first 64) whose key the input has
  for (auto [key, member] : simdjson::dom::object(value)) {
    bool is_output_key = false;
    for (size_t f = 0; f < n; f++) {
      const Field& field = projection_[f];
      if (field.path[0] == key) {
        picked_[f] = member;
        found_[f] = true;
      }
      if (field.key == key) {
        is_output_key = true;
        if (f < 64 && !(key_seen >> f & 1)) {
          key_seen |= uint64_t{1} << f;
          keys_found++;
        }
      }
    }
    if (!is_output_key) same_keys = false;
  }
  if (same_keys && (n > 64 || keys_found == n)) return Status::OK();  // jq decides
  out_.clear();
  out_.push_back('{');
  for (size_t f = 0; f < n; f++) {
    const Field& field = projection_[f];
    simdjson::dom::element v = picked_[f];
    bool null = !found_[f] || v.is_null();
    for (size_t step = 1; step < field.path.size() && !null; step++) {
      if (v.type() != simdjson::dom::element_type::OBJECT) return Status::OK();  // jq's error
      bool found = false;
      for (auto [key, member] : simdjson::dom::object(v))
        if (key == field.path[step]) {
          v = member;
          found = true;
        }
      null = !found || v.is_null();
    }
    if (f) out_.push_back(',');
    out_.append(field.quoted);
    if (null) {
      out_.append("null");
    } else if (!AppendElement(&out_, v)) {
      return Status::OK();
    }
  }
  out_.push_back('}');
  *handled = true;
  return emit(out_, false);
}

namespace {

// Of JSON text that jq parsed: whether it is JSON by the grammar (jq also
// reads "012", ".5", "nan"), with `*keys` the object keys it writes (one
// ':' each, outside strings).
bool ScanText(std::string_view t, size_t* keys) {
  *keys = 0;
  bool beyond = false;  // a number past the largest double, which jq reads as that
  bool ok = json::ForEachToken(t, [&](json::JsonToken kind, std::string_view text) {
    if (kind == json::JsonToken::kOther && text == ":") ++*keys;
    if (kind == json::JsonToken::kNumber && !beyond) {
      std::string n(text);
      beyond = std::isinf(std::strtod(n.c_str(), nullptr));
    }
  });
  return ok && !beyond;
}

// Whether `a` and `b`, equal as jq compares (jv_equal), also have their
// objects' members in the same order, at every depth: what jq -c writes of
// them is then the same. Borrows both.
bool SameOrder(jv a, jv b) {
  if (jv_get_kind(a) == JV_KIND_ARRAY && jv_get_kind(b) == JV_KIND_ARRAY) {
    int n = jv_array_length(jv_copy(a));
    bool same = true;
    for (int i = 0; i < n && same; i++) {
      jv x = jv_array_get(jv_copy(a), i), y = jv_array_get(jv_copy(b), i);
      same = SameOrder(x, y);
      jv_free(x);
      jv_free(y);
    }
    return same;
  }
  if (jv_get_kind(a) != JV_KIND_OBJECT || jv_get_kind(b) != JV_KIND_OBJECT) return true;
  int i = jv_object_iter(a), j = jv_object_iter(b);
  bool same = true;
  for (; same && jv_object_iter_valid(a, i) && jv_object_iter_valid(b, j);
       i = jv_object_iter_next(a, i), j = jv_object_iter_next(b, j)) {
    jv ka = jv_object_iter_key(a, i), kb = jv_object_iter_key(b, j);
    same = jv_equal(ka, kb);  // (frees both)
    if (!same) break;
    jv x = jv_object_iter_value(a, i), y = jv_object_iter_value(b, j);
    same = SameOrder(x, y);
    jv_free(x);
    jv_free(y);
  }
  return same;
}

// The members of every object in `v` (borrowed).
size_t CountMembers(jv v) {
  size_t n = 0;
  if (jv_get_kind(v) == JV_KIND_OBJECT) {
    for (int it = jv_object_iter(v); jv_object_iter_valid(v, it); it = jv_object_iter_next(v, it)) {
      jv e = jv_object_iter_value(v, it);
      n += 1 + CountMembers(e);
      jv_free(e);
    }
  } else if (jv_get_kind(v) == JV_KIND_ARRAY) {
    int len = jv_array_length(jv_copy(v));
    for (int k = 0; k < len; k++) {
      jv e = jv_array_get(jv_copy(v), k);
      n += CountMembers(e);
      jv_free(e);
    }
  }
  return n;
}

}  // namespace

Status Program::RunText(std::string_view json, const Emit& emit,
                        bool* parsed) {
  jv in = jv_parse_sized(json.data(), static_cast<int>(json.size()));
  *parsed = jv_is_valid(in);
  if (!*parsed) {
    jv_free(in);
    return Status::OK();
  }
  if (!halted_.ok()) {
    jv_free(in);
    return halted_;
  }
  // The input's own bytes stand for an output equal to it only when they
  // are JSON (an integer beyond 64 bits is; "012" is not), repeat no key
  // and hold no number past the largest double (1e400, which jq reads as
  // 1.7976931348623157e+308 and the other tools refuse).
  size_t keys = 0;
  bool faithful = ScanText(json, &keys) && keys == CountMembers(in);
  return RunJv(in, faithful, emit);
}

namespace {

// After halt or halt_error, as jq 1.6's main writes it: the exit status
// asked for (halt: 0; halt_error: 5 unless given), and the message on
// standard error, a string as it is, null as nothing, any other value as
// compact JSON and a line end.
Status HaltStatus(jq_state* jq) {
  jv code = jq_get_exit_code(jq);
  int exit_code = 0;
  if (jv_get_kind(code) == JV_KIND_NUMBER) {
    double n = jv_number_value(code);  // as jq's exit(), modulo 256; kept in an int's range
    exit_code = std::isfinite(n) ? static_cast<int>(std::clamp(n, -1e9, 1e9)) : 5;
  } else if (jv_is_valid(code)) {
    exit_code = 5;
  }
  jv_free(code);
  jv msg = jq_get_error_message(jq);
  std::string text;
  if (jv_get_kind(msg) == JV_KIND_STRING) {
    text.assign(jv_string_value(msg), static_cast<size_t>(jv_string_length_bytes(jv_copy(msg))));
  } else if (jv_is_valid(msg) && jv_get_kind(msg) != JV_KIND_NULL) {
    jv dump = jv_dump_string(jv_copy(msg), 0);
    text = jv_string_value(dump);
    text.push_back('\n');
    jv_free(dump);
  }
  jv_free(msg);
  return Status::Halted(exit_code, std::move(text));
}

}  // namespace

Status Program::RunJv(jv in, bool may_be_unchanged, const Emit& emit) {
  jq_start(jq_, jv_copy(in), 0);
  Status st;
  for (;;) {
    jv r = jq_next(jq_);
    if (!jv_is_valid(r)) {
      if (jq_halted(jq_)) {
        jv_free(r);
        halted_ = st = HaltStatus(jq_);
      } else if (jv_invalid_has_msg(jv_copy(r))) {
        std::string msg = Message(jv_invalid_get_msg(r));
        st = Status::BadInput(fmt::format("jq: error: {}", msg));
      } else {
        jv_free(r);  // the end of the outputs
      }
      break;
    }
    // Equal as jq compares, but for the order of members (`{a,b}` of
    // {"b":1,"a":2}): changed.
    bool unchanged = may_be_unchanged && (jv_identical(jv_copy(r), jv_copy(in)) ||
                                          (jv_equal(jv_copy(r), jv_copy(in)) && SameOrder(r, in)));
    if (unchanged) {
      jv_free(r);
      st = emit({}, true);
    } else {
      out_.clear();
      AppendJv(&out_, r);
      jv_free(r);
      st = emit(out_, false);
    }
    if (!st.ok()) break;
  }
  jv_free(in);
  return st;
}

}  // namespace kpipe::jq
