#include "kpipe/agg/group.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <thread>

namespace kpipe {

// The changes of one interval between checkpoints, written by the checkpoint
// thread (Write) while the operator goes on. Rows changed again meanwhile
// were first written into kept_ by the operator's thread (Keep).
class GroupOperator::Snapshot : public SnapshotJob {
 public:
  Snapshot(const GroupOperator* op, uint32_t epoch) : op_(op), epoch_(epoch) {}
  Status Write(state::StateWriter* w) override;
  // The operator's thread, holding the row's claim: its entries as they are.
  void Keep(Row* row);

  std::vector<Row*> rows;
  std::vector<std::pair<uint64_t, std::string>> gone;
  std::vector<Row*> graveyard;  // freed by EndSnapshot()

 private:
  const GroupOperator* op_;
  uint32_t epoch_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> kept_;  // guarded by mu_
};

void GroupOperator::Snapshot::Keep(Row* row) {
  std::string key, value;
  op_->IndexEntryKey(row->key(), &key);
  op_->EncodeRow(*row, &value);
  std::lock_guard<std::mutex> lock(mu_);
  kept_.emplace_back(std::move(key), std::move(value));
  if (!row->in_store) {
    RowEntryKey(row->first_seq, row->key(), &key);
    kept_.emplace_back(std::move(key), std::string());
    row->in_store = true;
  }
}

Status GroupOperator::Snapshot::Write(state::StateWriter* w) {
  std::string key, value;
  KPIPE_RETURN_IF_ERROR(op_->DeleteGone(gone, w, &key));
  std::vector<Row*> theirs;  // taken by the operator's thread
  for (Row* r : rows) {
    uint32_t c = r->claim.load(std::memory_order_acquire);
    if (c == epoch_ || !r->claim.compare_exchange_strong(c, epoch_, std::memory_order_acq_rel)) {
      theirs.push_back(r);
      continue;
    }
    Status st = r->gone ? Status::OK() : op_->PutRow(r, w, &key, &value);  // gone: deleted above
    r->saved.store(epoch_, std::memory_order_release);
    KPIPE_RETURN_IF_ERROR(st);
  }
  // Those rows are in kept_ once their writer says so.
  for (Row* r : theirs)
    while (r->saved.load(std::memory_order_acquire) != epoch_) std::this_thread::yield();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : kept_) KPIPE_RETURN_IF_ERROR(w->Put(k, v));
  return Status::OK();
}

void GroupOperator::EndSnapshot() {
  if (!job_) return;
  for (Row* row : job_->graveyard) FreeRow(row);
  job_->graveyard.clear();
  job_ = nullptr;
}

std::unique_ptr<SnapshotJob> GroupOperator::BeginSnapshot() {
  if (backing_) return nullptr;  // Fetch() reads the store the job writes
  auto job = std::make_unique<Snapshot>(this, epoch_);
  job->rows.swap(touched_);
  job->gone.swap(gone_);
  job->graveyard.swap(graveyard_);
  job_ = job.get();
  job_epoch_ = epoch_++;
  return job;
}

void GroupOperator::Preserve(Row* row) {
  if (!job_ || row->touched_epoch != job_epoch_) return;
  uint32_t e = job_epoch_, c = row->claim.load(std::memory_order_acquire);
  if (c != e && row->claim.compare_exchange_strong(c, e, std::memory_order_acq_rel)) {
    job_->Keep(row);
    row->saved.store(e, std::memory_order_release);
    preserved_++;
    return;
  }
  // The job's writer has it: it is done in a moment.
  while (row->saved.load(std::memory_order_acquire) != e) std::this_thread::yield();
}

Status GroupOperator::PutRow(Row* r, state::StateWriter* w, std::string* key, std::string* value) const {
  IndexEntryKey(r->key(), key);
  EncodeRow(*r, value);
  KPIPE_RETURN_IF_ERROR(w->Put(*key, *value));
  if (!r->in_store) {
    if (order_entries_) {
      RowEntryKey(r->first_seq, r->key(), key);
      KPIPE_RETURN_IF_ERROR(w->Put(*key, {}));
    }
    r->in_store = true;
  }
  return Status::OK();
}

GroupOperator::~GroupOperator() {
  // The arena's blocks go with it; only what a row owns beyond its piece
  // needs each row visited.
  if (aggs_.owned_states() > 0 || big_rows_ > 0) FreeRows();
}

void GroupOperator::FreeRows() {
  for (std::deque<Ordered>* rows : {&order_, &finished_}) {
    for (const Ordered& e : *rows)
      if (e.row()) FreeRow(e.row());
    rows->clear();
  }
  for (Row* row : graveyard_) FreeRow(row);
  graveyard_.clear();
}

GroupOperator::Row* GroupOperator::MakeRow(std::string_view key) {
  size_t size = RowSize(key.size());
  if (size > agg::RowArena::kMaxPiece) big_rows_++;
  Row* row = new (arena_.Allocate(size)) Row();
  row->key_size = static_cast<uint32_t>(key.size());
  std::memcpy(reinterpret_cast<char*>(row + 1), key.data(), key.size());
  aggs_.InitRow(row->accs());
  return row;
}

void GroupOperator::FreeRow(Row* row) {
  size_t size = RowSize(row->key_size);
  if (size > agg::RowArena::kMaxPiece) big_rows_--;
  agg::AggSet::FreeRow(row->accs(), aggs_.owned_states());
  row->~Row();
  arena_.Release(row, size);
}

GroupOperator::Row* GroupOperator::Insert(std::string_view key, uint64_t hash, uint64_t seq) {
  Row* row = MakeRow(key);
  row->first_seq = seq;
  return Adopt(row, hash);
}

GroupOperator::Row* GroupOperator::InsertStored(uint64_t hash, Row* stored) {
  stored->in_store = true;
  return Adopt(stored, hash);
}

GroupOperator::Row* GroupOperator::Adopt(Row* row, uint64_t hash) {
  mem_ += RowMemory(*row);
  rows_.Insert(hash, row);
  if (!order_.empty() && order_.back().seq() > row->first_seq) sorted_ = false;
  row->pos = static_cast<uint32_t>(order_.size());
  order_.push_back(Ordered(row));
  return row;
}

void GroupOperator::Unlink(Row* row) {
  mem_ -= RowMemory(*row);
  rows_.Erase(agg::HashValue(row->key()), row);
  holes_++;
  order_[row->pos] = Ordered::Empty(row->first_seq);
}

void GroupOperator::Compact(bool always) {
  if (holes_ == 0 || (!always && (holes_ < 1024 || holes_ * 2 < order_.size()))) return;
  std::deque<Ordered> kept;
  size_t hand = 0;
  for (size_t i = 0; i < order_.size(); i++) {
    if (i == hand_) hand = kept.size();
    Row* row = order_[i].row();
    if (!row) continue;
    row->pos = static_cast<uint32_t>(kept.size());
    kept.push_back(order_[i]);
  }
  hand_ = hand;
  order_ = std::move(kept);
  holes_ = 0;
}

void GroupOperator::SortRows() {
  if (sorted_) return;
  Compact(/*always=*/true);
  std::sort(order_.begin(), order_.end(),
            [](const Ordered& a, const Ordered& b) { return a.row()->first_seq < b.row()->first_seq; });
  for (size_t i = 0; i < order_.size(); i++) order_[i].row()->pos = static_cast<uint32_t>(i);
  sorted_ = true;
  hand_ = 0;
}

void GroupOperator::Forget(Row* row) {
  Preserve(row);
  if (track_) gone_.emplace_back(row->first_seq, row->key());
  Unlink(row);
  if (Referenced(row)) {  // freed after the checkpoint that writes it
    row->gone = true;
    graveyard_.push_back(row);
  } else {
    FreeRow(row);
  }
  Compact();
}

// The group fields are made from the key for each row written rather than
// kept beside it: with millions of keys, memory counts more.
Status GroupOperator::WriteRow(const Row& row, RowSink* out) {
  fields_.clear();
  by_.AppendFields(&fields_, row.key());
  row_buf_.clear();
  row_buf_.push_back('{');
  if (!fields_.empty()) {
    row_buf_.append(fields_);
    row_buf_.push_back(',');
  }
  aggs_.Append(&row_buf_, row.accs());
  row_buf_.push_back('}');
  return out->Write(fields_, row_buf_);
}

Status GroupOperator::Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) {
  outcome->Reset();
  by_.Extract(r.value, &key_);
  KPIPE_RETURN_IF_ERROR(aggs_.Extract(r.value, &x_));
  x_.t = r.t;
  x_.seq = r.seq;
  uint64_t hash = r.hint ? *r.hint : agg::HashValue(key_);
  Row* row = rows_.Find(hash, key_);
  // A record TTL or more past its key's greatest event time: the key's
  // stretch of activity is over in event time, whether or not W has got
  // there yet, which depends on how far each input or partition has been
  // read (so that two runs over the same partitions read in another
  // interleaving would cut the key's rows differently).
  if (row && opt_.ttl >= 0 && r.has_time && row->max_t != INT64_MIN &&
      r.t >= SaturatingAdd(row->max_t, opt_.ttl)) {
    if (opt_.emit != EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
    Forget(row);
    row = nullptr;
  }
  if (!row && backing_) KPIPE_RETURN_IF_ERROR(Fetch(key_, hash, &row));
  if (row) KPIPE_RETURN_IF_ERROR(aggs_.Check(row->accs(), x_));
  else row = Insert(key_, hash, r.seq);
  Preserve(row);
  aggs_.Add(row->accs(), x_);
  row->changed = true;
  row->used = true;
  Touch(row);
  if (r.has_time && r.t > row->max_t) {
    row->max_t = r.t;
    if (opt_.ttl >= 0) expiry_.push({r.t, row->first_seq, hash});
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

std::function<uint64_t(simdjson::dom::element)> GroupOperator::HintFunction(int) const {
  // While the table is small it stays in the cache, and the parse thread,
  // the slower of the two then, had better not read every key twice.
  if (rows_.size() < kPrefetchFrom) return {};
  // Its own copies: it runs on the block parser's thread.
  return [by = by_, key = std::string()](simdjson::dom::element value) mutable {
    by.Extract(value, &key);
    return agg::HashValue(key);
  };
}

void GroupOperator::Prefetch(int input, uint64_t hint) {
  rows_.Prefetch(hint);
  auto earlier = hints_.Push(input, hint);
  if (earlier.input < 0) return;
  if (const Row* row = rows_.Peek(earlier.hash)) __builtin_prefetch(row);
}

Status GroupOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  if (opt_.ttl < 0 || w == INT64_MAX) return Status::OK();  // end of input: Finish()
  while (!expiry_.empty()) {
    Expiry e = expiry_.top();
    if (SaturatingAdd(e.t, opt_.ttl) > w) break;  // W - t < TTL
    expiry_.pop();
    // The row of that first arrival, if its key is still there.
    Row* row = rows_.FindIf(e.hash, [&](const Row& r) { return r.first_seq == e.seq; });
    if (!row || row->max_t != e.t) continue;  // forgotten or updated since
    if (opt_.emit != EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
    Forget(row);
    *closed = true;
  }
  return Status::OK();
}

Status GroupOperator::Finish(RowSink* out) {
  KPIPE_RETURN_IF_ERROR(ForEachRow([&](const Row& row, bool) -> Status {
    if (track_) gone_.emplace_back(row.first_seq, row.key());
    if (opt_.emit != EmitMode::kChanges) return WriteRow(row, out);
    return Status::OK();
  }));
  for (Ordered& e : finished_)
    if (e.row()) FreeRow(e.row());
  finished_.clear();
  for (Ordered& e : order_) {
    Row* row = e.row();
    if (!row) continue;
    Preserve(row);  // a snapshot being written keeps it as it was
    row->gone = true;
    cleared_upto_ = std::max(cleared_upto_, row->first_seq);
    if (Referenced(row)) {
      graveyard_.push_back(row);
      e = Ordered::Empty(row->first_seq);
    }
  }
  if (!gone_.empty()) cleared_upto_ = std::max(cleared_upto_, gone_.back().first);
  rows_ = agg::KeyIndex<Row, RowKey>();
  finished_ = std::move(order_);
  order_.clear();
  holes_ = 0;
  sorted_ = true;
  hand_ = 0;
  expiry_ = {};
  mem_ = 0;
  return Status::OK();
}

Status GroupOperator::Tick(RowSink* out) {
  if (opt_.emit != EmitMode::kEvery) return Status::OK();
  SortRows();
  for (const Ordered& e : order_) {
    Row* row = e.row();
    if (!row || !row->changed) continue;
    Preserve(row);
    row->changed = false;
    Touch(row);
    KPIPE_RETURN_IF_ERROR(WriteRow(*row, out));
  }
  return Status::OK();
}

Status GroupOperator::Dump(RowSink* out) {
  return ForEachRow([&](const Row& row, bool) { return WriteRow(row, out); });
}

Status GroupOperator::ForEachRow(const std::function<Status(const Row&, bool in_memory)>& fn) {
  SortRows();
  size_t mem = 0;
  auto skip_empty = [&] {
    while (mem < order_.size() && !order_[mem].row()) mem++;
  };
  skip_empty();
  if (backing_) {
    // Rows only in the store, merged by first arrival with those in memory
    // (which are newer when a row is in both).
    auto scan = backing_->Scan("r");
    std::string_view k, v;
    std::string entry, value;
    while (scan->Next(&k, &v)) {
      if (k.size() < 9) return Status::Internal("group state: short row key");
      uint64_t seq = state::ReadBigEndian64(k.substr(1));
      if (seq <= cleared_upto_) continue;
      for (; mem < order_.size() && order_[mem].seq() < seq; mem++, skip_empty())
        KPIPE_RETURN_IF_ERROR(fn(*order_[mem].row(), true));
      if (mem < order_.size() && order_[mem].seq() == seq) {
        KPIPE_RETURN_IF_ERROR(fn(*order_[mem].row(), true));
        mem++;
        skip_empty();
        continue;
      }
      TempRow tmp(this, k.substr(9));
      IndexEntryKey(tmp->key(), &entry);
      bool found;
      KPIPE_RETURN_IF_ERROR(backing_->Get(entry, &value, &found));
      if (!found) return Status::Internal("group state: an order entry has no row");
      KPIPE_RETURN_IF_ERROR(DecodeRow(value, tmp.get()));
      KPIPE_RETURN_IF_ERROR(fn(*tmp.get(), false));
    }
  }
  for (; mem < order_.size(); mem++)
    if (order_[mem].row()) KPIPE_RETURN_IF_ERROR(fn(*order_[mem].row(), true));
  return Status::OK();
}

void GroupOperator::RowEntryKey(uint64_t seq, std::string_view key, std::string* out) {
  out->assign(1, 'r');
  state::AppendBigEndian64(out, seq);
  out->append(key);
}

void GroupOperator::IndexEntryKey(std::string_view key, std::string* out) {
  out->assign(1, 'x');
  out->append(key);
}

void GroupOperator::EncodeRow(const Row& row, std::string* out) const {
  out->clear();
  state::Encoder v(out);
  v.U64(row.first_seq);
  v.I64(row.max_t);
  v.U8(row.changed);
  aggs_.Save(&v, row.accs());
}

Status GroupOperator::DecodeRow(std::string_view value, Row* row) const {
  state::Decoder vd(value);
  row->first_seq = vd.U64();
  row->max_t = vd.I64();
  row->changed = vd.U8() != 0;
  aggs_.Load(&vd, row->accs());
  return vd.Check("group state");
}

Status GroupOperator::Save(state::StateWriter* writer) const {
  std::string key, value;
  for (const Ordered& e : order_) {
    const Row* row = e.row();
    if (!row) continue;
    IndexEntryKey(row->key(), &key);
    EncodeRow(*row, &value);
    KPIPE_RETURN_IF_ERROR(writer->Put(key, value));
    RowEntryKey(row->first_seq, row->key(), &key);
    KPIPE_RETURN_IF_ERROR(writer->Put(key, {}));
  }
  return Status::OK();
}

Status GroupOperator::DeleteGone(const std::vector<std::pair<uint64_t, std::string>>& gone,
                                 state::StateWriter* w, std::string* key) const {
  for (const auto& [seq, k] : gone) {
    if (order_entries_) {
      RowEntryKey(seq, k, key);
      KPIPE_RETURN_IF_ERROR(w->Delete(*key));
    }
    IndexEntryKey(k, key);
    KPIPE_RETURN_IF_ERROR(w->Delete(*key));
  }
  return Status::OK();
}

Status GroupOperator::SaveChanges(state::StateWriter* writer) {
  // Forgotten first: a key forgotten and seen again since has new entries.
  std::string key, value;
  KPIPE_RETURN_IF_ERROR(DeleteGone(gone_, writer, &key));
  gone_.clear();
  for (Row* r : touched_) {
    if (r->gone) continue;  // forgotten since: deleted above
    KPIPE_RETURN_IF_ERROR(PutRow(r, writer, &key, &value));
  }
  touched_.clear();
  for (Row* row : graveyard_) FreeRow(row);
  graveyard_.clear();
  epoch_++;
  return Status::OK();
}

Status GroupOperator::SetBacking(state::StateLookup* store, int64_t budget_bytes) {
  if (opt_.ttl >= 0) return Status::Usage("a memory budget and a time to live cannot be combined in this release");
  backing_ = store;
  budget_ = budget_bytes;
  return Status::OK();
}

Status GroupOperator::Fetch(const std::string& key, uint64_t hash, Row** row) {
  *row = nullptr;
  std::string k, v;
  bool found;
  IndexEntryKey(key, &k);
  KPIPE_RETURN_IF_ERROR(backing_->Get(k, &v, &found));
  if (!found) return Status::OK();
  TempRow tmp(this, key);
  KPIPE_RETURN_IF_ERROR(DecodeRow(v, tmp.get()));
  if (tmp->first_seq <= cleared_upto_) return Status::OK();  // let go of by Finish()
  *row = InsertStored(hash, tmp.release());
  return Status::OK();
}

// A clock over the rows by first arrival: a row updated since the hand last
// passed gets a second chance; one not changed since the checkpoint (so the
// store has it as it is) and not due at the next --emit every tick goes.
void GroupOperator::Evict() {
  int64_t target = budget_ / 4 * 3;
  size_t steps = 2 * order_.size();
  size_t i = hand_;
  while (mem_ > target && steps-- > 0 && !order_.empty()) {
    if (i >= order_.size()) i = 0;
    Row* row = order_[i].row();
    if (!row) {
      i++;
      continue;
    }
    bool clean = row->touched_epoch != epoch_ && row->in_store && !(opt_.emit == EmitMode::kEvery && row->changed);
    if (!clean) {
      i++;
      continue;
    }
    if (row->used) {
      row->used = false;
      i++;
      continue;
    }
    Unlink(row);
    FreeRow(row);
    i++;
  }
  hand_ = i;
  Compact();
}

Status GroupOperator::Load(state::StateReader* reader) {
  rows_ = agg::KeyIndex<Row, RowKey>();
  touched_.clear();
  FreeRows();
  holes_ = 0;
  sorted_ = true;
  hand_ = 0;
  expiry_ = {};
  gone_.clear();
  mem_ = 0;
  std::string_view k, v;
  while (reader->Next(&k, &v)) {
    if (k.empty() || k[0] != 'x') continue;  // the order entries
    // With a memory budget, the rest stays in the store until needed.
    if (backing_ && mem_ > budget_ / 4 * 3) break;
    std::string_view key = k.substr(1);
    TempRow tmp(this, key);
    KPIPE_RETURN_IF_ERROR(DecodeRow(v, tmp.get()));
    uint64_t hash = agg::HashValue(key);
    Row* row = InsertStored(hash, tmp.release());
    if (opt_.ttl >= 0 && row->max_t != INT64_MIN) expiry_.push({row->max_t, row->first_seq, hash});
  }
  SortRows();  // read in the order of their keys
  return Status::OK();
}

}  // namespace kpipe
