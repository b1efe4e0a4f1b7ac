#include "kpipe/stream/partitioned.h"

#include <algorithm>

#include <fmt/format.h>

namespace kpipe {

PartitionedOperator::Part* PartitionedOperator::Gain(const std::string& name, int64_t w) {
  Part& p = parts_[name];
  p.op = make_();
  // Its changes go to the changelog at each commit (stream/members.h).
  if (IncrementalState* inc = p.op->incremental()) inc->TrackChanges();
  p.w = w;
  p.written.clear();
  last_ = nullptr;
  return &p;
}

void PartitionedOperator::Lose(const std::string& name) {
  parts_.erase(name);
  last_ = nullptr;
}

Status PartitionedOperator::Add(const RecordIn& r, int64_t, RowSink* out, AddOutcome* outcome) {
  if (!last_ || last_name_ != r.partition) {
    auto it = parts_.find(r.partition);
    if (it == parts_.end())
      return Status::Internal(fmt::format("a record of {}, which this member does not own", r.partition));
    last_ = &it->second;
    last_name_.assign(r.partition);
  }
  Part* p = last_;
  if (check_) KPIPE_RETURN_IF_ERROR(check_(r));
  KPIPE_RETURN_IF_ERROR(p->op->Add(r, p->w, out, outcome));
  if (outcome->late) outcome->watermark = p->w;
  if (!r.has_time) return Status::OK();
  int64_t w = SaturatingAdd(r.t, -max_delay_);
  if (w <= p->w) return Status::OK();
  p->w = w;
  bool closed = false;
  return p->op->Advance(w, out, &closed);
}

Status PartitionedOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  for (auto& [name, p] : parts_) {
    if (w <= p.w) continue;
    p.w = w;
    bool c = false;
    KPIPE_RETURN_IF_ERROR(p.op->Advance(w, out, &c));
    *closed |= c;
  }
  return Status::OK();
}

Status PartitionedOperator::Finish(RowSink* out) {
  for (auto& [name, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Finish(out));
  return Status::OK();
}

Status PartitionedOperator::Tick(RowSink* out) {
  for (auto& [name, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Tick(out));
  return Status::OK();
}

int64_t PartitionedOperator::OutputWatermark(int64_t w) const {
  if (parts_.empty()) return w;
  int64_t low = INT64_MAX;
  for (const auto& [name, p] : parts_) low = std::min(low, p.op->OutputWatermark(std::max(p.w, w)));
  return low;
}

Status PartitionedOperator::Dump(RowSink* out) {
  for (auto& [name, p] : parts_) KPIPE_RETURN_IF_ERROR(p.op->Dump(out));
  return Status::OK();
}

Status PartitionedOperator::Save(state::StateWriter*) const {
  return Status::Usage("a group member keeps its state in the changelog topic, not in --state");
}

Status PartitionedOperator::Load(state::StateReader*) {
  return Status::Usage("a group member keeps its state in the changelog topic, not in --state");
}

}  // namespace kpipe
