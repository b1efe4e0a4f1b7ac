// Watermark: the event-time clock of kpipe(7), WATERMARKS and EVENT TIME.
//
//   W starts at -inf. A record is judged against W as it was before the
//   record; then its partition's watermark becomes max(W_p, t - D). W is the
//   minimum over partitions, leaving out partitions idle for longer than
//   --idle of processing time. A control record sets W = max(W, ts); end of
//   input sets W = +inf. W never goes backwards.
//
// Records without a partition (plain JSON lines) all count as partition 0.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "kpipe/state/codec.h"

namespace kpipe {

class Watermark {
 public:
  static constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();
  static constexpr int64_t kPlusInfinity = std::numeric_limits<int64_t>::max();

  // `max_delay` is D in ms (>= 0); `idle_ms` < 0 means no partition is ever
  // left out for being idle.
  Watermark(int64_t max_delay, int64_t idle_ms) : max_delay_(max_delay), idle_ms_(idle_ms) {}
  // Movable (map nodes move with the map), not copyable (last_ points into it).
  Watermark(Watermark&&) = default;
  Watermark& operator=(Watermark&&) = default;
  Watermark(const Watermark&) = delete;
  Watermark& operator=(const Watermark&) = delete;

  // Advances with a record of event time `t` from `partition` seen at
  // processing time `now_ms`; returns W as it was before the record.
  int64_t Observe(const std::string& partition, int64_t t, int64_t now_ms);
  // A partition known before it has records (a Kafka input's): it holds W
  // back like any other until it has records or is idle. Nothing when known.
  void Add(const std::string& partition, int64_t now_ms);
  // A partition that has ended (a bounded Kafka read): it no longer holds
  // W back.
  void Remove(const std::string& partition, int64_t now_ms);
  // A control record {"@kpipe":"watermark","ts":ts}.
  void Control(int64_t ts) { Raise(ts); }
  // End of input: every window may close.
  void End() { w_ = kPlusInfinity; }
  // Re-evaluates idleness at processing time `now_ms` (call when the input
  // is quiet) and returns the current W.
  int64_t Refresh(int64_t now_ms);
  int64_t current() const { return w_; }

  // For checkpoints: W and every partition's watermark. A loaded partition
  // counts as seen at `now_ms`.
  void Save(state::Encoder* e) const;
  void Load(state::Decoder* d, int64_t now_ms);

 private:
  struct Partition {
    int64_t w = kMinusInfinity;
    int64_t last_seen = 0;
  };
  void Raise(int64_t w) {
    if (w > w_) w_ = w;
  }
  int64_t max_delay_;
  int64_t idle_ms_;
  int64_t w_ = kMinusInfinity;
  std::map<std::string, Partition, std::less<>> parts_;  // nodes stay in place
  Partition* last_ = nullptr;  // the partition of the last record
  std::string last_name_;
};

}  // namespace kpipe
