#include "kpipe/agg/row_arena.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

using kpipe::agg::RowArena;

TEST_CASE("RowArena: pieces at their size, 8-aligned, apart; freed ones come back for their size") {
  RowArena arena;
  std::vector<std::pair<char*, size_t>> pieces;
  for (size_t i = 0; i < 30000; i++) {  // over several 1 MiB blocks
    size_t size = 8 + (i % 13) * 8 + (i % 3);
    char* p = static_cast<char*>(arena.Allocate(size));
    REQUIRE(reinterpret_cast<uintptr_t>(p) % RowArena::kAlign == 0);
    std::memset(p, static_cast<int>(i & 0x7f), size);
    pieces.emplace_back(p, size);
  }
  // Consecutive pieces of one block lie one after the other, at their
  // rounded size: no header between them.
  CHECK(pieces[1].first == pieces[0].first + RowArena::Round(pieces[0].second));
  for (size_t i = 0; i < pieces.size(); i++) {
    auto [p, size] = pieces[i];
    for (size_t b = 0; b < size; b++) REQUIRE(p[b] == static_cast<char>(i & 0x7f));  // none overwrote another
  }
  // A freed piece is the next of its rounded size, and only of that size.
  arena.Release(pieces[5].first, pieces[5].second);
  size_t other = RowArena::Round(pieces[5].second) + 8;
  CHECK(arena.Allocate(other) != pieces[5].first);
  CHECK(arena.Allocate(RowArena::Round(pieces[5].second)) == pieces[5].first);
  // Over kMaxPiece: operator new's, released to it.
  void* big = arena.Allocate(RowArena::kMaxPiece + 1);
  std::memset(big, 1, RowArena::kMaxPiece + 1);
  arena.Release(big, RowArena::kMaxPiece + 1);
}
