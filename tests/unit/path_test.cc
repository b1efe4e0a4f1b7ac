#include "kpipe/json/path.h"

#include <catch2/catch.hpp>

using namespace kpipe::json;

namespace {
std::string At(const char* json, const char* path) {
  static simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(std::string_view(json));
  auto p = FieldPath::Parse(path);
  REQUIRE(p.ok());
  simdjson::dom::element e;
  if (!p->Lookup(root, &e)) return "<missing>";
  return simdjson::to_string(e);
}
}  // namespace

TEST_CASE("Field paths of kpipe(7)") {
  const char* doc = R"({"user":"u1","geo":{"country":"ES"},"items":[{"sku":"a"},{"sku":"b"}],"a.b":{"c":7},"0":"zero","n":null})";
  CHECK(At(doc, "user") == "\"u1\"");
  CHECK(At(doc, ".user") == "\"u1\"");
  CHECK(At(doc, "geo.country") == "\"ES\"");
  CHECK(At(doc, ".geo.country") == "\"ES\"");
  CHECK(At(doc, "items.1.sku") == "\"b\"");
  CHECK(At(doc, "items.2.sku") == "<missing>");
  CHECK(At(doc, "/a.b/c") == "7");
  CHECK(At(doc, "0") == "\"zero\"");  // a numeric step names a key in an object
  CHECK(At(doc, "missing.deeper") == "<missing>");
  CHECK(At(doc, "n") == "<missing>");  // null counts as missing
  CHECK(At(doc, "user.x") == "<missing>");
}

TEST_CASE("Field path text and errors") {
  auto p = FieldPath::Parse(".geo.country");
  REQUIRE(p.ok());
  CHECK(p->text() == "geo.country");
  CHECK_FALSE(FieldPath::Parse("").ok());
  CHECK_FALSE(FieldPath::Parse("a..b").ok());
  CHECK_FALSE(FieldPath::Parse(".").ok());
  auto ptr = FieldPath::Parse("/a~1b/c~0d");
  REQUIRE(ptr.ok());
  static simdjson::dom::parser parser;
  simdjson::dom::element root = parser.parse(std::string_view(R"({"a/b":{"c~d":1}})"));
  simdjson::dom::element e;
  REQUIRE(ptr->Lookup(root, &e));
  CHECK(int64_t(e) == 1);
}
