#include "kpipe/agg/group.h"

namespace kpipe {

GroupOperator::Row* GroupOperator::Insert(std::string key, uint64_t hash, uint64_t seq) {
  auto row = std::make_unique<Row>();
  by_.AppendFields(&row->fields, key);
  row->key = std::move(key);
  row->hash = hash;
  row->first_seq = seq;
  row->accs = aggs_.NewRow();
  Row* r = row.get();
  rows_.Insert(hash, r);
  order_.emplace(seq, std::move(row));
  return r;
}

void GroupOperator::Forget(Row* row) {
  gone_.emplace_back();
  EntryKey(*row, &gone_.back());
  rows_.Erase(row->hash, row);
  auto it = order_.find(row->first_seq);
  if (row->touched) {
    row->gone = true;
    graveyard_.push_back(std::move(it->second));
  }
  order_.erase(it);  // frees `row` unless touched_ holds it
}

Status GroupOperator::WriteRow(const Row& row, RowSink* out) {
  row_buf_.clear();
  row_buf_.push_back('{');
  if (!row.fields.empty()) {
    row_buf_.append(row.fields);
    row_buf_.push_back(',');
  }
  aggs_.Append(&row_buf_, row.accs);
  row_buf_.push_back('}');
  return out->Write(row.fields, row_buf_);
}

Status GroupOperator::Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) {
  *outcome = AddOutcome();
  by_.Extract(r.value, &key_);
  KPIPE_RETURN_IF_ERROR(aggs_.Extract(r.value, &x_));
  x_.t = r.t;
  x_.seq = r.seq;
  uint64_t hash = agg::HashValue(key_);
  Row* row = rows_.Find(hash, key_);
  if (row) KPIPE_RETURN_IF_ERROR(aggs_.Check(row->accs, x_));
  else row = Insert(key_, hash, r.seq);
  aggs_.Add(&row->accs, x_);
  row->changed = true;
  Touch(row);
  if (r.has_time && r.t > row->max_t) {
    row->max_t = r.t;
    if (opt_.ttl >= 0) expiry_.emplace(r.t, row->first_seq);
  }
  if (opt_.emit == EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
  // A key whose newest record is already TTL behind W is forgotten at once.
  if (opt_.ttl >= 0 && row->max_t != INT64_MIN && w != INT64_MIN &&
      SaturatingAdd(row->max_t, opt_.ttl) <= w) {
    if (opt_.emit != EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
    Forget(row);
  }
  return Status::OK();
}

Status GroupOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  if (opt_.ttl < 0 || w == INT64_MAX) return Status::OK();  // end of input: Finish()
  while (!expiry_.empty()) {
    auto [t, seq] = expiry_.top();
    if (SaturatingAdd(t, opt_.ttl) > w) break;  // W - t < TTL
    expiry_.pop();
    auto it = order_.find(seq);
    if (it == order_.end() || it->second->max_t != t) continue;  // forgotten or updated since
    if (opt_.emit != EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(*it->second, out));
    Forget(it->second.get());
    *closed = true;
  }
  return Status::OK();
}

Status GroupOperator::Finish(RowSink* out) {
  if (opt_.emit != EmitMode::kChanges)
    for (const auto& [seq, row] : order_) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
  for (const auto& [seq, row] : order_) {
    gone_.emplace_back();
    EntryKey(*row, &gone_.back());
    row->gone = true;
    if (row->touched) graveyard_.push_back(std::move(order_[seq]));
  }
  rows_ = agg::KeyIndex<Row, RowKey>();
  order_.clear();
  expiry_ = {};
  return Status::OK();
}

Status GroupOperator::Tick(RowSink* out) {
  if (opt_.emit != EmitMode::kEvery) return Status::OK();
  for (const auto& [seq, row] : order_) {
    if (!row->changed) continue;
    row->changed = false;
    Touch(row.get());
    KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
  }
  return Status::OK();
}

Status GroupOperator::Dump(RowSink* out) {
  for (const auto& [seq, row] : order_) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
  return Status::OK();
}

void GroupOperator::EntryKey(const Row& row, std::string* out) {
  out->clear();
  state::Encoder k(out);
  k.U64(row.first_seq);
  k.Str(row.key);
}

Status GroupOperator::Save(state::StateWriter* writer) const {
  std::string key, value;
  for (const auto& [seq, row] : order_) {
    EntryKey(*row, &key);
    value.clear();
    state::Encoder v(&value);
    v.I64(row->max_t);
    v.U8(row->changed);
    aggs_.Save(&v, row->accs);
    KPIPE_RETURN_IF_ERROR(writer->Put(key, value));
  }
  return Status::OK();
}

Status GroupOperator::SaveChanges(state::StateWriter* writer) {
  // Forgotten first: a key forgotten and seen again since has a new entry.
  for (const std::string& key : gone_) KPIPE_RETURN_IF_ERROR(writer->Delete(key));
  gone_.clear();
  std::string key, value;
  for (Row* r : touched_) {
    if (r->gone) continue;  // forgotten since: deleted above
    const Row& row = *r;
    r->touched = false;
    EntryKey(row, &key);
    value.clear();
    state::Encoder v(&value);
    v.I64(row.max_t);
    v.U8(row.changed);
    aggs_.Save(&v, row.accs);
    KPIPE_RETURN_IF_ERROR(writer->Put(key, value));
  }
  touched_.clear();
  graveyard_.clear();
  return Status::OK();
}

Status GroupOperator::Load(state::StateReader* reader) {
  rows_ = agg::KeyIndex<Row, RowKey>();
  order_.clear();
  expiry_ = {};
  touched_.clear();
  gone_.clear();
  graveyard_.clear();
  std::string_view k, v;
  while (reader->Next(&k, &v)) {
    state::Decoder kd(k), vd(v);
    uint64_t seq = kd.U64();
    std::string key(kd.Str());
    KPIPE_RETURN_IF_ERROR(kd.Check("group state key"));
    uint64_t hash = agg::HashValue(key);
    Row* row = Insert(std::move(key), hash, seq);
    row->max_t = vd.I64();
    row->changed = vd.U8() != 0;
    aggs_.Load(&vd, &row->accs);
    KPIPE_RETURN_IF_ERROR(vd.Check("group state"));
    if (opt_.ttl >= 0 && row->max_t != INT64_MIN) expiry_.emplace(row->max_t, seq);
  }
  return Status::OK();
}

}  // namespace kpipe
