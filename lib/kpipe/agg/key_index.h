// KeyIndex: an open-addressing hash index from group-key text to a row, the
// per-record lookup of kwindow and kagg. Linear probing over a power-of-two
// table of (hash, row) slots kept at most three quarters full: a lookup
// usually touches one or two cache lines and compares the key bytes only on a
// full 64-bit hash match. (Half full, 5M keys took 268 MB of table instead
// of 134, for no gain in wall time: the probes saved cost page faults.)
// The caller computes the hash once per record (HashValue) and reuses it for
// every window of the record. Keys are not stored: each row holds its own,
// returned by the `key_of` function. Not thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kpipe/agg/huge_alloc.h"

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
    if (slots_.empty()) return nullptr;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.row) return nullptr;
      if (s.hash == hash && Equal(key_of_(*s.row), key)) return s.row;
    }
  }

  // Starts loading the slot where a lookup of `hash` begins, for a Find
  // or Insert a little later (the caller has other work in between).
  void Prefetch(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }

  // The row indexed under `hash`, comparing no key (so possibly another
  // key's, or null): to prefetch it. Best called once Prefetch's line came.
  Row* Peek(uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.row || s.hash == hash) return s.row;
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
    while (slots_[i].row != row) i = (i + 1) & mask_;
    size_--;
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      if (!slots_[j].row) break;
      size_t home = slots_[j].hash & mask_;
      if (StaysInProbeRun(i, j, home)) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = Slot();
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    Row* row = nullptr;
  };
  // Keys are short and, with equal 64-bit hashes, almost surely equal: a
  // plain loop beats a call to memcmp.
  static bool Equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    if (a.size() > 32) return a == b;
    for (size_t i = 0; i < a.size(); i++)
      if (a[i] != b[i]) return false;
    return true;
  }
  void Place(uint64_t hash, Row* row) {
    size_t i = hash & mask_;
    while (slots_[i].row) i = (i + 1) & mask_;
    slots_[i] = Slot{hash, row};
  }
  void Grow() {
    std::vector<Slot, HugeAllocator<Slot>> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot());
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.row) Place(s.hash, s.row);
  }

  KeyOf key_of_;
  std::vector<Slot, HugeAllocator<Slot>> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace kpipe::agg
