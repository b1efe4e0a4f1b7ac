#include "kpipe/json/schema.h"
#include "kpipe/json/text.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

using kpipe::json::Schema;

namespace {

// The official JSON-Schema-Test-Suite (Debian's json-schema-test-suite).
const char* kSuite = "/usr/share/json-schema-test-suite/tests/draft7";

// Groups that need what kpipe does not do: fetch another schema document
// (refRemote, the draft-7 meta-schema by its URL) or resolve a $ref
// against a base URI that an "$id" changes.
const std::set<std::string> kRefused = {
    "refRemote.json: remote ref",
    "refRemote.json: fragment within remote ref",
    "refRemote.json: ref within remote ref",
    "refRemote.json: base URI change",
    "refRemote.json: base URI change - change folder",
    "refRemote.json: base URI change - change folder in subschema",
    "refRemote.json: root ref in remote ref",
    "definitions.json: valid definition",
    "definitions.json: invalid definition",
    "ref.json: remote ref, containing refs itself",
    "ref.json: Recursive references between schemas",
};

}  // namespace

TEST_CASE("schema: the draft-7 tests of the JSON-Schema-Test-Suite") {
  REQUIRE(std::filesystem::exists(kSuite));  // scripts/install-deps.sh installs it
  simdjson::dom::parser files;
  int passed = 0;
  std::set<std::string> refused;
  std::vector<std::string> failures;
  for (const auto& f : std::filesystem::directory_iterator(kSuite)) {
    if (f.path().extension() != ".json") continue;
    std::string file = f.path().filename().string();
    simdjson::padded_string text = simdjson::padded_string::load(f.path().string());
    simdjson::dom::element groups = files.parse(text);
    for (simdjson::dom::element g : groups.get_array()) {
      std::string name = file + ": " + std::string(std::string_view(g["description"]));
      auto schema = Schema::Parse(simdjson::minify(g["schema"]), name);
      if (!schema.ok()) {
        if (kRefused.count(name)) refused.insert(name);
        else failures.push_back(name + ": refused: " + schema.status().message());
        continue;
      }
      for (simdjson::dom::element t : g["tests"].get_array()) {
        // Each datum in a parser of its own: the schema's stays valid.
        simdjson::dom::parser p;
        std::string data = simdjson::minify(t["data"]);
        simdjson::dom::element v = p.parse(data);
        std::string why;
        bool got = (*schema)->Validate(v, &why);
        bool want = bool(t["valid"]);
        if (got == want) {
          passed++;
          if (!got) CHECK_FALSE(why.empty());
        } else {
          failures.push_back(name + " / " + std::string(std::string_view(t["description"])) + ": got " +
                             (got ? "valid" : "invalid (" + why + ")"));
        }
      }
    }
  }
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
  CHECK(passed > 380);
  CHECK(refused == kRefused);
}

TEST_CASE("schema: a failure names the path and the rule") {
  auto s = Schema::Parse(R"({"type":"object","required":["user"],"properties":{
      "user":{"type":"string","minLength":2},
      "amount":{"type":"number","minimum":0},
      "items":{"type":"array","items":{"type":"object","properties":{"sku":{"pattern":"^[a-z]+$"}}}}},
      "additionalProperties":false})", "s.json");
  REQUIRE(s.ok());
  simdjson::dom::parser p;
  auto why = [&](const char* json) {
    std::string w;
    return (*s)->Validate(p.parse(std::string_view(json)), &w) ? std::string("valid") : w;
  };
  CHECK(why(R"({"user":"ab","amount":3,"items":[{"sku":"x"}]})") == "valid");
  CHECK(why(R"({"amount":3})") == "(root): required: no property \"user\"");
  CHECK(why(R"({"user":"ab","amount":"3"})") == "/amount: type: expected number, got string");
  CHECK(why(R"({"user":"ab","amount":-1})") == "/amount: minimum: -1 is below 0");
  CHECK(why(R"({"user":"ab","items":[{"sku":"x"},{"sku":"X1"}]})") == "/items/1/sku: pattern: \"X1\" does not match ^[a-z]+$");
  CHECK(why(R"({"user":"ab","extra":1})") == "(root): additionalProperties: \"extra\" is not allowed");
  CHECK(why(R"({"user":"é"})") == "/user: minLength: 1 characters, fewer than 2");
}

TEST_CASE("schema: schemas kpipe cannot use are refused when read") {
  CHECK(Schema::Parse("{", "a.json").status().message().find("schema a.json: not JSON") == 0);
  CHECK(Schema::Parse("3", "a.json").status().message() == "schema a.json: a schema is an object or a boolean");
  CHECK(Schema::Parse(R"({"$ref":"http://example.com/s.json"})", "a.json").status().message().find("names nothing") !=
        std::string::npos);
  CHECK(Schema::Parse(R"({"$ref":"#/definitions/nope"})", "a.json").status().Is(kpipe::Status::Code::kUsage));
  CHECK(Schema::Parse(R"({"$ref":"#"})", "a.json").status().message().find("would never end") != std::string::npos);
  CHECK(Schema::Parse(R"({"definitions":{"a":{"allOf":[{"$ref":"#/definitions/b"}]},"b":{"not":{"$ref":"#/definitions/a"}}},"$ref":"#/definitions/a"})",
                      "a.json").status().message().find("would never end") != std::string::npos);
  // Recursion through a value is fine: a tree of nodes.
  auto tree = Schema::Parse(R"({"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}})", "t.json");
  REQUIRE(tree.ok());
  simdjson::dom::parser p;
  std::string why;
  CHECK((*tree)->Validate(p.parse(std::string_view(R"({"kids":[{"kids":[]},{"kids":[{}]}]})")), &why));
  CHECK_FALSE((*tree)->Validate(p.parse(std::string_view(R"({"kids":[{"kids":[3]}]})")), &why));
  CHECK(why == "/kids/0/kids/0: type: expected object, got integer");
  CHECK(Schema::Parse(R"({"pattern":"(unclosed"})", "a.json").status().message().find("pattern (unclosed") !=
        std::string::npos);
}

TEST_CASE("schema: patterns on characters, without a stack to blow") {
  simdjson::dom::parser p;
  std::string why;
  auto dot = Schema::Parse(R"({"pattern":"^.$"})", "a.json");
  REQUIRE(dot.ok());
  CHECK((*dot)->Validate(p.parse(std::string_view(R"("é")")), &why));
  auto alt = Schema::Parse(R"({"pattern":"^(a|b)*$"})", "a.json");
  REQUIRE(alt.ok());
  std::string big = "\"" + std::string(200000, 'a') + "\"";
  bool ok = (*alt)->Validate(p.parse(big), &why);  // std::regex overflowed the stack here
  INFO(why);
  CHECK(ok);
  auto evil = Schema::Parse(R"({"pattern":"^(a+)+$"})", "a.json");
  REQUIRE(evil.ok());
  CHECK_FALSE((*evil)->Validate(p.parse(std::string_view("\"" + std::string(40, 'a') + "!\"")), &why));
  CHECK(why.find("took too long") != std::string::npos);
}

TEST_CASE("schema: numbers compared exactly, messages whole characters, paths restored") {
  simdjson::dom::parser p;
  auto fits = [&](const char* schema, const char* value) {
    auto s = Schema::Parse(schema, "n.json");
    REQUIRE(s.ok());
    std::string why;
    return (*s)->Validate(p.parse(std::string_view(value)), &why);
  };
  CHECK_FALSE(fits(R"({"maximum":18446744073709551614})", "18446744073709551615"));
  CHECK_FALSE(fits(R"({"maximum":9007199254740992})", "9007199254740993"));
  CHECK_FALSE(fits(R"({"const":9223372036854775808})", "9223372036854775807"));
  CHECK(fits(R"({"uniqueItems":true})", "[9223372036854775807,9223372036854775808]"));
  CHECK_FALSE(fits(R"({"multipleOf":1})", "1000000000.5"));
  CHECK_FALSE(fits(R"({"multipleOf":2})", "18446744073709551615"));
  CHECK_FALSE(fits(R"({"multipleOf":2.0})", "3000000001"));
  CHECK(fits(R"({"multipleOf":2})", "18446744073709551614"));
  CHECK(fits(R"({"multipleOf":0.01})", "19.99"));
  // Fractions on the decimals written, exactly: money amounts past a
  // million, huge and tiny numbers.
  CHECK(fits(R"({"multipleOf":0.01})", "1234567.89"));
  CHECK(fits(R"({"multipleOf":0.01})", "99999999.99"));
  CHECK(fits(R"({"multipleOf":0.1})", "123456789.1"));
  CHECK(fits(R"({"multipleOf":0.01})", "1e308"));
  CHECK(fits(R"({"multipleOf":0.5})", "7"));
  CHECK(fits(R"({"multipleOf":0.01})", "-0.07"));
  CHECK(fits(R"({"multipleOf":1e-300})", "3e-299"));
  CHECK_FALSE(fits(R"({"multipleOf":0.01})", "0.015"));
  CHECK_FALSE(fits(R"({"multipleOf":0.01})", "1e-5"));
  CHECK_FALSE(fits(R"({"multipleOf":2.5})", "7.6"));
  CHECK_FALSE(fits(R"({"multipleOf":0.1})", "1.05"));
  CHECK_FALSE(fits(R"({"multipleOf":1e-20})", "1e-40"));
  // Beside $ref nothing applies: no cycle through "not" here.
  CHECK(fits(R"({"definitions":{"a":{"type":"integer"}},"$ref":"#/definitions/a","not":{"$ref":"#"}})", "3"));
  CHECK(fits(R"({"properties":{"a":{"$ref":""}},"type":"object"})", R"({"a":{}})"));

  auto s = Schema::Parse(R"({"if":{"properties":{"a":{"type":"string"}}},"else":{"required":["z"]}})", "p.json");
  REQUIRE(s.ok());
  std::string why;
  CHECK_FALSE((*s)->Validate(p.parse(std::string_view(R"({"a":1})")), &why));
  CHECK(why == "(root): required: no property \"z\"");
  auto e = Schema::Parse(R"({"enum":["x"]})", "e.json");
  REQUIRE(e.ok());
  std::string value = "\"" + std::string(35, 'a') + "ééé\"";
  CHECK_FALSE((*e)->Validate(p.parse(value), &why));
  CHECK(kpipe::json::IsUtf8(why));
}
