// GroupOperator: kagg's running group-by table (kagg(1)). One row per key,
// kept in order of first arrival; --ttl forgets a key once the watermark is
// DUR past the greatest event time it has seen.
// Not thread-safe, but for the job of BeginSnapshot(), which one other thread
// writes while this one goes on.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <queue>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/key_index.h"
#include "kpipe/stream/hint_delay.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

struct GroupOptions {
  EmitMode emit = EmitMode::kFinal;
  int64_t ttl = -1;  // ms of event time; < 0: keys are kept forever
};

class GroupOperator : public Operator, public IncrementalState {
 public:
  GroupOperator(const GroupOptions& opt, agg::GroupKey by, agg::AggSet aggs)
      : opt_(opt), by_(std::move(by)), aggs_(std::move(aggs)) {}

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  // The hint is the group key's hash (agg::HashValue of its text), which
  // Add then need not compute: Prefetch loads its index slot, and four
  // hints later the row the slot points to. Only from kPrefetchFrom keys
  // on (asked again at each block of input).
  std::function<uint64_t(simdjson::dom::element)> HintFunction(int input) const override;
  void Prefetch(int input, uint64_t hint) override;
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override;
  int64_t OutputWatermark(int64_t w) const override { return w; }
  Status Dump(RowSink* out) override;
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;
  IncrementalState* incremental() override { return this; }
  Status SaveChanges(state::StateWriter* w) override;
  void TrackChanges(bool whole) override {
    track_ = true;
    order_entries_ = !whole;
  }
  std::unique_ptr<SnapshotJob> BeginSnapshot() override;
  void EndSnapshot() override { job_ = nullptr; }
  // Rows this thread wrote for a snapshot job before changing them.
  uint64_t preserved() const { return preserved_; }
  Status SetBacking(state::StateLookup* store, int64_t budget_bytes) override;
  bool OverBudget() const override { return backing_ && mem_ > budget_; }
  void Evict() override;

 private:
  // A row, its accumulators and its key are one allocation (MakeRow): the
  // row, its block of accumulators (agg::AggSet::row_bytes()), then the
  // key's bytes.
  // The key's hash is in its index slot only (agg::HashValue(key()) again
  // when the row is let go of).
  struct Row {
    uint64_t first_seq = 0;
    int64_t max_t = INT64_MIN;
    uint32_t acc_bytes = 0;
    uint32_t key_size = 0;
    uint32_t owned = 0;  // accumulators that own an allocation (agg::AggSet::FreeRow)
    bool changed = false;
    bool gone = false;     // forgotten (kept until the checkpoint: touched_ points to it)
    bool in_store = false; // its entries are in the checkpoint store
    bool used = false;     // updated since the eviction clock last passed
    // The interval between checkpoints it last changed in (epoch_ now:
    // changed since the last checkpoint, and in touched_).
    uint32_t touched_epoch = 0;
    // A snapshot job's rows are written by whichever thread takes them
    // first: the job's writer, or this one before it changes the row. Both
    // hold the epoch of the job taken for / written for.
    std::atomic<uint32_t> claim{0};
    std::atomic<uint32_t> saved{0};
    uint32_t pos = 0;  // its place in order_

    std::byte* accs() { return reinterpret_cast<std::byte*>(this + 1); }
    const std::byte* accs() const { return reinterpret_cast<const std::byte*>(this + 1); }
    std::string_view key() const { return {reinterpret_cast<const char*>(accs() + acc_bytes), key_size}; }
    // About what it takes in memory, with its index slot and its place in
    // the order.
    int64_t bytes() const { return static_cast<int64_t>(sizeof(Row) + acc_bytes + key_size) + 48; }
  };
  static_assert(sizeof(Row) % 8 == 0, "the accumulators follow the row, 8-aligned");
  static_assert(sizeof(Row) == 48, "a row's header counts for millions of keys");
  struct RowDelete {
    void operator()(Row* row) const;
  };
  using RowPtr = std::unique_ptr<Row, RowDelete>;
  // A fresh row of `key`, its accumulators those of a fresh row.
  RowPtr MakeRow(std::string_view key) const;
  class Snapshot;
  // Before a row changes: when the running snapshot job still needs the row
  // as it is, writes it for the job first (or waits while the job does).
  void Preserve(Row* row);
  // The entries of `row` for a checkpoint (after deletions of keys gone).
  Status PutRow(Row* row, state::StateWriter* w, std::string* key, std::string* value) const;
  // The deletions of the entries of keys forgotten ((first arrival, key)).
  Status DeleteGone(const std::vector<std::pair<uint64_t, std::string>>& gone, state::StateWriter* w,
                    std::string* key) const;
  // State entries: "x" + key -> first arrival and the row (one read finds
  // a key let go of, with a memory budget); "r" + first arrival (8 bytes,
  // big-endian) + key -> nothing: the order of first arrival.
  static void RowEntryKey(uint64_t seq, std::string_view key, std::string* out);
  static void IndexEntryKey(std::string_view key, std::string* out);
  void EncodeRow(const Row& row, std::string* out) const;
  Status DecodeRow(std::string_view value, Row* row) const;
  // A key not in memory, from the store (memory budget); null if not there.
  Status Fetch(const std::string& key, uint64_t hash, Row** row);
  // Every row, in memory or only in the store, in order of first arrival.
  Status ForEachRow(const std::function<Status(const Row&, bool in_memory)>& fn);
  void Touch(Row* row) {
    if (track_ && row->touched_epoch != epoch_) {
      row->touched_epoch = epoch_;
      touched_.push_back(row);
    }
  }
  // Kept (not freed) when forgotten: a checkpoint still to write refers to it.
  bool Referenced(const Row* row) const {
    return row->touched_epoch == epoch_ || (job_ && row->touched_epoch == job_epoch_);
  }
  Status WriteRow(const Row& row, RowSink* out);
  struct RowKey {
    std::string_view operator()(const Row& r) const { return r.key(); }
  };
  Row* Insert(std::string_view key, uint64_t hash, uint64_t seq);
  // A row read from the store (DecodeRow into `stored`), into memory.
  Row* InsertStored(uint64_t hash, RowPtr stored);
  // Indexes `row` under its key's `hash` and orders it by its first arrival.
  Row* Adopt(RowPtr row, uint64_t hash);
  void Forget(Row* row);
  // Takes `row` out of order_, leaving its place empty, for the caller to
  // keep or free.
  RowPtr TakeOut(Row* row);
  // Drops the empty places of order_ once they are more than half of it
  // (`always`: now), renumbering the rows' places and the clock's hand.
  void Compact(bool always = false);
  // Puts order_ back in first arrival order.
  void SortRows();
  // The row that arrived first as `seq`, or null. REQUIRES: sorted_.
  Row* FindBySeq(uint64_t seq);

  GroupOptions opt_;
  agg::GroupKey by_;
  agg::AggSet aggs_;
  agg::KeyIndex<Row, RowKey> rows_;
  // The rows, by first arrival, owned; a forgotten row leaves its place
  // empty (row null) until Compact. A row read back from the store under a
  // memory budget comes after rows that arrived after it (sorted_ false)
  // until the rows are next walked in order (SortRows). 16 bytes a row,
  // where a tree's node took 64.
  struct Ordered {
    uint64_t seq;  // first arrival
    RowPtr row;
  };
  std::deque<Ordered> order_;
  size_t holes_ = 0;
  bool sorted_ = true;
  // The rows the last Finish() let go of: freed with the operator (or at the
  // next Finish, after an end record), not one by one at the end of the run.
  std::deque<Ordered> finished_;
  // (greatest event time, first arrival) of rows, smallest first; entries
  // whose row has moved on are skipped when they come up.
  // Since the last checkpoint: rows changed (by first arrival) and the
  // entry keys of rows forgotten.
  std::vector<Row*> touched_;
  std::vector<std::pair<uint64_t, std::string>> gone_;  // first arrival, key
  bool track_ = false;  // checkpoints follow: touched_ and gone_ are kept
  // The entries by first arrival ('r'), which only the store's scans under
  // a memory budget read; Load() reads the index entries ('x').
  bool order_entries_ = true;
  std::vector<RowPtr> graveyard_;  // forgotten rows in touched_ or the job's
  uint32_t epoch_ = 1;                 // the interval since the last checkpoint
  Snapshot* job_ = nullptr;            // the snapshot being written, if any
  uint32_t job_epoch_ = 0;             // the interval it holds
  uint64_t preserved_ = 0;
  using Expiry = std::pair<int64_t, uint64_t>;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiry_;

  // Memory budget.
  state::StateLookup* backing_ = nullptr;
  int64_t budget_ = 0, mem_ = 0;
  size_t hand_ = 0;            // the place in order_ where the eviction clock goes on
  uint64_t cleared_upto_ = 0;  // Finish() let go of every row up to this arrival

  static constexpr size_t kPrefetchFrom = 1 << 16;
  HintDelay<4> hints_;
  agg::Extracted x_;
  std::string key_;
  std::string fields_;  // of the row being written
  std::string row_buf_;
};

}  // namespace kpipe
