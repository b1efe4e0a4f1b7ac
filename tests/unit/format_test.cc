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
