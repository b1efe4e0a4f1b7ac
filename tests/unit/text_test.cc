#include "kpipe/json/text.h"

#include <limits>

#include <catch2/catch.hpp>

using namespace kpipe::json;

TEST_CASE("AppendQuoted escapes what JSON requires and nothing else") {
  std::string out;
  AppendQuoted(&out, std::string("a\"b\\c\n\t\x01\x1f/é", 12));
  CHECK(out == "\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/é\"");
}

TEST_CASE("AppendCompact writes a number by its value, as group and join keys compare it") {
  simdjson::dom::parser parser;
  auto compact = [&](const char* json) {
    std::string out;
    AppendCompact(&out, parser.parse(std::string(json)).value());
    return out;
  };
  CHECK(compact("1e2") == "100");
  CHECK(compact("100.0") == "100");
  CHECK(compact("1.50") == "1.5");
  CHECK(compact("-0.0") == "0");  // as the integer -0
  CHECK(compact("-0") == "0");
  CHECK(compact("-1.5e-3") == "-0.0015");
  CHECK(compact("\"\\u0041\"") == "\"A\"");
  // Inside containers too, at any depth: [1.0] and [1] are one key.
  CHECK(compact("{\"a\" : [1, 2.0, {\"b\": [1e2, -0.0, 1.5]}], \"\\u0063\": \"\\n\"}") ==
        "{\"a\":[1,2,{\"b\":[100,0,1.5]}],\"c\":\"\\n\"}");
  CHECK(compact("[[], {}, null, true]") == "[[],{},null,true]");
}

TEST_CASE("Unquote reverses AppendQuoted, including surrogate pairs") {
  std::string out;
  REQUIRE(Unquote(R"("a\"b\\c\n\u00e9\ud83d\ude00\/")", &out));
  CHECK(out == "a\"b\\c\né😀/");
  CHECK_FALSE(Unquote(R"("bad\x")", &out));
  CHECK_FALSE(Unquote("noquotes", &out));
  std::string round;
  AppendQuoted(&round, std::string("\0\x7f\xc3\xa9", 4));
  REQUIRE(Unquote(round, &out));
  CHECK(out == std::string("\0\x7f\xc3\xa9", 4));
}

TEST_CASE("base64 round-trips every length and rejects garbage") {
  std::string bytes;
  for (int n = 0; n < 40; n++) {
    std::string b64, back;
    AppendBase64(&b64, bytes);
    REQUIRE(DecodeBase64(b64, &back));
    CHECK(back == bytes);
    bytes.push_back(static_cast<char>(n * 37 + 200));
  }
  std::string out;
  CHECK_FALSE(DecodeBase64("ab$d", &out));
  CHECK_FALSE(DecodeBase64("ab=c", &out));
  std::string b64;
  AppendBase64(&b64, std::string("\xff\xfe\x00", 3));
  CHECK(b64 == "//4A");
}

TEST_CASE("IsUtf8 and HasLineBreak") {
  CHECK(IsUtf8("héllo"));
  CHECK_FALSE(IsUtf8("\xff"));
  CHECK(HasLineBreak("a\nb"));
  CHECK(HasLineBreak("a\rb"));
  CHECK_FALSE(HasLineBreak("ab"));
}

TEST_CASE("Validator accepts exactly one JSON value") {
  Validator v;
  CHECK(v.Valid("{\"a\":[1,2,{\"b\":null}]}"));
  CHECK(v.Valid("\"x\""));
  CHECK(v.Valid(" 12 "));
  CHECK_FALSE(v.Valid(""));
  CHECK_FALSE(v.Valid("{\"a\":1"));
  CHECK_FALSE(v.Valid("1 2"));
  CHECK_FALSE(v.Valid("\"\xff\""));
  CHECK_FALSE(v.Valid("abc"));
}

TEST_CASE("Validator takes numbers simdjson cannot hold, as the nearest doubles") {
  Validator v;
  simdjson::dom::element e;
  std::string_view text = R"({"big":123456789012345678901,"neg":-9223372036854775809,"huge":-1e400,)"
                          R"("s":"1e400 x","ok":7})";
  REQUIRE(v.Parse(text, &e) == simdjson::SUCCESS);
  CHECK(v.rewrote());
  CHECK(double(e["big"]) == 123456789012345678901.0);
  CHECK(double(e["neg"]) == -9223372036854775809.0);
  CHECK(double(e["huge"]) == -std::numeric_limits<double>::max());
  CHECK(std::string_view(e["s"]) == "1e400 x");  // strings stay as they are
  CHECK(int64_t(e["ok"]) == 7);
  CHECK(v.Valid("[1e999, 18446744073709551616]"));
  // Not numbers by JSON's grammar: still refused.
  CHECK_FALSE(v.Valid("{\"a\":012}"));
  CHECK_FALSE(v.Valid("[1., 1e999]"));
  CHECK_FALSE(v.Valid("[-, 1e999]"));
  CHECK_FALSE(v.Valid("[1e999"));
}

TEST_CASE("HasBlank finds a space, tab or CR at any place, and nothing else") {
  for (size_t n = 0; n <= 40; n++) {
    std::string s(n, 'a');
    s.insert(s.begin(), n % 3 ? '\n' : '{');  // LF is not a blank here
    CHECK_FALSE(HasBlank(s));
    for (size_t i = 0; i < s.size(); i++)
      for (char c : {' ', '\t', '\r'}) {
        std::string t = s;
        t[i] = c;
        CHECK(HasBlank(t));
      }
  }
}
