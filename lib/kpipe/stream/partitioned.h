// PartitionedOperator: the operator of a consumer group's member (kpipe(7),
// SCALING). One instance of the tool's operator per input partition the
// member owns, each with that partition's own watermark W_p: a partition's
// rows then depend only on its own records, never on which member reads it
// or on what else that member reads, so partitions can move between members
// with their state (stream/members.h) and the rows stay the same.
//
// A record is judged against W_p as it was before the record; then
// W_p = max(W_p, t - D). W, the minimum the runner keeps over the
// partitions, closes nothing here; only the end of input (W = +inf) does.
//
// With two inputs (kjoin's LEFT and RIGHT, co-partitioned), partition p of
// each goes to the same instance: the partitions are known by number, and
// W_p is the lower of the two inputs' own watermarks on p.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpipe/status.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

class PartitionedOperator : public Operator {
 public:
  using Factory = std::function<std::unique_ptr<Operator>()>;
  // Checks a record before it is added: BadInput when its group does not
  // follow its message key (the rule that keeps a group on one partition).
  using Check = std::function<Status(const RecordIn&)>;

  // `max_delay` is D (ms); `inputs` is 1 or 2.
  PartitionedOperator(Factory make, int64_t max_delay, Check check, int inputs = 1)
      : make_(std::move(make)), max_delay_(max_delay), check_(std::move(check)), inputs_(inputs) {}

  struct Part {
    std::unique_ptr<Operator> op;
    // Each input's own watermark on the partition; with one input w[1]
    // stays +inf.
    int64_t w[2] = {INT64_MIN, INT64_MAX};
    int64_t W() const { return std::min(w[0], w[1]); }  // W_p
    // With two inputs, the sequence number of the partition's last record
    // (RecordIn::seq): numbered per partition, it goes on where the last
    // owner stopped, so the entries it names stay unique.
    uint64_t seq = 0;
    // An operator without incremental state: its entries as last written
    // to the changelog (stream/members.cc).
    std::vector<std::pair<std::string, std::string>> written;
  };
  int inputs() const { return inputs_; }
  // Partition `partition` gained, with a new instance at watermarks `w`
  // (one per input) that tracks its changes
  // (IncrementalState::TrackChanges); replaces one held. The caller loads
  // its state.
  Part* Gain(int32_t partition, const int64_t* w);
  Part* Gain(int32_t partition, int64_t w) {
    int64_t both[2] = {w, w};
    return Gain(partition, both);
  }
  // A partition lost: its instance is dropped (its rows were written).
  void Lose(int32_t partition);
  std::map<int32_t, Part>& parts() { return parts_; }

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  // Only the end of input (w = +inf) moves a partition's instance; the
  // end of one input (kjoin's) moves that input's side.
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override;
  int64_t OutputWatermark(int64_t w) const override;
  Status Dump(RowSink* out) override;
  // A member's state lives in the changelog, not in --state checkpoints.
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;
  PartitionedOperator* partitioned() override { return this; }

 private:
  // Raises input `s`'s watermark on `p` to `w`, and W_p with it.
  Status Raise(Part* p, int s, int64_t w, RowSink* out, bool* closed);

  Factory make_;
  int64_t max_delay_;
  Check check_;
  int inputs_;
  std::map<int32_t, Part> parts_;
  Part* last_ = nullptr;  // the partition of the last record
  std::string last_name_;
};

}  // namespace kpipe
