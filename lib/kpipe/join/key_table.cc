#include "kpipe/join/key_table.h"

#include "kpipe/agg/key_index.h"
#include "kpipe/json/text.h"

namespace kpipe {

namespace {

// A long key's allocation and size, kept in the slot's bytes.
struct LongKey {
  char* data;
  uint32_t size;
};
static_assert(sizeof(LongKey) <= sizeof(JoinKeyTable::Slot::bytes));

LongKey GetLong(const JoinKeyTable::Slot& s) {
  LongKey k;
  std::memcpy(&k, s.bytes, sizeof k);
  return k;
}

}  // namespace

std::string_view JoinKeyTable::Slot::key() const {
  if (len != kLong) return std::string_view(bytes, len);
  LongKey k = GetLong(*this);
  return std::string_view(k.data, k.size);
}

JoinKeyTable::~JoinKeyTable() {
  for (size_t i = 0; i < slots_.size(); i++)
    if (hashes_[i] && slots_[i].len == kLong) delete[] GetLong(slots_[i]).data;
}

// Keys are short and, with equal 64-bit hashes, almost surely equal.
bool JoinKeyTable::Equal(const Slot& s, std::string_view key) {
  if (s.len == kLong) return s.key() == key;
  return s.len == key.size() && json::SameBytes(s.bytes, key.data(), key.size());
}

JoinKeyTable::Slot* JoinKeyTable::Find(uint64_t hash, std::string_view key) {
  if (slots_.empty()) return nullptr;
  hash = Stored(hash);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (!hashes_[i]) return nullptr;
    if (hashes_[i] == hash && Equal(slots_[i], key)) return &slots_[i];
  }
}

size_t JoinKeyTable::End(uint64_t hash, bool tail, int side, uint32_t entry) const {
  hash = Stored(hash);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (hashes_[i] == hash && (tail ? slots_[i].tail[side] : slots_[i].head[side]) == entry) return i;
  }
}

const JoinKeyTable::Slot* JoinKeyTable::FindOnly(uint64_t hash) const {
  if (slots_.empty()) return nullptr;
  hash = Stored(hash);
  const Slot* found = nullptr;
  for (size_t i = hash & mask_; hashes_[i]; i = (i + 1) & mask_) {
    if (hashes_[i] != hash) continue;
    if (found) return nullptr;
    found = &slots_[i];
  }
  return found;
}

const JoinKeyTable::Slot* JoinKeyTable::Peek(uint64_t hash) const {
  if (slots_.empty()) return nullptr;
  hash = Stored(hash);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (!hashes_[i]) return nullptr;
    if (hashes_[i] == hash) return &slots_[i];
  }
}

JoinKeyTable::Slot* JoinKeyTable::Insert(uint64_t hash, std::string_view key) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  size_++;
  hash = Stored(hash);
  size_t i = hash & mask_;
  while (hashes_[i]) i = (i + 1) & mask_;
  hashes_[i] = hash;
  Slot& s = slots_[i];
  s.head[0] = s.head[1] = s.tail[0] = s.tail[1] = kNone;
  if (key.size() <= kInline) {
    s.len = static_cast<uint8_t>(key.size());
    std::memcpy(s.bytes, key.data(), key.size());
  } else {
    LongKey k{new char[key.size()], static_cast<uint32_t>(key.size())};
    std::memcpy(k.data, key.data(), key.size());
    s.len = kLong;
    std::memcpy(s.bytes, &k, sizeof k);
  }
  return &s;
}

void JoinKeyTable::Erase(Slot* slot) {
  if (slot->len == kLong) delete[] GetLong(*slot).data;
  size_--;
  size_t i = static_cast<size_t>(slot - slots_.data());
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    if (!hashes_[j]) break;
    size_t home = hashes_[j] & mask_;
    if (agg::StaysInProbeRun(i, j, home)) continue;
    hashes_[i] = hashes_[j];
    slots_[i] = slots_[j];
    i = j;
  }
  hashes_[i] = 0;
}

void JoinKeyTable::Place(uint64_t hash, const Slot& s) {
  size_t i = hash & mask_;
  while (hashes_[i]) i = (i + 1) & mask_;
  hashes_[i] = hash;
  slots_[i] = s;
}

void JoinKeyTable::Grow() {
  auto old_hashes = std::move(hashes_);
  auto old = std::move(slots_);
  size_t n = old.empty() ? 16 : old.size() * 2;
  hashes_.assign(n, 0);
  slots_.resize(n);
  mask_ = n - 1;
  for (size_t i = 0; i < old.size(); i++)
    if (old_hashes[i]) Place(old_hashes[i], old[i]);
}

}  // namespace kpipe
