#include "kpipe/agg/sketch.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

using namespace kpipe::agg;

TEST_CASE("approx_distinct is exact while small and within 2% beyond") {
  DistinctCounter small;
  for (int i = 0; i < 2000; i++) small.Add(HashValue(std::to_string(i % 1500)));
  CHECK(small.exact());
  CHECK(small.Estimate() == 1500);
  for (uint64_t n : {5000u, 20000u, 100000u, 1000000u}) {
    DistinctCounter c;
    for (uint64_t i = 0; i < n; i++) c.Add(HashValue("\"user" + std::to_string(i) + "\""));
    double err = std::fabs(static_cast<double>(c.Estimate()) - n) / n;
    INFO("n = " << n << ", estimate " << c.Estimate());
    CHECK(err <= 0.02);
  }
}

TEST_CASE("approx_distinct merges: union of overlapping halves") {
  DistinctCounter a, b;
  for (int i = 0; i < 60000; i++) a.Add(HashValue(std::to_string(i)));
  for (int i = 40000; i < 100000; i++) b.Add(HashValue(std::to_string(i)));
  a.Merge(b);
  CHECK(std::fabs(static_cast<double>(a.Estimate()) - 100000) / 100000 <= 0.02);
}

TEST_CASE("quantile: checkpoints of the earlier form load, an unknown form does not") {
  // As a build before integers were kept wrote three exact values.
  std::string old;
  kpipe::state::Encoder e(&old);
  e.U64(3);
  e.U8(0);
  for (double v : {2.0, 1.0, 3.0}) e.F64(v);
  QuantileSketch s;
  kpipe::state::Decoder d(old);
  s.Load(&d);
  REQUIRE(d.ok());
  CHECK(s.Quantile(0.5) == 2);
  // Integers beyond 2^53 come back exactly.
  QuantileSketch big;
  big.Add(Number{true, 123456789012345679, 123456789012345679.0});
  big.Add(Number{true, 123456789012345678, 123456789012345678.0});
  std::string saved;
  kpipe::state::Encoder be(&saved);
  big.Save(&be);
  QuantileSketch back;
  kpipe::state::Decoder bd(saved);
  back.Load(&bd);
  REQUIRE(bd.ok());
  CHECK(back.QuantileNumber(1).i == 123456789012345679);
  std::string later = old;
  later[8] = 3;  // a form this build does not know
  kpipe::state::Decoder ld(later);
  QuantileSketch l;
  l.Load(&ld);
  CHECK(!ld.ok());
}

TEST_CASE("numbers compare exactly across integers and doubles") {
  CHECK(CompareIntDouble(9007199254740993, 9007199254740992.0) == 1);
  CHECK(CompareIntDouble(9007199254740992, 9007199254740992.0) == 0);
  CHECK(CompareIntDouble(INT64_MAX, 0x1p63) == -1);
  CHECK(CompareIntDouble(INT64_MIN, -0x1p63) == 0);
  CHECK(CompareIntDouble(INT64_MIN, -0x1p64) == 1);
  CHECK(CompareIntDouble(2, 2.5) == -1);
  CHECK(CompareIntDouble(-2, -2.5) == 1);
  CHECK(CompareIntDouble(-3, -2.5) == -1);
  CHECK(CompareIntDouble(0, -0.0) == 0);
  CHECK(Compare(Number{false, 0, 1.5}, Number{true, 1, 1.0}) == 1);
}

TEST_CASE("quantile: exact up to 256 values, within 1% relative error beyond") {
  QuantileSketch s;
  for (int i = 100; i >= 1; i--) s.Add(i);
  CHECK(s.Quantile(0) == 1);
  CHECK(s.Quantile(0.5) == 50);  // rank floor(0.5 * 99) = 49
  CHECK(s.Quantile(1) == 100);

  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> lognormal(3, 2);
  std::normal_distribution<double> normal(0, 1000);
  for (int dist = 0; dist < 2; dist++) {
    QuantileSketch a, b;
    std::vector<double> all;
    for (int i = 0; i < 100000; i++) {
      double v = dist == 0 ? lognormal(rng) : normal(rng);
      all.push_back(v);
      (i % 2 ? a : b).Add(v);
    }
    a.Merge(b);
    std::sort(all.begin(), all.end());
    for (double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
      double exact = all[static_cast<size_t>(std::floor(q * (all.size() - 1)))];
      INFO("dist " << dist << " q " << q << " exact " << exact << " got " << a.Quantile(q));
      CHECK(std::fabs(a.Quantile(q) - exact) <= 0.01 * std::fabs(exact) + 1e-300);
    }
  }
}

namespace {

// HashValue as first written (a copy of the tail to the stack): checkpoints
// keep its hashes, so the faster one must give the very same values.
uint64_t ReferenceHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL ^ text.size();
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    h = Mix((h ^ w) * 0x100000001b3ULL);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, text.data() + i, text.size() - i);
  return Mix((h ^ tail) * 0x100000001b3ULL);
}

}  // namespace

TEST_CASE("HashValue gives the values checkpoints hold, at every length") {
  std::mt19937_64 rng(7);
  for (size_t n = 0; n <= 40; n++) {
    for (int k = 0; k < 50; k++) {
      std::string s(n, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      REQUIRE(HashValue(s) == ReferenceHash(s));
    }
  }
  // Pinned values: a change shows even if the reference were changed too.
  CHECK(HashValue("") == 0x25fc6dd36ce04b20ULL);
  CHECK(HashValue("\"u04211\"") == 0x8748b75da0fce26aULL);
  CHECK(HashValue("\"user123456\"") == 0xdd46188293de1d3cULL);
}
