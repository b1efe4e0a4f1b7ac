// The aggregate functions of kpipe(7), AGGREGATES, as one table: for each
// function, how it is written in -a, what it needs of a value, and how it
// adds a value to its state, merges two states, writes its result and
// saves and loads what it keeps beyond Acc's scalars. AggSet
// (agg/aggregate.h) runs them; nothing else switches over the function.
// Internal to agg/. The table is immutable; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/sketch.h"
#include "kpipe/state/codec.h"

namespace kpipe::agg {

// The state of the aggregates that keep values.
struct Acc::Heavy {
  std::unordered_set<std::string> distinct;
  DistinctCounter approx;
  QuantileSketch quantile;
  struct TopEntry {
    int64_t count = 0;
    uint64_t first_seq = 0;
  };
  std::unordered_map<std::string, TopEntry> top;
  std::vector<std::pair<uint64_t, std::string>> collected;  // (arrival, value)
};

struct Function {
  std::string_view name;    // in -a; count:PATH is kCountValues
  Fn fn;
  int min_parts, max_parts;  // of FN[:PATH[:ARG]], the function included
  bool number;               // its values must be numbers
  bool text;                 // it keeps values' compact text
  bool heavy;                // its state has an Acc::Heavy
  // Adds a present value `v` of record `x` (the caller counts it in n).
  void (*add)(Acc* acc, const Value& v, const Extracted& x);
  // Merges `from` (n > 0) into `into` (the caller adds the counts).
  void (*merge)(const AggSpec& s, Acc* into, Acc* from);
  // Appends the result as JSON.
  void (*append)(const AggSpec& s, const Acc& acc, std::string* out);
  // What an Acc::Heavy holds for this function (heavy functions only).
  void (*save)(const Acc::Heavy& h, state::Encoder* e);
  void (*load)(Acc::Heavy* h, state::Decoder* d);
};

const Function& FunctionOf(Fn fn);
// By its name in -a ("median" is quantile with q = 0.5); null when unknown.
const Function* FindFunction(std::string_view name);
// "count, sum, ..., collect": the names, for messages.
std::string_view FunctionNames();

}  // namespace kpipe::agg
