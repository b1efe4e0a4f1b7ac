// GroupOperator: kagg's running group-by table (kagg(1)). One row per key,
// kept in order of first arrival; --ttl forgets a key once the watermark is
// DUR past the greatest event time it has seen.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/key_index.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

struct GroupOptions {
  EmitMode emit = EmitMode::kFinal;
  int64_t ttl = -1;  // ms of event time; < 0: keys are kept forever
};

class GroupOperator : public Operator {
 public:
  GroupOperator(const GroupOptions& opt, agg::GroupKey by, agg::AggSet aggs)
      : opt_(opt), by_(std::move(by)), aggs_(std::move(aggs)) {}

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override;
  int64_t OutputWatermark(int64_t w) const override { return w; }
  Status Dump(RowSink* out) override;
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;
  bool SavesChanges() const override { return true; }
  Status SaveChanges(state::StateWriter* w) override;

 private:
  struct Row {
    std::string key;
    uint64_t hash = 0;  // of key
    std::string fields;
    uint64_t first_seq = 0;
    int64_t max_t = INT64_MIN;
    std::vector<agg::Acc> accs;
    bool changed = false;
    bool touched = false;  // changed since the last checkpoint
    bool gone = false;     // forgotten (kept until the checkpoint: touched_ points to it)
  };
  // The state entry key of a row: first arrival, then the key.
  static void EntryKey(const Row& row, std::string* out);
  void Touch(Row* row) {
    if (!row->touched) {
      row->touched = true;
      touched_.push_back(row);
    }
  }
  Status WriteRow(const Row& row, RowSink* out);
  struct RowKey {
    std::string_view operator()(const Row& r) const { return r.key; }
  };
  Row* Insert(std::string key, uint64_t hash, uint64_t seq);
  void Forget(Row* row);

  GroupOptions opt_;
  agg::GroupKey by_;
  agg::AggSet aggs_;
  agg::KeyIndex<Row, RowKey> rows_;
  std::map<uint64_t, std::unique_ptr<Row>> order_;  // by first arrival; owns the rows
  // (greatest event time, first arrival) of rows, smallest first; entries
  // whose row has moved on are skipped when they come up.
  // Since the last checkpoint: rows changed (by first arrival) and the
  // entry keys of rows forgotten.
  std::vector<Row*> touched_;
  std::vector<std::string> gone_;
  std::vector<std::unique_ptr<Row>> graveyard_;  // forgotten rows in touched_
  using Expiry = std::pair<int64_t, uint64_t>;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiry_;

  agg::Extracted x_;
  std::string key_;
  std::string row_buf_;
};

}  // namespace kpipe
