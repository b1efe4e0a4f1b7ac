#include "kpipe/jq/program.h"

extern "C" {
#include <jq.h>
#include <jv.h>
}

#include <fmt/format.h>

namespace kpipe::jq {

namespace {

// simdjson's DOM to jq's values. Numbers become doubles, as jq 1.6 parses
// them.
jv ToJv(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      jv o = jv_object();
      for (auto [key, value] : simdjson::dom::object(e))
        o = jv_object_set(o, jv_string_sized(key.data(), static_cast<int>(key.size())), ToJv(value));
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
  jv named = jv_object();
  for (const auto& [name, json] : args) {
    jv value = jv_parse_sized(json.data(), static_cast<int>(json.size()));
    if (!jv_is_valid(value)) {
      jv_free(named);
      return Status::Usage(fmt::format("--argjson {}: not a JSON text ({})", name, Message(jv_invalid_get_msg(value))));
    }
    named = jv_object_set(named, jv_string(name.c_str()), value);
  }
  // jq 1.6 takes the named arguments as an object of $NAME values.
  if (!jq_compile_args(p->jq_, text.c_str(), named)) {
    std::string all;
    for (const std::string& e : p->compile_errors_) all += (all.empty() ? "" : "; ") + e;
    return Status::Usage(fmt::format("cannot compile the jq program: {}", all.empty() ? "error" : all));
  }
  p->compile_errors_.clear();
  return p;
}

Program::~Program() {
  if (jq_) jq_teardown(&jq_);
}

Status Program::Run(simdjson::dom::element value, const std::function<Status(std::string_view, bool)>& emit) {
  jv in = ToJv(value);
  jq_start(jq_, jv_copy(in), 0);
  Status st;
  for (;;) {
    jv r = jq_next(jq_);
    if (!jv_is_valid(r)) {
      if (jv_invalid_has_msg(jv_copy(r))) {
        std::string msg = Message(jv_invalid_get_msg(r));
        st = Status::BadInput(fmt::format("jq: error: {}", msg));
      } else {
        jv_free(r);  // the end of the outputs
      }
      break;
    }
    bool unchanged = jv_identical(jv_copy(r), jv_copy(in)) || jv_equal(jv_copy(r), jv_copy(in));
    if (unchanged) {
      jv_free(r);
      st = emit({}, true);
    } else {
      jv text = jv_dump_string(r, 0);
      st = emit(std::string_view(jv_string_value(text), static_cast<size_t>(jv_string_length_bytes(jv_copy(text)))), false);
      jv_free(text);
    }
    if (!st.ok()) break;
  }
  jv_free(in);
  return st;
}

}  // namespace kpipe::jq
