// Schema: a JSON Schema (draft 7) that records are checked against, for
// --validate (kpipe(7), VALIDATION).
//
// Every draft-7 keyword that constrains a value is checked: type, enum,
// const, the number, string, array and object keywords, allOf, anyOf,
// oneOf, not, if/then/else, dependencies, propertyNames, contains, and
// $ref to a JSON Pointer or an "$id" anchor within the schema. "format"
// and the other annotations are not checked (draft 7 makes formats
// optional). A $ref to another document is refused when the schema is
// read: kpipe fetches nothing. Patterns are regular expressions in PCRE2's
// dialect (Perl's, which JSON Schema's ECMAScript patterns are written in
// as good as always), matched on characters (UTF-8), compiled when the
// schema is read; a match that takes too long (catastrophic backtracking)
// fails the record rather than hanging or crashing the tool.
//
// The schema is compiled once into a tree of nodes, each holding the
// keywords its subschema has, so that checking a record looks no keyword
// up. Immutable after Parse; Validate may run on several threads at once.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  ~Schema();
  Schema(const Schema&) = delete;
  Schema& operator=(const Schema&) = delete;

  // True when `value` satisfies the schema. Otherwise `*why` says where and
  // which rule failed, as "PATH: RULE" with PATH a JSON Pointer into the
  // value ("(root)" for the value itself): `/amount: type: expected number,
  // got string`. Only the first failure found is told.
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
  struct Node;
  using Element = simdjson::dom::element;
  Schema();
  // Compiles the subschema `s` found at JSON Pointer `at` ("#/properties/a").
  Result<const Node*> Build(Element s, const std::string& at);
  class Regex;
  Result<const Regex*> Compile(std::string_view pattern);
  bool Check(const Node* n, Element v, std::string& path, std::string* why) const;
  bool CheckNumber(const Node& n, Element v, const std::string& path, std::string* why) const;
  bool CheckString(const Node& n, Element v, const std::string& path, std::string* why) const;
  bool CheckArray(const Node& n, Element v, std::string& path, std::string* why) const;
  bool CheckObject(const Node& n, Element v, std::string& path, std::string* why) const;

  std::string name_;
  simdjson::dom::parser parser_;  // holds the schema text the nodes point into
  std::deque<Node> nodes_;
  const Node* root_ = nullptr;
  std::map<std::string, const Node*, std::less<>> at_;  // JSON Pointer, or "#anchor" of an $id
  std::map<std::string, std::unique_ptr<Regex>, std::less<>> regexes_;
};

}  // namespace kpipe::json
