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
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
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

  // `max_delay` is D (ms).
  PartitionedOperator(Factory make, int64_t max_delay, Check check)
      : make_(std::move(make)), max_delay_(max_delay), check_(std::move(check)) {}

  struct Part {
    std::unique_ptr<Operator> op;
    int64_t w = INT64_MIN;  // W_p
    // An operator without incremental state: its entries as last written
    // to the changelog, by position (stream/members.cc).
    std::vector<std::pair<std::string, std::string>> written;
  };
  // A partition gained, with a new instance at watermark `w` that tracks
  // its changes (IncrementalState::TrackChanges); replaces one held. The
  // caller loads its state.
  Part* Gain(const std::string& name, int64_t w);
  // A partition lost: its instance is dropped (its rows were written).
  void Lose(const std::string& name);
  std::map<std::string, Part, std::less<>>& parts() { return parts_; }

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  // Only the end of input (w = +inf) moves a partition's instance.
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override;
  int64_t OutputWatermark(int64_t w) const override;
  Status Dump(RowSink* out) override;
  // A member's state lives in the changelog, not in --state checkpoints.
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;
  PartitionedOperator* partitioned() override { return this; }

 private:
  Factory make_;
  int64_t max_delay_;
  Check check_;
  std::map<std::string, Part, std::less<>> parts_;
  Part* last_ = nullptr;  // the partition of the last record
  std::string last_name_;
};

}  // namespace kpipe
