// JoinKeyTable: the interval join's index from join key to the key's stored
// records. A key's slot holds the head and tail of its record list on each
// side (entry numbers of the caller's) and the key's bytes when they fit
// (46 bytes; a quoted UUID does), in one cache line; a longer key is kept
// in an allocation of its own. The slots' 64-bit hashes are an array of
// their own, 8 to a line: a probe reads hashes, and a lookup loads the
// slot's line only on a hash match (and the key's bytes only then), so a
// lookup usually touches two lines (three for a long key), and a key that
// is absent, usually one.
//
// Open addressing with linear probing over a power-of-two table at most half
// full; erasing shifts later slots of the probe run back (no tombstones), so
// a Slot* is good only until the next Insert or Erase. Not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "kpipe/agg/huge_alloc.h"

namespace kpipe {

class JoinKeyTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct alignas(64) Slot {
    uint32_t head[2], tail[2];  // kNone: no record on that side
    uint8_t len;                // kLong: `bytes` holds a pointer and a size
    char bytes[47];
    std::string_view key() const;
  };
  static_assert(sizeof(Slot) == 64);

  JoinKeyTable() = default;
  JoinKeyTable(const JoinKeyTable&) = delete;
  JoinKeyTable& operator=(const JoinKeyTable&) = delete;
  ~JoinKeyTable();

  // The slot of `key`, or null.
  Slot* Find(uint64_t hash, std::string_view key);
  // The slot of hash `hash` whose list end (head, or tail with `tail`) of
  // side `side` is `entry`: an entry is the end of one list at most, so no
  // key need be compared. REQUIRES: there is one.
  Slot* FindEnd(uint64_t hash, bool tail, int side, uint32_t entry) { return &slots_[End(hash, tail, side, entry)]; }
  const Slot* FindEnd(uint64_t hash, bool tail, int side, uint32_t entry) const {
    return &slots_[End(hash, tail, side, entry)];
  }
  // Adds `key` (REQUIRES: absent, not empty) with empty lists.
  Slot* Insert(uint64_t hash, std::string_view key);
  // Removes a slot returned by Find, FindEnd or Insert.
  void Erase(Slot* slot);

  // Starts loading the line a lookup of `hash` begins at.
  void Prefetch(uint64_t hash) const {
    if (slots_.empty()) return;
    __builtin_prefetch(&hashes_[Stored(hash) & mask_]);
    __builtin_prefetch(&slots_[Stored(hash) & mask_]);
  }
  // The one slot whose hash is `hash`: null when there is none, or more
  // than one (different keys of one 64-bit hash).
  const Slot* FindOnly(uint64_t hash) const;
  // The slot whose hash is `hash`, without comparing keys (so possibly
  // another key's, or null): for prefetching what a record will touch.
  // Its line is not loaded here.
  const Slot* Peek(uint64_t hash) const;

  size_t size() const { return size_; }

 private:
  static constexpr uint8_t kLong = 255;
  static constexpr size_t kInline = sizeof(Slot::bytes) - 1;  // 46
  // 0 marks an empty place: a hash of 0 is kept as 1.
  static uint64_t Stored(uint64_t hash) { return hash ? hash : 1; }
  static bool Equal(const Slot& s, std::string_view key);
  size_t End(uint64_t hash, bool tail, int side, uint32_t entry) const;
  void Place(uint64_t hash, const Slot& s);
  void Grow();

  std::vector<uint64_t, agg::HugeAllocator<uint64_t>> hashes_;  // Stored(hash), 0: empty
  std::vector<Slot, agg::HugeAllocator<Slot>> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace kpipe
