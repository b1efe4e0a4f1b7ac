#include "kpipe/time/watermark.h"

#include <algorithm>

namespace kpipe {

int64_t Watermark::Observe(const std::string& partition, int64_t t, int64_t now_ms) {
  int64_t before = w_;
  // Consecutive records mostly come from the same partition.
  if (!last_ || last_name_ != partition) {
    auto it = parts_.find(partition);
    if (it == parts_.end()) it = parts_.emplace(partition, Partition{}).first;
    last_ = &it->second;
    last_name_ = partition;
  }
  Partition& p = *last_;
  // t - D without overflow near the ends of the int64 range.
  int64_t candidate = t < kMinusInfinity + max_delay_ ? kMinusInfinity : t - max_delay_;
  p.w = std::max(p.w, candidate);
  p.last_seen = now_ms;
  if (parts_.size() == 1) {  // the one partition was just seen: not idle
    own_ = p.w;
    Combine();
  } else {
    Refresh(now_ms);
  }
  return before;
}

void Watermark::Add(const std::string& partition, int64_t now_ms) {
  if (parts_.find(partition) != parts_.end()) return;
  parts_.emplace(partition, Partition{kMinusInfinity, now_ms});
  own_ = kMinusInfinity;
}

void Watermark::Remove(const std::string& partition, int64_t now_ms) {
  auto it = parts_.find(partition);
  if (it == parts_.end()) return;
  parts_.erase(it);
  last_ = nullptr;
  last_name_.clear();
  Refresh(now_ms);
}

void Watermark::Control(int64_t ts) {
  has_in_ = true;
  w_in_ = std::max(w_in_, ts);
  Combine();
}

int64_t Watermark::Refresh(int64_t now_ms) {
  if (w_ == kPlusInfinity) return w_;
  int64_t w = kPlusInfinity;
  for (const auto& [name, p] : parts_) {
    if (idle_ms_ >= 0 && now_ms - p.last_seen > idle_ms_) continue;
    w = std::min(w, p.w);
  }
  own_ = w;
  Combine();
  return w_;
}

void Watermark::Combine() {
  int64_t w;
  if (has_in_) {
    w = std::min(w_in_, own_);
  } else {
    // Without watermark records only the records move W, and only a
    // partition that is not idle can vouch for them.
    if (own_ == kPlusInfinity) return;
    w = own_;
  }
  if (w > w_) w_ = w;
}

void Watermark::Save(state::Encoder* e) const {
  e->I64(w_);
  e->U8(has_in_ ? 1 : 0);
  e->I64(w_in_);
  e->U64(parts_.size());
  for (const auto& [name, p] : parts_) {
    e->Str(name);
    e->I64(p.w);
  }
}

void Watermark::Load(state::Decoder* d, int64_t now_ms) {
  parts_.clear();
  last_ = nullptr;
  last_name_.clear();
  w_ = d->I64();
  has_in_ = d->U8() != 0;
  w_in_ = d->I64();
  own_ = kPlusInfinity;
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    std::string name(d->Str());
    int64_t w = d->I64();
    parts_[name] = Partition{w, now_ms};
    own_ = std::min(own_, w);
  }
}

}  // namespace kpipe
