#include "kpipe/stream/partitioned.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace kpipe {

PartitionedOperator::Part* PartitionedOperator::Gain(int32_t partition, const int64_t* w) {
  Part& p = parts_[partition];
  p.op = make_();
  // Its changes go to the changelog at each commit (stream/members.h).
  if (IncrementalState* inc = p.op->incremental()) inc->TrackChanges(/*whole=*/true);
  p.w[0] = w[0];
  p.w[1] = inputs_ > 1 ? w[1] : INT64_MAX;
  p.written.clear();
  p.seq = 0;
  last_ = nullptr;
  return &p;
}

void PartitionedOperator::Lose(int32_t partition) {
  parts_.erase(partition);
  last_ = nullptr;
}

Status PartitionedOperator::Raise(Part* p, int s, int64_t w, RowSink* out, bool* closed) {
  if (w <= p->w[s]) return Status::OK();
  int64_t before = p->W();
  p->w[s] = w;
  bool c = false;
  if (inputs_ > 1) {
    KPIPE_RETURN_IF_ERROR(p->op->AdvanceInput(s, w, out, &c));
    *closed |= c;
  }
  if (p->W() <= before) return Status::OK();
  KPIPE_RETURN_IF_ERROR(p->op->Advance(p->W(), out, &c));
  *closed |= c;
  return Status::OK();
}

Status PartitionedOperator::Add(const RecordIn& r, int64_t, RowSink* out, AddOutcome* outcome) {
  if (!last_ || last_name_ != r.partition) {
    // "topic/N": the partition's number (with two inputs, N of each is one).
    size_t slash = r.partition.rfind('/');
    int32_t n = -1;
    if (slash != std::string_view::npos)
      std::from_chars(r.partition.data() + slash + 1, r.partition.data() + r.partition.size(), n);
    auto it = parts_.find(n);
    if (it == parts_.end())
      return Status::Internal(fmt::format("a record of {}, which this member does not own", r.partition));
    last_ = &it->second;
    last_name_.assign(r.partition);
  }
  Part* p = last_;
  if (check_) KPIPE_RETURN_IF_ERROR(check_(r));
  int64_t w = p->W();
  if (inputs_ > 1) {
    RecordIn numbered = r;
    numbered.seq = ++p->seq;
    KPIPE_RETURN_IF_ERROR(p->op->Add(numbered, w, out, outcome));
  } else {
    KPIPE_RETURN_IF_ERROR(p->op->Add(r, w, out, outcome));
  }
  if (outcome->late) outcome->watermark = w;
  if (!r.has_time) return Status::OK();
  bool closed = false;
  return Raise(p, r.input, SaturatingAdd(r.t, -max_delay_), out, &closed);
}

// The runner's W is the minimum over the partitions it tracks, and one
// newly gained, or not read for a while, can be behind it: raised to W, its
// own records would be late. Only the end (+inf) moves the partitions.
Status PartitionedOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  if (w != INT64_MAX) return Status::OK();
  for (auto& [n, p] : parts_)
    for (int s = 0; s < inputs_; s++) KPIPE_RETURN_IF_ERROR(Raise(&p, s, w, out, closed));
  return Status::OK();
}

Status PartitionedOperator::AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  if (w != INT64_MAX) return Status::OK();  // as Advance
  for (auto& [n, p] : parts_) KPIPE_RETURN_IF_ERROR(Raise(&p, input, w, out, closed));
  return Status::OK();
}

Status PartitionedOperator::Finish(RowSink* out) {
  for (auto& [n, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Finish(out));
  return Status::OK();
}

Status PartitionedOperator::Tick(RowSink* out) {
  for (auto& [n, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Tick(out));
  return Status::OK();
}

int64_t PartitionedOperator::OutputWatermark(int64_t w) const {
  if (parts_.empty()) return w;
  int64_t low = INT64_MAX;
  for (const auto& [n, p] : parts_) low = std::min(low, p.op->OutputWatermark(std::max(p.W(), w)));
  return low;
}

Status PartitionedOperator::Dump(RowSink* out) {
  for (auto& [n, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Dump(out));
  return Status::OK();
}

Status PartitionedOperator::Save(state::StateWriter*) const {
  return Status::Usage("a group member keeps its state in the changelog topic, not in --state");
}

Status PartitionedOperator::Load(state::StateReader*) {
  return Status::Usage("a group member keeps its state in the changelog topic, not in --state");
}

}  // namespace kpipe
