#include "kpipe/kafka/format.h"

#include <catch2/catch.hpp>

using namespace kpipe;

TEST_CASE("kcat-style formats compile into literals and directives") {
  auto f = CompileFormat("%t:%p@%o %k=%s (%S) 100%%\\n");
  std::string shape;
  for (const FormatPiece& p : f) shape += p.directive ? std::string("%") + p.directive : "[" + p.text + "]";
  CHECK(shape == "%t[:]%p[@]%o[ ]%k[=]%s[ (]%S[) 100%\n]");
}

TEST_CASE("Format escapes and a trailing percent") {
  auto f = CompileFormat("a\\tb\\\\%");
  REQUIRE(f.size() == 1);
  CHECK(f[0].text == "a\tb\\%");
}

TEST_CASE("Format hex escapes, as kcat's \\xHH") {
  auto f = CompileFormat("\\x41\\x0a\\x7F\\xg1\\x4");
  REQUIRE(f.size() == 1);
  CHECK(f[0].text == std::string("A\n\x7fxg1x4"));  // not two hex digits: the x stands for itself
}
