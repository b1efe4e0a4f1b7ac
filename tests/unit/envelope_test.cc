#include "kpipe/kafka/envelope.h"

#include <catch2/catch.hpp>

using namespace kpipe;

namespace {

struct Header {
  std::string name;
  std::optional<std::string> value;
};

// Encodes the parts into an envelope and decodes it again.
std::string Encode(std::optional<std::string> key, std::optional<std::string> value,
                   const std::vector<Header>& headers) {
  json::Validator v;
  EnvelopeFields f;
  f.topic = "t";
  f.partition = 2;
  f.offset = 9;
  f.timestamp = 1732441200123;
  f.timestamp_type = "create";
  if (key) {
    f.key = key->data();
    f.key_len = key->size();
  }
  if (value) {
    f.value = value->data();
    f.value_len = value->size();
  }
  rd_kafka_headers_t* h = rd_kafka_headers_new(headers.size());
  for (const Header& hd : headers)
    rd_kafka_header_add(h, hd.name.data(), hd.name.size(), hd.value ? hd.value->data() : nullptr,
                        hd.value ? hd.value->size() : 0);
  f.headers = h;
  std::string out;
  AppendEnvelope(&out, f, &v);
  rd_kafka_headers_destroy(h);
  return out;
}

void RoundTrip(std::optional<std::string> key, std::optional<std::string> value,
               const std::vector<Header>& headers = {}) {
  std::string line = Encode(key, value, headers);
  INFO(line);
  json::Validator v;
  REQUIRE(v.Valid(line));
  REQUIRE(line.find('\n') == std::string::npos);
  EnvelopeDecoder d;
  EnvelopeMessage m;
  REQUIRE(d.Decode(line, &m).ok());
  CHECK(m.key.has_value() == key.has_value());
  if (key && m.key) CHECK(std::string(*m.key) == *key);
  CHECK(m.value.has_value() == value.has_value());
  if (value && m.value) CHECK(std::string(*m.value) == *value);
  REQUIRE(m.headers.size() == headers.size());
  for (size_t i = 0; i < headers.size(); i++) {
    CHECK(std::string(m.headers[i].name) == headers[i].name);
    CHECK(m.headers[i].value.has_value() == headers[i].value.has_value());
    if (headers[i].value && m.headers[i].value) CHECK(std::string(*m.headers[i].value) == *headers[i].value);
  }
  CHECK(m.partition == 2);
  CHECK(m.timestamp == 1732441200123);
}

}  // namespace

TEST_CASE("Envelope round trips are exact") {
  RoundTrip(std::nullopt, std::nullopt);
  RoundTrip(std::string(), std::string());
  RoundTrip(std::string("k"), std::string("{\"id\":1,  \"x\" : [1 ,2]}"));
  RoundTrip(std::string("\"quoted\""), std::string("12.50"));
  RoundTrip(std::string("\xff\x00\x01", 3), std::string("\x80\x81", 2));
  RoundTrip(std::string("k"), std::string("{\"a\":\n1}"));  // JSON with a line break
  RoundTrip(std::string("k"), std::string(" 1"));           // leading space
  RoundTrip(std::string("k"), std::string("plain text é"));
  RoundTrip(std::string("null"), std::string("null"), {{"h", std::string("null")}});  // not a tombstone
  RoundTrip(std::string("k"), std::string("v"),
            {{"h1", std::string("a")}, {"h1", std::string("{\"j\":1}")}, {"h2", std::nullopt},
             {"h3", std::string("\xfe", 1)}, {"h4", std::string()}});
}

TEST_CASE("Envelope embeds JSON verbatim and marks other encodings") {
  std::string line = Encode(std::string("k"), std::string("{\"id\":1}"), {});
  CHECK(line == "{\"topic\":\"t\",\"partition\":2,\"offset\":9,\"timestamp\":1732441200123,"
                "\"timestamp_type\":\"create\",\"key\":\"k\",\"key_encoding\":\"string\","
                "\"headers\":[],\"value\":{\"id\":1}}");
  CHECK(Encode(std::nullopt, std::string(), {}).find("\"key\":null,\"headers\":[],\"value\":\"\",\"value_encoding\":\"string\"") != std::string::npos);
  CHECK(Encode(std::nullopt, std::string("\xff", 1), {}).find("\"value\":\"/w==\",\"value_encoding\":\"base64\"") != std::string::npos);
}

TEST_CASE("Payloads: JSON exactly when the whole of it parses, whatever its first and last bytes") {
  json::Validator v;
  auto form = [&v](std::string_view s) { return ClassifyPayload(s.data(), s.size(), &v); };
  for (std::string_view json : {"{\"a\":1}", "[1]", "\"x\"", "-1", "0", "12e3", "true", "false", "{}", "\"\""})
    CHECK(form(json) == PayloadForm::kJson);
  for (std::string_view text : {"u42", "null", "nul", "tru", "trueish", "1abc", "-", " 1", "1 ", "\"x", "{\"a\":1} ",
                                "[1]x", "1.", "e", "l", "}", "a\"b\""})
    CHECK(form(text) == PayloadForm::kString);
  CHECK(form(std::string_view("\xff", 1)) == PayloadForm::kBase64);
  CHECK(form(std::string()) == PayloadForm::kString);  // empty, not null
  CHECK(form(std::string_view()) == PayloadForm::kNull);
}

TEST_CASE("Envelope decoding: members by their unescaped names, the first of two with one name") {
  EnvelopeDecoder d;
  EnvelopeMessage m;
  REQUIRE(d.Decode(R"({"k\u0065y":"a","val\u0075e":{"x":1},"partition":1,"partition":2})", &m).ok());
  CHECK(std::string(*m.key) == R"("a")");  // embedded JSON: its text
  CHECK(std::string(*m.value) == R"({"x":1})");
  CHECK(m.partition == 1);
  REQUIRE(d.Decode(R"({"value":{"x":1},"value":{"x":2},"key":null,"key":"b"})", &m).ok());
  CHECK(std::string(*m.value) == R"({"x":1})");
  CHECK_FALSE(m.key.has_value());
}

TEST_CASE("Envelope decoding rejects malformed fields with a reason") {
  EnvelopeDecoder d;
  EnvelopeMessage m;
  CHECK(d.Decode(R"({"value":1,"value_encoding":"hex"})", &m).message().find("unknown encoding") != std::string::npos);
  // A tombstone says "value":null: a record that is not an envelope must
  // not become one.
  CHECK(d.Decode(R"({"key":"u1","key_encoding":"string"})", &m).message().find("a tombstone is \"value\":null") !=
        std::string::npos);
  CHECK(d.Decode(R"({"user":"u1"})", &m).Is(Status::Code::kBadInput));
  REQUIRE(d.Decode(R"({"key":"u1","key_encoding":"string","value":null})", &m).ok());
  CHECK(!m.value);
  CHECK(d.Decode(R"({"value":"@@","value_encoding":"base64"})", &m).message().find("base64") != std::string::npos);
  CHECK(d.Decode(R"({"value":1,"partition":"x"})", &m).message().find("partition") != std::string::npos);
  CHECK(d.Decode(R"({"value":1,"headers":[["h"]]})", &m).message().find("header") != std::string::npos);
  // An encoding given is one of the two, even when empty; a header has at
  // most three parts.
  CHECK(d.Decode(R"({"value":"abc","value_encoding":""})", &m).message().find("unknown encoding ''") !=
        std::string::npos);
  CHECK(d.Decode(R"({"value":1,"headers":[["h","",""]]})", &m).message().find("unknown encoding ''") !=
        std::string::npos);
  CHECK(d.Decode(R"({"value":1,"headers":[["h","a","string","x"]]})", &m).message().find("each header") !=
        std::string::npos);
  CHECK(d.Decode(R"({"value":1,"headers":[["h","a","string"],["g",{"j":1}]]})", &m).ok());
  CHECK(d.Decode(R"({"value":{"a":1},"headers":null,"timestamp":null})", &m).ok());
  CHECK(std::string(*m.value) == R"({"a":1})");
  CHECK_FALSE(m.timestamp.has_value());
}

TEST_CASE("Value lines: JSON minified, text quoted, bytes base64") {
  json::Validator v;
  auto line = [&](const char* s, size_t n) {
    std::string out;
    AppendValueLine(&out, s, n, &v);
    return out;
  };
  CHECK(line("{\"a\": 1}", 8) == "{\"a\":1}");
  CHECK(line("{\"s\":\" a b \"}", 13) == "{\"s\":\" a b \"}");
  CHECK(line("{\"a\":\n 1}", 9) == "{\"a\":1}");
  CHECK(line("hi there", 8) == "\"hi there\"");
  CHECK(line("\xff", 1) == "\"/w==\"");
  CHECK(line(nullptr, 0) == "null");
  CHECK(line("", 0) == "\"\"");
  // JSON with a number beyond what simdjson holds is JSON: minified, its
  // digits as they were.
  CHECK(line("{\"n\": 123456789012345678901}", 28) == "{\"n\":123456789012345678901}");
}
