#include "kpipe/json/path.h"

#include <random>
#include <string>
#include <vector>

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

namespace {

// The naive reference: simdjson's own object iteration, the first member of
// the key; a numeric step indexes an array; null is missing.
bool Naive(simdjson::dom::element cur, const std::vector<std::string>& steps, simdjson::dom::element* out) {
  for (const std::string& key : steps) {
    if (cur.is_object()) {
      bool found = false;
      simdjson::dom::object o;
      REQUIRE(cur.get_object().get(o) == simdjson::SUCCESS);
      for (simdjson::dom::key_value_pair m : o) {
        if (m.key == key) {
          cur = m.value;
          found = true;
          break;
        }
      }
      if (!found) return false;
    } else if (cur.is_array() && !key.empty() && key.size() < 10 &&
               key.find_first_not_of("0123456789") == std::string::npos) {
      if (cur.get_array().at(std::stoul(key)).get(cur) != simdjson::SUCCESS) return false;
    } else {
      return false;
    }
  }
  if (cur.is_null()) return false;
  *out = cur;
  return true;
}

// A random value of keys from a small set (so that they repeat, within an
// object too), every type, nested.
std::string RandomValue(std::mt19937& rng, int depth) {
  static const char* keys[] = {"a", "b", "ab", "0", "1", "key", "k\\u0065y", "a.b", "", "\\n", "é"};
  static const char* scalars[] = {"1", "-2", "18446744073709551615", "1.5", "1e300", "\"s\"", "\"\"",
                                  "true", "false", "null", "\"x\\\"y\""};
  int kind = depth >= 4 ? 2 : static_cast<int>(rng() % 3);
  std::string s;
  if (kind == 0) {
    s = "{";
    for (int n = static_cast<int>(rng() % 5), i = 0; i < n; i++) {
      if (i) s += ",";
      s += "\"";
      s += keys[rng() % std::size(keys)];
      s += "\":" + RandomValue(rng, depth + 1);
    }
    return s + "}";
  }
  if (kind == 1) {
    s = "[";
    for (int n = static_cast<int>(rng() % 4), i = 0; i < n; i++) s += (i ? "," : "") + RandomValue(rng, depth + 1);
    return s + "]";
  }
  return scalars[rng() % std::size(scalars)];
}

}  // namespace

TEST_CASE("Lookup finds what a naive walk finds, over random documents and paths") {
  std::mt19937 rng(7);
  simdjson::dom::parser parser;
  static const char* steps[] = {"a", "b", "ab", "0", "1", "2", "key", "a.b", "\n", "é", "zz"};
  int found = 0;
  for (int round = 0; round < 4000; round++) {
    std::string doc = RandomValue(rng, 0);
    simdjson::dom::element root;
    REQUIRE(parser.parse(doc).get(root) == simdjson::SUCCESS);
    for (int q = 0; q < 8; q++) {
      std::vector<std::string> path;
      std::string pointer;
      for (int n = 1 + static_cast<int>(rng() % 3), i = 0; i < n; i++) {
        path.emplace_back(steps[rng() % std::size(steps)]);
        pointer += "/" + path.back();
      }
      auto p = FieldPath::Parse(pointer);
      REQUIRE(p.ok());
      simdjson::dom::element want, got;
      bool w = Naive(root, path, &want);
      bool g = p->Lookup(root, &got);
      INFO(doc << " " << pointer);
      REQUIRE(g == w);
      if (g) CHECK(simdjson::to_string(got) == simdjson::to_string(want));
      found += g;
    }
  }
  CHECK(found > 1000);  // the paths do find values
}
