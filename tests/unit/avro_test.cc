#include "kpipe/schema/avro.h"

#include <catch2/catch.hpp>

#include <string>

using kpipe::schema::AvroSchema;

namespace {

std::unique_ptr<AvroSchema> Compile(const std::string& text, const std::vector<kpipe::schema::Reference>& refs = {}) {
  auto s = AvroSchema::Parse(text, refs);
  INFO((s.ok() ? std::string() : s.status().message()));
  REQUIRE(s.ok());
  return std::move(*s);
}

kpipe::Status EncodeJson(const AvroSchema& s, const std::string& json, std::string* out) {
  simdjson::dom::parser p;
  simdjson::dom::element v;
  REQUIRE(p.parse(json).get(v) == simdjson::SUCCESS);
  return s.Encode(v, out);
}

// Encodes `json` by `schema`; fails the test on error.
std::string Encode(const AvroSchema& s, const std::string& json) {
  std::string out;
  kpipe::Status st = EncodeJson(s, json, &out);
  INFO(json << ": " << st.message());
  REQUIRE(st.ok());
  return out;
}

std::string EncodeError(const AvroSchema& s, const std::string& json) {
  std::string out;
  kpipe::Status st = EncodeJson(s, json, &out);
  REQUIRE_FALSE(st.ok());
  return st.message();
}

std::string Decode(const AvroSchema& s, const std::string& bytes) {
  std::string json;
  kpipe::Status st = s.Decode(bytes, &json);
  INFO(st.message());
  REQUIRE(st.ok());
  return json;
}

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

}  // namespace

TEST_CASE("avro: the spec's encodings of primitives") {
  auto l = Compile("\"long\"");
  CHECK(Encode(*l, "0") == Bytes({0x00}));
  CHECK(Encode(*l, "-1") == Bytes({0x01}));
  CHECK(Encode(*l, "1") == Bytes({0x02}));
  CHECK(Encode(*l, "-64") == Bytes({0x7f}));
  CHECK(Encode(*l, "64") == Bytes({0x80, 0x01}));
  CHECK(Decode(*l, Bytes({0x80, 0x01})) == "64");
  CHECK(Decode(*l, Encode(*l, "-9223372036854775808")) == "-9223372036854775808");
  CHECK(Decode(*l, Encode(*l, "9223372036854775807")) == "9223372036854775807");
  auto s = Compile("{\"type\":\"string\"}");
  CHECK(Encode(*s, "\"foo\"") == Bytes({0x06, 'f', 'o', 'o'}));
  CHECK(Decode(*s, Bytes({0x06, 'f', 'o', 'o'})) == "\"foo\"");
  CHECK(Decode(*s, Encode(*s, "\"line\\nbreak \\u00e9\"")) == "\"line\\nbreak \u00e9\"");
  auto d = Compile("\"double\"");
  CHECK(Decode(*d, Encode(*d, "0.1")) == "0.1");
  CHECK(Decode(*d, Encode(*d, "\"NaN\"")) == "\"NaN\"");
  CHECK(Decode(*d, Encode(*d, "\"-Infinity\"")) == "\"-Infinity\"");
  auto f = Compile("\"float\"");
  CHECK(Decode(*f, Encode(*f, "1.5")) == "1.5");
  // -0 keeps its sign through JSON (-0 alone would be read back as 0).
  CHECK(Decode(*f, Encode(*f, "-0.0")) == "-0.0");
  CHECK(Decode(*d, Encode(*d, "-0.0")) == "-0.0");
  CHECK(Decode(*d, Encode(*d, Decode(*d, Encode(*d, "-0.0")))) == "-0.0");
  CHECK(EncodeError(*f, "1e39") == "1e+39 is out of a float's range");
  auto dec = Compile(R"({"type":"bytes","logicalType":"decimal","precision":20,"scale":2})");
  CHECK(Decode(*dec, Encode(*dec, "\"12345678901234567.89\"")) == "\"12345678901234567.89\"");
  CHECK(Decode(*dec, Encode(*dec, "1234567.89")) == "1234567.89");
  CHECK(EncodeError(*dec, "12345678901234567.89").find("must be given as a string") != std::string::npos);
  CHECK(EncodeError(*dec, "9999999999999999.99").find("must be given as a string") != std::string::npos);
  CHECK(EncodeError(*dec, "89999999999999.99").find("must be given as a string") != std::string::npos);
  auto wide = Compile(R"({"type":"bytes","logicalType":"decimal","precision":38,"scale":18})");
  CHECK(Decode(*wide, Encode(*wide, "1.5")) == "\"1.500000000000000000\"");
  CHECK(Decode(*wide, Encode(*wide, "0.000123")) == "\"0.000123000000000000\"");
  // The largest float, as the decoder writes it, encodes again.
  CHECK(Decode(*f, Encode(*f, Decode(*f, Encode(*f, "3.4028234663852886e38")))) == "3.4028235e+38");
  auto b = Compile("\"boolean\"");
  CHECK(Encode(*b, "true") == Bytes({0x01}));
  auto i = Compile("\"int\"");
  CHECK(EncodeError(*i, "2147483648") == "2147483648 is out of an int's range");
  CHECK(Decode(*i, Encode(*i, "1e3")) == "1000");
  CHECK(EncodeError(*i, "1.5") == "expected an integer, got 1.5");
  auto bytes = Compile("\"bytes\"");
  CHECK(Encode(*bytes, "\"\\u0000\\u00ff\"") == Bytes({0x04, 0x00, 0xff}));
  CHECK(Decode(*bytes, Bytes({0x04, 0x00, 0xff})) == "\"\\u0000\u00ff\"");
  CHECK(EncodeError(*bytes, "\"\\u0100\"") == "bytes are code points U+0000 to U+00FF");
}

TEST_CASE("avro: records, nesting, arrays, maps, enums, fixed") {
  auto s = Compile(R"({"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"long"},
    {"name":"customer","type":{"type":"record","name":"Customer","fields":[
      {"name":"name","type":"string"},{"name":"tier","type":{"type":"enum","name":"Tier","symbols":["FREE","PRO"]}}]}},
    {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
      {"name":"sku","type":"string"},{"name":"qty","type":"int"}]}}},
    {"name":"tags","type":{"type":"map","values":"string"}},
    {"name":"hash","type":{"type":"fixed","name":"Hash","size":2}},
    {"name":"again","type":"Customer"}]})");
  std::string json =
      R"({"id":7,"customer":{"name":"ann","tier":"PRO"},"items":[{"sku":"a","qty":1},{"sku":"b","qty":2}],)"
      R"("tags":{"k":"v"},"hash":"ab","again":{"name":"bob","tier":"FREE"}})";
  CHECK(Decode(*s, Encode(*s, json)) == json);
  CHECK(Decode(*s, Encode(*s, R"({"id":7,"customer":{"name":"ann","tier":"PRO"},"items":[],"tags":{},"hash":"ab","again":{"name":"b","tier":"FREE"}})")) ==
        R"({"id":7,"customer":{"name":"ann","tier":"PRO"},"items":[],"tags":{},"hash":"ab","again":{"name":"b","tier":"FREE"}})");
  // Failures name the path.
  CHECK(EncodeError(*s, R"({"id":7,"customer":{"name":"ann","tier":"PRO"},"items":[{"sku":"a","qty":1},{"sku":"b","qty":"2"}],"tags":{},"hash":"ab","again":{"name":"b","tier":"FREE"}})") ==
        ".items[1].qty: expected an integer, got string");
  CHECK(EncodeError(*s, R"({"id":7,"customer":{"name":"ann","tier":"GOLD"},"items":[],"tags":{},"hash":"ab","again":{"name":"b","tier":"FREE"}})") ==
        ".customer.tier: \"GOLD\" is not a symbol of enum shop.Tier");
  CHECK(EncodeError(*s, R"({"id":7,"extra":1})") == ".extra: not a field of record shop.Order");
  CHECK(EncodeError(*s, R"({"id":7})") == ".customer: missing, and the field has no default");
  CHECK(EncodeError(*s, R"({"id":7,"customer":{"name":"ann","tier":"PRO"},"items":[],"tags":{},"hash":"abc","again":{"name":"b","tier":"FREE"}})") ==
        ".hash: fixed shop.Hash holds 2 bytes, not 3");
  // Blocks with a byte size (negative counts), as Java writers may use.
  auto a = Compile(R"({"type":"array","items":"int"})");
  CHECK(Decode(*a, Bytes({0x03, 0x04, 0x02, 0x04, 0x00})) == "[1,2]");
  CHECK(Decode(*a, Bytes({0x02, 0x02, 0x02, 0x04, 0x00})) == "[1,2]");
}

TEST_CASE("avro: unions unwrapped, defaults, recursion, references") {
  auto s = Compile(R"({"type":"record","name":"U","fields":[
    {"name":"maybe","type":["null","string"],"default":null},
    {"name":"num","type":["null","long","double"]},
    {"name":"n","type":"int","default":42},
    {"name":"next","type":["null","U"],"default":null}]})");
  CHECK(Decode(*s, Encode(*s, R"({"num":null})")) == R"({"maybe":null,"num":null,"n":42,"next":null})");
  CHECK(Decode(*s, Encode(*s, R"({"maybe":"x","num":3,"next":{"num":2.5}})")) ==
        R"({"maybe":"x","num":3,"n":42,"next":{"maybe":null,"num":2.5,"n":42,"next":null}})");
  // The wrapped form picks a branch the value would not pick by itself.
  CHECK(Decode(*s, Encode(*s, R"({"num":{"double":3}})")) == R"({"maybe":null,"num":3,"n":42,"next":null})");
  CHECK(Encode(*s, R"({"num":{"double":3}})").substr(0, 3) == Bytes({0x00, 0x04, 0x00}));
  CHECK(EncodeError(*s, R"({"num":"x"})") == ".num: expected one of [null, long, double], got string");
  // A float branch takes only what a float holds exactly: a copy of the
  // topic must not change a value (16777217 is no float, nor is 0.1).
  auto f = Compile(R"({"type":"record","name":"F","fields":[{"name":"x","type":["null","float","double"]}]})");
  for (const char* x : {"0.5", "16777216", "-3", "1.2676506002282294e30"}) {
    INFO(x);
    CHECK(Encode(*f, std::string(R"({"x":)") + x + "}").substr(0, 1) == Bytes({0x02}));  // float
  }
  for (const char* x : {"0.1", "16777217", "9007199254740993", "1e30", "18446744073709551615"}) {
    INFO(x);
    CHECK(Encode(*f, std::string(R"({"x":)") + x + "}").substr(0, 1) == Bytes({0x04}));  // double
  }
  CHECK(Decode(*f, Encode(*f, R"({"x":16777217})")) == R"({"x":16777217})");
  auto r = Compile(R"({"type":"record","name":"Outer","namespace":"app","fields":[{"name":"c","type":"common.Money"}]})",
                   {{"common.Money", R"({"type":"record","name":"Money","namespace":"common","fields":[{"name":"cents","type":"long"}]})"}});
  CHECK(Decode(*r, Encode(*r, R"({"c":{"cents":5}})")) == R"({"c":{"cents":5}})");
}

TEST_CASE("avro: decimals are exact") {
  auto b = Compile(R"({"type":"bytes","logicalType":"decimal","precision":9,"scale":2})");
  CHECK(Encode(*b, "12.34") == Bytes({0x04, 0x04, 0xd2}));  // 1234
  CHECK(Decode(*b, Bytes({0x04, 0x04, 0xd2})) == "12.34");
  CHECK(Decode(*b, Encode(*b, "-0.05")) == "-0.05");
  CHECK(Decode(*b, Encode(*b, "-1.28")) == "-1.28");  // -128: one byte
  CHECK(Encode(*b, "-1.28") == Bytes({0x02, 0x80}));
  CHECK(Decode(*b, Encode(*b, "1.28")) == "1.28");  // 128 needs a sign byte
  CHECK(Encode(*b, "1.28") == Bytes({0x04, 0x00, 0x80}));
  CHECK(Decode(*b, Encode(*b, "0")) == "0.00");
  CHECK(Decode(*b, Encode(*b, "\"1234567.89\"")) == "1234567.89");
  CHECK(Decode(*b, Encode(*b, "5")) == "5.00");
  CHECK(Decode(*b, Encode(*b, "1.5e2")) == "150.00");
  CHECK(EncodeError(*b, "1.234") == "1.234 has more than 2 digits after the point");
  CHECK(EncodeError(*b, "\"12345678.9\"") == "12345678.9 has more than 9 digits");
  auto f = Compile(R"({"type":"fixed","name":"D","size":16,"logicalType":"decimal","precision":38,"scale":4})");
  CHECK(Decode(*f, Encode(*f, "\"-12345678901234567890123456789.1234\"")) == "\"-12345678901234567890123456789.1234\"");
  CHECK(Encode(*f, "-1").size() == 16);
  // A decimal's default is its bytes, as the spec gives a bytes or fixed
  // default (registries refuse a number there); a number is taken too.
  auto d = Compile(R"({"type":"record","name":"R","fields":[
    {"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":"\u0001\u0000"},
    {"name":"b","type":{"type":"fixed","name":"F","size":2,"logicalType":"decimal","precision":4,"scale":1},
     "default":"\u0000\u0007"},
    {"name":"c","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":3.5},
    {"name":"e","type":{"type":"bytes","logicalType":"decimal","precision":5,"scale":2},"default":"2.56"}]})");
  // ("2.56" as bytes would be 842954038, past the precision: its digits.)
  CHECK(Decode(*d, Encode(*d, "{}")) == R"({"a":2.56,"b":0.7,"c":3.50,"e":2.56})");
  CHECK(AvroSchema::Parse(R"({"type":"record","name":"R","fields":[{"name":"a","default":"\u0001",
    "type":{"type":"fixed","name":"G","size":2,"logicalType":"decimal","precision":4,"scale":1}}]})")
            .status()
            .message() == "Avro schema: record R: the default of a does not fit its type: fixed G holds 2 bytes, not 1");
}

TEST_CASE("avro: a long out of range is named so") {
  auto l = Compile(R"("long")");
  CHECK(EncodeError(*l, "9223372036854775808") == "9223372036854775808 is out of a long's range");
  CHECK(EncodeError(*l, "1e19") == "1e+19 is out of a long's range");
  CHECK(EncodeError(*l, "1.5") == "expected an integer, got 1.5");
  CHECK(Decode(*l, Encode(*l, "9.21e18")) == "9210000000000000000");
  auto i = Compile(R"("int")");
  CHECK(EncodeError(*i, "9223372036854775808") == "9223372036854775808 is out of an int's range");
}

TEST_CASE("avro: a union keeps NaN and Infinity apart from the strings of those names") {
  // With a string branch, a string is a string, and a float or double JSON
  // has no number for comes wrapped; without one, its name will do.
  auto u = Compile(R"(["null","int","long","float","double","string"])");
  CHECK(Decode(*u, Encode(*u, "\"NaN\"")) == "\"NaN\"");
  CHECK(Decode(*u, Encode(*u, "\"-Infinity\"")) == "\"-Infinity\"");
  CHECK(Decode(*u, Encode(*u, R"({"double":"NaN"})")) == R"({"double":"NaN"})");
  CHECK(Decode(*u, Encode(*u, R"({"float":"Infinity"})")) == R"({"float":"Infinity"})");
  CHECK(Decode(*u, Encode(*u, "1.5")) == "1.5");
  // A float beside a double keeps its value: written as the double it is.
  auto fd = Compile(R"(["float","double"])");
  CHECK(Decode(*fd, Encode(*fd, R"({"float":0.1})")) == "0.10000000149011612");
  CHECK(Encode(*fd, "0.10000000149011612") == Encode(*fd, R"({"float":0.1})"));
  CHECK(Decode(*fd, Encode(*fd, "0.5")) == "0.5");
  // A map branch does not take the wrapped form; bytes take a bare name.
  auto m = Compile(R"(["string","double",{"type":"map","values":"string"}])");
  CHECK(Decode(*m, Encode(*m, R"({"double":"NaN"})")) == R"({"double":"NaN"})");
  CHECK(Decode(*m, Encode(*m, R"({"x":"NaN"})")) == R"({"x":"NaN"})");
  auto b = Compile(R"(["bytes","double"])");
  CHECK(Decode(*b, Encode(*b, R"({"double":"-Infinity"})")) == R"({"double":"-Infinity"})");
  CHECK(Decode(*b, Encode(*b, "\"NaN\"")) == "\"NaN\"");
  auto n = Compile(R"(["null","double"])");
  CHECK(Decode(*n, Encode(*n, "\"NaN\"")) == "\"NaN\"");
  CHECK(Encode(*n, "\"NaN\"") == Encode(*n, R"({"double":"NaN"})"));
}

TEST_CASE("avro: defaults of inner records, and hostile data") {
  // The outer default leaves out a field of the inner record: its default.
  auto s = Compile(R"({"type":"record","name":"B","fields":[{"name":"a","default":{"x":1},"type":
    {"type":"record","name":"A","fields":[{"name":"x","type":"int"},{"name":"y","type":"int","default":5}]}}]})");
  CHECK(Decode(*s, Encode(*s, "{}")) == R"({"a":{"x":1,"y":5}})");
  // A list that holds itself: one byte per level, stopped at a depth.
  auto l = Compile(R"({"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]})");
  std::string json;
  CHECK(l->Decode(std::string(100000, '\x02'), &json).message().find("nested deeper than 1000 levels") !=
        std::string::npos);
  // A few bytes that claim millions of nulls.
  auto a = Compile(R"({"type":"array","items":"null"})");
  std::string many;
  for (int i = 0; i < 10; i++) many += Bytes({0xfe, 0xff, 0xff, 0x0f});  // 2^31 - 1... items, each block
  many.push_back(0);
  CHECK(a->Decode(many, &json).message() == "more items than the datum can hold");
  // A decimal of small precision with far too many bytes.
  auto d = Compile(R"({"type":"bytes","logicalType":"decimal","precision":4,"scale":0})");
  CHECK(d->Decode(Bytes({0x28}) + std::string(20, '\x01'), &json).message() == "20 bytes for a decimal of precision 4");
  // 38 digits: a string, exact.
  auto big = Compile(R"({"type":"bytes","logicalType":"decimal","precision":38,"scale":0})");
  CHECK(Decode(*big, Encode(*big, "\"12345678901234567890123456789012345678\"")) ==
        "\"12345678901234567890123456789012345678\"");
}

TEST_CASE("avro: bad data and bad schemas are refused") {
  auto s = Compile(R"({"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]})");
  std::string json;
  CHECK(s->Decode(Bytes({0x06, 'f', 'o'}), &json).message() == ".a: the datum is truncated");
  CHECK(s->Decode(Bytes({0x02, 'f', 0x02, 0x00}), &json).message() == "1 bytes left over after the datum");
  auto u = Compile(R"(["null","int"])");
  CHECK(u->Decode(Bytes({0x06}), &json).message() == "a union has no branch number 3");
  CHECK_FALSE(AvroSchema::Parse("{\"type\":\"record\",\"name\":\"X\"}").ok());
  CHECK(AvroSchema::Parse("\"Nope\"").status().message() == "Avro schema: unknown type \"Nope\"");
  CHECK_FALSE(AvroSchema::Parse("{not json").ok());
  CHECK(AvroSchema::Parse(R"({"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]})")
            .status()
            .message() == "Avro schema: record R: the default of a does not fit its type: expected an integer, got string");
}
