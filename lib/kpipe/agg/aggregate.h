// Aggregate functions of kpipe(7), AGGREGATES, and the group key: what
// kwindow and kagg compute per (window, key) or per key.
//
// A record goes through two steps so that a bad record changes no state:
// Extract() reads every value the aggregates need and checks its type
// (a non-number for sum is bad input); Check() tests the integer sums of
// each target row for overflow; only then Add() updates the rows.
// Not thread-safe; an AggSet is immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "kpipe/agg/sketch.h"
#include "kpipe/json/path.h"
#include "kpipe/state/codec.h"
#include "kpipe/status.h"

namespace kpipe::agg {

enum class Fn {
  kCount,           // records
  kCountValues,     // count:PATH, non-null values
  kSum,
  kMin,
  kMax,
  kAvg,
  kFirst,
  kLast,
  kDistinct,
  kApproxDistinct,
  kQuantile,        // also median
  kTop,
  kCollect,
};

struct AggSpec {
  std::string name;  // output field name
  Fn fn;
  json::FieldPath path;  // unused for kCount
  double q = 0.5;        // kQuantile
  int64_t k = 0;         // kTop
};

// Parses aggregate specs (kagg's and kwindow's -a): each argument is
// `[NAME=]FN[:PATH[:ARG]]`, or several separated by commas. An error names
// the spec it is about first ("sum: expected sum:PATH").
Result<std::vector<AggSpec>> ParseAggSpecs(const std::vector<std::string>& args);

// One value read for one aggregate from one record.
struct Value {
  enum Kind : uint8_t { kMissing, kInt, kDouble, kOther } kind = kMissing;
  int64_t i = 0;
  double d = 0;
  // Compact JSON text, filled for the aggregates that keep values; an
  // offset into the extraction's text buffer until Resolve().
  size_t text_begin = 0, text_len = 0;
  std::string_view text;
};

// The values of one record for every aggregate, and its arrival and time.
struct Extracted {
  std::vector<Value> values;
  std::string text;  // backing store of Value::text
  int64_t t = 0;     // event time (0 when the tool has none)
  uint64_t seq = 0;  // arrival number
};

// The accumulators of one row: one state per aggregate, each of its
// function's own kind and size (a count's 8 bytes, a sum's 32), at an
// offset AggSet keeps, in a block of AggSet::row_bytes() bytes, 8-aligned. The
// states that own an allocation (first, last, distinct, approx_distinct,
// quantile, top, collect) come first, kOwnedBytes each, so that FreeRow()
// needs only their number. A block is raw memory: AggSet::InitRow makes
// its states, AggSet::FreeRow ends them.
//
// AccRow owns one (kwindow's rows).
class AccRow {
 public:
  AccRow() = default;
  AccRow(AccRow&& o) noexcept : words_(std::move(o.words_)), owned_(o.owned_) { o.owned_ = 0; }
  AccRow& operator=(AccRow&& o) noexcept;
  ~AccRow();

  std::byte* data() { return reinterpret_cast<std::byte*>(words_.get()); }
  const std::byte* data() const { return reinterpret_cast<const std::byte*>(words_.get()); }

 private:
  friend class AggSet;
  std::unique_ptr<uint64_t[]> words_;
  uint32_t owned_ = 0;  // states that own an allocation
};

class AggSet {
 public:
  explicit AggSet(std::vector<AggSpec> specs);

  // Reads the values of `root`. BadInput when a value has the wrong type.
  Status Extract(simdjson::dom::element root, Extracted* x) const;
  static constexpr size_t kOwnedBytes = 16;
  // The size of a row's block of accumulators, a multiple of 8.
  size_t row_bytes() const { return row_bytes_; }
  // How many of its states own an allocation.
  uint32_t owned_states() const { return owned_states_; }
  // A fresh row, owned.
  AccRow NewRow() const;
  // Makes the states of a fresh row in `row`, row_bytes() of raw memory,
  // 8-aligned.
  void InitRow(std::byte* row) const;
  // Ends the states of `row`, of which `owned` own an allocation
  // (owned_states()); its memory is the caller's again.
  static void FreeRow(std::byte* row, uint32_t owned);
  // BadInput when adding `x` to `row` would take an integer sum out of int64.
  Status Check(const std::byte* row, const Extracted& x) const;
  void Add(std::byte* row, const Extracted& x) const;
  // Same for merging all of `rows` and then adding `x` (session windows).
  Status CheckMerge(std::span<const std::byte* const> rows, const Extracted& x) const;
  // Merges `from` into `into`; `from` is left to be freed.
  void Merge(std::byte* into, std::byte* from) const;
  // Appends `"name":value` for each aggregate, comma-separated.
  void Append(std::string* out, const std::byte* row) const;

  // A row's state, in one format whatever the function (each state's
  // numbers, then its kept value, then what a heavy one holds).
  void Save(state::Encoder* e, const std::byte* row) const;
  // Into the states of a fresh row (InitRow).
  void Load(state::Decoder* d, std::byte* row) const;

  const std::vector<AggSpec>& specs() const { return specs_; }
  bool has_sum() const { return has_sum_; }

 private:
  std::vector<AggSpec> specs_;
  std::vector<std::string> quoted_names_;  // "\"name\":"
  std::vector<uint32_t> offsets_;          // of each aggregate's state in a row
  size_t row_bytes_ = 0;
  uint32_t owned_states_ = 0;
  bool has_sum_ = false;
};

// The group key of --by: `PATH[,PATH...]` arguments, `NAME=PATH` renames.
class GroupKey {
 public:
  // `PATH[,PATH...]` arguments, `NAME=PATH` renames. An error names the
  // part it is about first.
  static Result<GroupKey> Parse(const std::vector<std::string>& args);

  // Replaces `*key` with the compact JSON of each field (null when missing),
  // comma-separated: equal keys have equal text.
  void Extract(simdjson::dom::element root, std::string* key) const;
  // Appends `"name":value` for each field of `key`, comma-separated.
  void AppendFields(std::string* out, std::string_view key) const;
  bool empty() const { return paths_.empty(); }
  size_t size() const { return paths_.size(); }
  // The fields' names in the rows, in order.
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::vector<json::FieldPath> paths_;
  std::vector<std::string> names_;
  std::vector<std::string> quoted_names_;
};

}  // namespace kpipe::agg
