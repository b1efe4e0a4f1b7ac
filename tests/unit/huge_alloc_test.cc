#include "kpipe/agg/huge_alloc.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "kpipe/stream/hint_delay.h"

using kpipe::agg::HugeAllocator;

TEST_CASE("HugeAllocator: large tables aligned to 2 MiB, small ones as usual, both usable") {
  std::vector<uint64_t, HugeAllocator<uint64_t>> small(100, 7);
  CHECK(small[99] == 7);
  std::vector<uint64_t, HugeAllocator<uint64_t>> large((size_t{3} << 20) / 8 + 1, 0);
  CHECK(reinterpret_cast<uintptr_t>(large.data()) % (size_t{2} << 20) == 0);
  for (size_t i = 0; i < large.size(); i += 4096) large[i] = i;
  CHECK(large[4096] == 4096);
  large.resize(large.size() * 2, 1);  // moves to a new table, frees the old
  CHECK(large[4096] == 4096);
  CHECK(large.back() == 1);
}

TEST_CASE("HintDelay gives back each hint four pushes later, none before") {
  kpipe::HintDelay<4> d;
  for (int i = 0; i < 4; i++) CHECK(d.Push(i % 2, 100 + i).input == -1);
  for (int i = 4; i < 20; i++) {
    auto h = d.Push(i % 2, 100 + i);
    CHECK(h.input == (i - 4) % 2);
    CHECK(h.hash == static_cast<uint64_t>(100 + i - 4));
  }
}
