// Schema: a JSON Schema (draft 7) that records are checked against, for
// --validate (kpipe(7), VALIDATION).
//
// Every draft-7 keyword that constrains a value is checked: type, enum,
// const, the number, string, array and object keywords, allOf, anyOf,
// oneOf, not, if/then/else, dependencies, propertyNames, contains, and
// $ref to a JSON Pointer or an "$id" anchor within the schema. "format"
// and the other annotations are not checked (draft 7 makes formats
// optional). A $ref to another document is refused when the schema is
// read: kpipe fetches nothing. Patterns are ECMAScript regular expressions
// (std::regex), compiled when the schema is read.
//
// Immutable after Parse; Validate may run on several threads at once.
#pragma once

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "kpipe/status.h"

namespace kpipe::json {

class Schema {
 public:
  // Reads a schema from its JSON text. Usage error (naming `name`, the
  // schema's file) for text that is not JSON, a schema that is neither an
  // object nor a boolean, a $ref to another document or to nothing, or a
  // pattern that does not compile.
  static Result<std::unique_ptr<Schema>> Parse(std::string_view text, const std::string& name);

  // True when `value` satisfies the schema. Otherwise `*why` says where and
  // which rule failed, as "PATH: RULE" with PATH a JSON Pointer into the
  // value ("" for the value itself): `/amount: type: expected number, got
  // string`. Only the first failure found is told.
  bool Validate(simdjson::dom::element value, std::string* why) const;

  // The same, with the reason for bad input: "schema NAME: PATH: RULE".
  bool Fits(simdjson::dom::element value, std::string* reason) const {
    std::string why;
    if (Validate(value, &why)) return true;
    *reason = "schema " + name_ + ": " + why;
    return false;
  }
  const std::string& name() const { return name_; }

 private:
  Schema() = default;
  using Element = simdjson::dom::element;
  // `s` is a (sub)schema, `v` the value at `path`.
  bool Check(Element s, Element v, std::string& path, std::string* why) const;
  bool CheckNumber(simdjson::dom::object s, Element v, const std::string& path, std::string* why) const;
  bool CheckString(simdjson::dom::object s, Element v, const std::string& path, std::string* why) const;
  bool CheckArray(simdjson::dom::object s, simdjson::dom::array a, std::string& path, std::string* why) const;
  bool CheckObject(simdjson::dom::object s, Element o, std::string& path, std::string* why) const;
  // The schema that `ref` names, or nothing.
  bool Resolve(std::string_view ref, Element* out) const;
  Status Prepare(Element s, const std::string& name);
  const std::regex* Regex(std::string_view pattern) const;

  std::string name_;
  simdjson::dom::parser parser_;
  Element root_;
  std::map<std::string, std::regex, std::less<>> regexes_;
  std::map<std::string, Element, std::less<>> anchors_;  // "$id": "#name" -> its schema
};

}  // namespace kpipe::json
