// JoinOperator: kjoin(1) as an Operator (stream/operator.h) over two inputs,
// 0 LEFT and 1 RIGHT, run by the one runner (stream/runner.h). It reads the
// join key from each record, keeps the record's compact text, and hands it
// to an IntervalJoin or a TableJoin (join/join.h), which write the rows.
// The runner's inputs must ask for spans (InputOptions::spans), and for a
// table join RIGHT for tombstones' times (null_value_timestamp).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kpipe/join/join.h"
#include "kpipe/json/path.h"
#include "kpipe/stream/hint_delay.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

struct JoinSpec {
  std::vector<json::FieldPath> keys[2];  // LEFT's and RIGHT's key fields, in pairs
  bool table = false, as_of = false;     // RIGHT is a table (versioned with as_of)
  int64_t lo = 0, hi = 0;                // interval: lt + lo <= rt <= lt + hi
  int64_t lateness = 0;
  JoinType type = JoinType::kInner;
  int64_t retain = -1;                   // as-of: versions kept; < 0: every one
  bool merge = false;                    // one merged object per row
  // -G GROUP, a member of it (kpipe(7), SCALING): a record's message key
  // must be its join key (else BadInput).
  std::string member_group;
};

class JoinOperator : public Operator {
 public:
  explicit JoinOperator(JoinSpec spec);

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  // An interval join's hint is the record's key hash (JoinKeyHash), which
  // Add then need not compute: Prefetch loads its key slot, and four
  // hints later the records the Add will pair with and link to
  // (IntervalJoin::Prefetch, PrefetchRecords).
  std::function<uint64_t(simdjson::dom::element)> HintFunction(int input) const override;
  void Prefetch(int input, uint64_t hint) override;
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override { return Status::OK(); }
  int64_t OutputWatermark(int64_t w) const override;
  Status Dump(RowSink* out) override;
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;
  // An interval join's entries are its records, by sequence number.
  bool keyed_save() const override { return interval_ != nullptr; }

 private:
  // The rule of members: the message key is the join key `rec_.key`.
  Status CheckMessageKey(const RecordIn& r);
  JoinRows* Rows(RowSink* out) {
    rows_.set_sink(out);
    return &rows_;
  }

  JoinSpec spec_;
  JoinRows rows_;
  std::unique_ptr<IntervalJoin> interval_;  // one of the two
  std::unique_ptr<TableJoin> table_;
  // Puts the key's values of a record in key_values_, in order; returns
  // the number of the first missing or null one, or the key's size.
  size_t KeyValues(int input, simdjson::dom::element value);

  JoinRecord rec_;  // reused: its strings keep their capacity
  std::string scratch_;
  std::string compact_;  // a record made compact
  std::vector<simdjson::dom::element> key_values_;
  HintDelay<4> hints_;  // Prefetch's, for PrefetchRecords four hints later
};

}  // namespace kpipe
