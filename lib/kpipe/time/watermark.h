// Watermark: the event-time clock of kpipe(7), EVENT TIME and CONTROL
// RECORDS. The one implementation of the rule, for kwindow, kagg, kjoin and
// kconsume --watermarks.
//
//   W starts at -inf. A record is judged against W as it was before the
//   record; then its partition's own watermark becomes max(W_p, t - D).
//   W_own is the minimum over the partitions known, leaving out those idle
//   for longer than --idle of processing time; a partition known but not
//   seen yet holds it at -inf. Once the input has said that it carries
//   watermark records (a watermark record, or a partitions record with
//   "watermarks":true), W = min(W_in, W_own), where W_in is the greatest
//   watermark record received (-inf before the first): upstream can make a
//   tool wait longer, never shorter than its own D. End of input sets
//   W = +inf. W never goes backwards.
//
// Records without a partition (plain JSON lines) all count as partition "".
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
  // A partition known before it has records (announced upstream, or a Kafka
  // input's): it holds W back until it has records, ends or is idle.
  // Nothing when known.
  void Add(const std::string& partition, int64_t now_ms);
  // A partition that has ended (a bounded read) or gone elsewhere: it no
  // longer holds W back.
  void Remove(const std::string& partition, int64_t now_ms);
  // The input carries watermark records from now on: W_in starts at -inf.
  void Upstream() { has_in_ = true; }
  // A watermark record {"@kpipe":"watermark","ts":ts}.
  void Control(int64_t ts);
  // End of input: every window may close.
  void End() { w_ = kPlusInfinity; }
  // Re-evaluates idleness at processing time `now_ms` (call when the input
  // is quiet) and returns the current W.
  int64_t Refresh(int64_t now_ms);
  int64_t current() const { return w_; }
  // The part of W that comes from the records themselves, and W_in.
  int64_t own() const { return own_; }
  bool upstream() const { return has_in_; }

  // For checkpoints: W, W_in and every partition's watermark. A loaded
  // partition counts as seen at `now_ms`.
  void Save(state::Encoder* e) const;
  void Load(state::Decoder* d, int64_t now_ms);

 private:
  struct Partition {
    int64_t w = kMinusInfinity;
    int64_t last_seen = 0;
  };
  // W = max(W, min(W_in, W_own)) with W_own just computed.
  void Combine();
  int64_t max_delay_;
  int64_t idle_ms_;
  int64_t w_ = kMinusInfinity;
  bool has_in_ = false;
  int64_t w_in_ = kMinusInfinity;
  // W_own; +inf when no partition holds it back (none known, or all idle).
  int64_t own_ = kPlusInfinity;
  std::map<std::string, Partition, std::less<>> parts_;  // nodes stay in place
  Partition* last_ = nullptr;  // the partition of the last record
  std::string last_name_;
};

}  // namespace kpipe
