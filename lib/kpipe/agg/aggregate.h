// Aggregate functions of kpipe(7), AGGREGATES, and the group key: what
// kwindow and kagg compute per (window, key) or per key.
//
// A record goes through two steps so that a bad record changes no state:
// Extract() reads every value the aggregates need and checks its type
// (a non-number for sum is bad input); Check() tests the integer sums of
// each target row for overflow; only then Add() updates the rows.
// Not thread-safe; an AggSet is immutable after construction.
#pragma once

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

// The state of one aggregate in one row.
struct Acc {
  int64_t n = 0;        // values (records for count)
  int64_t i = 0;        // integer sum; min/max when !dbl
  double d = 0;         // double part of a sum; min/max when dbl
  double c = 0;         // sum, avg: Neumaier's compensation of d
  bool dbl = false;     // sum: a non-integer was added; min/max: best is a double
  // first/last: the value kept, its time and arrival; made by the first
  // value (the other functions, on millions of keys, carry one pointer).
  struct Kept {
    int64_t t = 0;
    uint64_t seq = 0;
    std::string text;
  };
  std::unique_ptr<Kept> kept;
  struct Heavy;
  std::unique_ptr<Heavy> heavy;  // distinct, approx_distinct, quantile, top, collect
  Acc();
  ~Acc();
  Acc(Acc&&) noexcept;
  Acc& operator=(Acc&&) noexcept;
};

class AggSet {
 public:
  explicit AggSet(std::vector<AggSpec> specs);

  // Reads the values of `root`. BadInput when a value has the wrong type.
  Status Extract(simdjson::dom::element root, Extracted* x) const;
  // The state of a fresh row.
  std::vector<Acc> NewRow() const;
  // Makes `row` (one Acc per aggregate) the state of a fresh row.
  void InitRow(std::span<Acc> row) const;
  // BadInput when adding `x` to `row` would take an integer sum out of int64.
  Status Check(std::span<const Acc> row, const Extracted& x) const;
  void Add(std::span<Acc> row, const Extracted& x) const;
  // Same for merging all of `rows` and then adding `x` (session windows).
  Status CheckMerge(const std::vector<const std::vector<Acc>*>& rows, const Extracted& x) const;
  void Merge(std::vector<Acc>* into, std::vector<Acc>* from) const;
  // Appends `"name":value` for each aggregate, comma-separated.
  void Append(std::string* out, std::span<const Acc> row) const;

  void Save(state::Encoder* e, std::span<const Acc> row) const;
  // Into a row of one Acc per aggregate, or a vector made one.
  void Load(state::Decoder* d, std::span<Acc> row) const;
  void Load(state::Decoder* d, std::vector<Acc>* row) const;

  const std::vector<AggSpec>& specs() const { return specs_; }
  bool has_sum() const { return has_sum_; }

 private:
  std::vector<AggSpec> specs_;
  std::vector<std::string> quoted_names_;  // "\"name\":"
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

 private:
  std::vector<json::FieldPath> paths_;
  std::vector<std::string> quoted_names_;
};

// Appends the compact JSON text of `v`.
void AppendCompact(std::string* out, simdjson::dom::element v);
// Appends a double in shortest round-trip form; null when not finite.
void AppendDouble(std::string* out, double d);

}  // namespace kpipe::agg
