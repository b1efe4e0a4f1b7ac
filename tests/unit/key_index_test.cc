#include "kpipe/agg/key_index.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>

using kpipe::agg::HashValue;
using kpipe::agg::KeyIndex;

namespace {

struct Item {
  std::string key;
};
struct ItemKey {
  std::string_view operator()(const Item& i) const { return i.key; }
};

}  // namespace

// Against std::unordered_map, over keys enough for the 16 bits of hash a
// slot keeps to be shared by many (200,000 keys: about 3 a tag), through
// growth and erasures that close gaps in long probe runs.
TEST_CASE("KeyIndex finds what an unordered_map finds, through growth and erasure") {
  std::mt19937_64 rng(7);
  std::deque<Item> items;  // in place
  std::unordered_map<std::string, Item*> naive;
  KeyIndex<Item, ItemKey> index;
  auto key_of = [](uint64_t n) { return "k" + std::to_string(n); };
  for (int round = 0; round < 4; round++) {
    for (int i = 0; i < 50000; i++) {
      std::string k = key_of(rng() % 400000);
      uint64_t h = HashValue(k);
      Item* found = index.Find(h, k);
      auto it = naive.find(k);
      REQUIRE(found == (it == naive.end() ? nullptr : it->second));
      if (found) continue;
      items.push_back({k});
      index.Insert(h, &items.back());
      naive[k] = &items.back();
    }
    // Erase about a third.
    for (auto it = naive.begin(); it != naive.end();) {
      if (rng() % 3 == 0) {
        index.Erase(HashValue(it->first), it->second);
        it = naive.erase(it);
      } else {
        ++it;
      }
    }
    REQUIRE(index.size() == naive.size());
    for (const auto& [k, item] : naive) REQUIRE(index.Find(HashValue(k), k) == item);
    for (int i = 0; i < 20000; i++) {
      std::string k = key_of(400000 + rng() % 100000);  // never inserted
      REQUIRE(index.Find(HashValue(k), k) == nullptr);
    }
  }
  // Peek gives a row of the same 16 bits of hash, or none: the right one
  // when there is no other.
  for (const auto& [k, item] : naive) {
    Item* peeked = index.Peek(HashValue(k));
    REQUIRE(peeked != nullptr);
    CHECK((HashValue(peeked->key) >> 48) == (HashValue(k) >> 48));
  }
}
