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
#include <utility>
#include <vector>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/key_index.h"
#include "kpipe/agg/row_arena.h"
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
  ~GroupOperator() override;
  GroupOperator(const GroupOperator&) = delete;
  GroupOperator& operator=(const GroupOperator&) = delete;

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
  void EndSnapshot() override;
  // Rows this thread wrote for a snapshot job before changing them.
  uint64_t preserved() const { return preserved_; }
  Status SetBacking(state::StateLookup* store, int64_t budget_bytes) override;
  bool OverBudget() const override { return backing_ && mem_ > budget_; }
  void Evict() override;

 private:
  // A row, its key and its accumulators are one piece of the arena
  // (MakeRow): the row, the key's bytes padded to 8, then its block of
  // accumulators (agg::AggSet::row_bytes()). 88 bytes for a key of up to 8
  // bytes with a count and a sum. The key's hash is in its index slot only
  // (agg::HashValue(key()) again when the row is let go of).
  struct Row {
    uint64_t first_seq = 0;
    int64_t max_t = INT64_MIN;
    uint32_t key_size = 0;
    // The interval between checkpoints it last changed in (epoch_ now:
    // changed since the last checkpoint, and in touched_).
    uint32_t touched_epoch = 0;
    // A snapshot job's rows are written by whichever thread takes them
    // first: the job's writer, or this one before it changes the row. Both
    // hold the epoch of the job taken for / written for.
    std::atomic<uint32_t> claim{0};
    std::atomic<uint32_t> saved{0};
    uint32_t pos = 0;  // its place in order_
    bool changed = false;
    bool gone = false;     // forgotten (kept until the checkpoint: touched_ points to it)
    bool in_store = false; // its entries are in the checkpoint store
    bool used = false;     // updated since the eviction clock last passed

    std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), key_size}; }
    std::byte* accs() { return reinterpret_cast<std::byte*>(this + 1) + KeyBytes(key_size); }
    const std::byte* accs() const { return reinterpret_cast<const std::byte*>(this + 1) + KeyBytes(key_size); }
    // A key's bytes in the row, padded to 8 for the accumulators after it.
    static size_t KeyBytes(size_t key_size) { return (key_size + 7) & ~size_t{7}; }
  };
  static_assert(sizeof(Row) == 40, "a row's header counts for millions of keys");
  // The arena piece of a row of a key of `key_size` bytes.
  size_t RowSize(size_t key_size) const {
    return sizeof(Row) + Row::KeyBytes(key_size) + aggs_.row_bytes();
  }
  // About what a row takes in memory, with its index slot and its place in
  // the order (--memory-budget).
  int64_t RowMemory(const Row& row) const { return static_cast<int64_t>(RowSize(row.key_size)) + 24; }
  // A fresh row of `key`, its accumulators those of a fresh row; FreeRow
  // ends it and gives its piece back.
  Row* MakeRow(std::string_view key);
  void FreeRow(Row* row);
  // Frees every row it holds: in order_, finished_ and graveyard_.
  void FreeRows();
  // A row decoded from the store for a moment (ForEachRow, Fetch, Load).
  class TempRow {
   public:
    TempRow(GroupOperator* op, std::string_view key) : op_(op), row_(op->MakeRow(key)) {}
    ~TempRow() {
      if (row_) op_->FreeRow(row_);
    }
    TempRow(const TempRow&) = delete;
    TempRow& operator=(const TempRow&) = delete;
    Row* get() const { return row_; }
    Row* operator->() const { return row_; }
    Row* release() { return std::exchange(row_, nullptr); }

   private:
    GroupOperator* op_;
    Row* row_;
  };
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
  Row* InsertStored(uint64_t hash, Row* stored);
  // Indexes `row` under its key's `hash` and orders it by its first arrival.
  Row* Adopt(Row* row, uint64_t hash);
  void Forget(Row* row);
  // Takes `row` out of the index and of order_ (leaving its place empty)
  // and its memory out of the count, for the caller to keep or free.
  void Unlink(Row* row);
  // Drops the empty places of order_ once they are more than half of it
  // (`always`: now), renumbering the rows' places and the clock's hand.
  void Compact(bool always = false);
  // Puts order_ back in first arrival order.
  void SortRows();

  GroupOptions opt_;
  agg::GroupKey by_;
  agg::AggSet aggs_;
  agg::RowArena arena_;
  size_t big_rows_ = 0;  // rows over agg::RowArena::kMaxPiece, which the arena does not hold
  agg::KeyIndex<Row, RowKey> rows_;
  // The rows, by first arrival, owned; a forgotten row leaves its place
  // empty until Compact. A row read back from the store under a memory
  // budget comes after rows that arrived after it (sorted_ false) until the
  // rows are next walked in order (SortRows). 8 bytes a row: its address,
  // or for an empty place the first arrival of the row that was there,
  // shifted left and tagged with a 1 (a row's address is 8-aligned).
  class Ordered {
   public:
    explicit Ordered(Row* row) : v_(reinterpret_cast<uintptr_t>(row)) {}
    static Ordered Empty(uint64_t seq) { return Ordered(seq << 1 | 1); }
    Row* row() const { return v_ & 1 ? nullptr : reinterpret_cast<Row*>(v_); }
    uint64_t seq() const { return v_ & 1 ? v_ >> 1 : row()->first_seq; }

   private:
    explicit Ordered(uint64_t v) : v_(v) {}
    uint64_t v_;
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
  std::vector<Row*> graveyard_;  // forgotten rows in touched_ or the job's, owned
  uint32_t epoch_ = 1;                 // the interval since the last checkpoint
  Snapshot* job_ = nullptr;            // the snapshot being written, if any
  uint32_t job_epoch_ = 0;             // the interval it holds
  uint64_t preserved_ = 0;
  // When a row's key is due to be forgotten (--ttl): its greatest event
  // time then, and its first arrival and key's hash, which find it in the
  // index if it is still there (an entry whose row has moved on is skipped
  // when it comes up). Earliest first, then by first arrival.
  struct Expiry {
    int64_t t;
    uint64_t seq;
    uint64_t hash;
    bool operator>(const Expiry& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
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
