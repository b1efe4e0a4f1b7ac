#include "kpipe/json/scan.h"

#include <catch2/catch.hpp>

using namespace kpipe::json;

TEST_CASE("ObjectReader yields raw member spans byte for byte") {
  std::string_view text = R"({ "a" : {"x": [1, "}"]} , "b":"q\"}",  "c":-1.5e3,"d":null })";
  ObjectReader r(text);
  std::string_view k, v;
  REQUIRE(r.Next(&k, &v));
  CHECK(k == "\"a\"");
  CHECK(v == R"({"x": [1, "}"]})");
  REQUIRE(r.Next(&k, &v));
  CHECK(k == "\"b\"");
  CHECK(v == R"("q\"}")");
  REQUIRE(r.Next(&k, &v));
  CHECK(v == "-1.5e3");
  REQUIRE(r.Next(&k, &v));
  CHECK(v == "null");
  CHECK_FALSE(r.Next(&k, &v));
  CHECK(r.ok());
}

TEST_CASE("ArrayReader walks nested arrays") {
  ArrayReader r(R"([["h1","v"],["h1",{"a":1},"x"], []])");
  std::string_view v;
  REQUIRE(r.Next(&v));
  CHECK(v == R"(["h1","v"])");
  REQUIRE(r.Next(&v));
  CHECK(v == R"(["h1",{"a":1},"x"])");
  REQUIRE(r.Next(&v));
  CHECK(v == "[]");
  CHECK_FALSE(r.Next(&v));
  CHECK(r.ok());
}

TEST_CASE("Readers report non-objects and truncation") {
  ObjectReader r("[1]");
  std::string_view k, v;
  CHECK_FALSE(r.Next(&k, &v));
  CHECK_FALSE(r.ok());
  ObjectReader t(R"({"a":{"b":1)");
  CHECK_FALSE(t.Next(&k, &v));
  CHECK_FALSE(t.ok());
}
