#include "kpipe/stream/changelog.h"

#include <algorithm>
#include <functional>

namespace kpipe::changelog {

void Records::Latest() {
  // Open addressing over record indices: a later record of a key takes
  // its slot. No sort of millions of keys.
  size_t cap = 16;
  while (cap < recs_.size() * 2) cap *= 2;
  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> slots(cap, kEmpty);
  std::hash<std::string_view> hash;
  for (uint32_t i = 0; i < recs_.size(); i++) {
    std::string_view k = Key(recs_[i]);
    for (size_t at = hash(k) & (cap - 1);; at = (at + 1) & (cap - 1)) {
      if (slots[at] == kEmpty || Key(recs_[slots[at]]) == k) {
        slots[at] = i;
        break;
      }
    }
  }
  std::vector<uint32_t> keep;
  for (uint32_t i : slots)
    if (i != kEmpty && !recs_[i].deleted) keep.push_back(i);
  std::sort(keep.begin(), keep.end());
  std::vector<Rec> out;
  out.reserve(keep.size());
  for (uint32_t i : keep) out.push_back(recs_[i]);
  recs_ = std::move(out);
}

}  // namespace kpipe::changelog
