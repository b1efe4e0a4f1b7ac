// KeyIndex: an open-addressing hash index from group-key text to a row, the
// per-record lookup of kwindow and kagg. Linear probing over a power-of-two
// table of 8-byte slots kept at most three quarters full: a lookup usually
// touches one cache line, and compares the key bytes only when 16 bits of
// the key's hash kept beside the row's address match. Each slot is the
// row's address (48 bits, which is all a user-space address has on x86-64
// and AArch64 Linux) with those 16 bits above it: 8 bytes a key where a
// (hash, pointer) pair took 16, which with 5M keys is 67 MB.
// A slot holds too little of the hash to place the row again: growing the
// table, and closing the gap an erased key leaves, hash the rows' keys
// again (HashValue), reading each row once.
// The caller computes the hash once per record (HashValue) and reuses it for
// every window of the record. Keys are not stored: each row holds its own,
// returned by the `key_of` function. Not thread-safe.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "kpipe/agg/huge_alloc.h"
#include "kpipe/agg/sketch.h"

namespace kpipe::agg {

// Linear probing's erase without tombstones: the entry at slot j, whose
// home slot is `home`, moves back into the hole at i unless its home lies
// cyclically in (i, j]. Shared with join/key_table.h.
inline bool StaysInProbeRun(size_t i, size_t j, size_t home) {
  return i <= j ? (home > i && home <= j) : (home > i || home <= j);
}

template <typename Row, typename KeyOf>
class KeyIndex {
 public:
  explicit KeyIndex(KeyOf key_of = KeyOf()) : key_of_(key_of) {}

  Row* Find(uint64_t hash, std::string_view key) const {
    return FindIf(hash, [&](const Row& row) { return Equal(key_of_(row), key); });
  }

  // The first row indexed under `hash` for which `pred(row)` holds (the
  // key's hash known, but not its text), or null.
  template <typename Pred>
  Row* FindIf(uint64_t hash, Pred pred) const {
    if (slots_.empty()) return nullptr;
    uint64_t tag = Tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      uint64_t s = slots_[i];
      if (!s) return nullptr;
      if ((s & kTagMask) == tag && pred(*RowOf(s))) return RowOf(s);
    }
  }

  // Starts loading the slot where a lookup of `hash` begins, for a Find
  // or Insert a little later (the caller has other work in between).
  void Prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }

  // The first row indexed under the 16 bits of `hash` a slot keeps,
  // comparing no key (so possibly another key's, or null): to prefetch it.
  // Best called once Prefetch's line came.
  Row* Peek(uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    uint64_t tag = Tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      uint64_t s = slots_[i];
      if (!s || (s & kTagMask) == tag) return RowOf(s);
    }
  }

  // REQUIRES: no row with this key is indexed.
  void Insert(uint64_t hash, Row* row) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    Place(hash, row);
    size_++;
  }

  // Removes `row` (indexed under `hash`), shifting later slots of its probe
  // run back so that no tombstones are needed.
  void Erase(uint64_t hash, const Row* row) {
    size_t i = hash & mask_;
    while (RowOf(slots_[i]) != row) i = (i + 1) & mask_;
    size_--;
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!slots_[j]) break;
      size_t home = HashOf(RowOf(slots_[j])) & mask_;
      if (StaysInProbeRun(i, j, home)) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = 0;
  }

  size_t size() const { return size_; }

 private:
  static constexpr int kAddressBits = 48;
  static constexpr uint64_t kTagMask = ~uint64_t{0} << kAddressBits;
  static uint64_t Tag(uint64_t hash) { return hash & kTagMask; }
  static Row* RowOf(uint64_t slot) { return reinterpret_cast<Row*>(slot & ~kTagMask); }
  uint64_t HashOf(const Row* row) const { return HashValue(key_of_(*row)); }
  // Keys are short: a plain loop beats a call to memcmp. (Keys whose 16
  // bits of hash match differ one time in a few thousand lookups.)
  static bool Equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.size() > 32) return a == b;
    for (size_t i = 0; i < a.size(); i++)
      if (a[i] != b[i]) return false;
    return true;
  }
  void Place(uint64_t hash, Row* row) {
    uint64_t address = reinterpret_cast<uintptr_t>(row);
    if (address & kTagMask) std::abort();  // not a user-space address of 48 bits
    size_t i = hash & mask_;
    while (slots_[i]) i = (i + 1) & mask_;
    slots_[i] = Tag(hash) | address;
  }
  void Grow() {
    std::vector<uint64_t, HugeAllocator<uint64_t>> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, 0);
    mask_ = slots_.size() - 1;
    // The rows are read at random: the first two cache lines of those a
    // few slots ahead are on their way.
    constexpr size_t kAhead = 16;
    for (size_t i = 0; i < old.size(); i++) {
      if (i + kAhead < old.size() && old[i + kAhead]) {
        const char* ahead = reinterpret_cast<const char*>(RowOf(old[i + kAhead]));
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 64);
      }
      if (old[i]) Place(HashOf(RowOf(old[i])), RowOf(old[i]));
    }
  }

  KeyOf key_of_;
  std::vector<uint64_t, HugeAllocator<uint64_t>> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace kpipe::agg
