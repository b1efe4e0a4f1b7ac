// The aggregate functions of kpipe(7), AGGREGATES, as one table: for each
// function, how it is written in -a, what it needs of a value, and how it
// adds a value to its state, merges two states, writes its result and
// saves and loads what it keeps beyond its state's scalars. AggSet
// (agg/aggregate.h) runs them; nothing else switches over the function.
// Internal to agg/. The table is immutable; thread-safe.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <new>
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

// The states of the functions, one type per kind of state (AccKind), each
// beginning with the count of values it has taken (AccHead, which AggSet
// reads whatever the kind). They live in a row's block of accumulators
// (aggregate.h), made by AggSet::InitRow.
struct AccHead {
  int64_t n = 0;  // values (records for count)
};
struct CountAcc : AccHead {};  // count, count:PATH
struct SumAcc : AccHead {  // sum, avg (which keeps no integer part)
  int64_t i = 0;  // integer sum
  double d = 0;   // double part of the sum
  // Neumaier's compensation of d; until a double is added, -0.0 instead of
  // a flag (32 bytes, not 40): a compensation is never -0.0 once it took
  // a value, since it starts at +0.0 and a sum is -0.0 only when both its
  // terms are. For sum, dbl() says whether a non-integer was added.
  double c = -0.0;
  bool dbl() const { return c != 0 || !std::signbit(c); }
  // Before a double is added.
  void MarkDouble() {
    if (!dbl()) c = 0;
  }
};
static_assert(sizeof(SumAcc) == 32, "a count and a sum in 40 bytes");
struct BestAcc : AccHead {  // min, max
  int64_t i = 0;     // the best, an integer
  double d = 0;      // the best, a double
  bool dbl = false;  // the best is the double
};
// What a state owns beyond its block, freed through this base alone
// (AggSet::FreeRow knows no function).
struct Owned {
  virtual ~Owned() = default;
};
struct OwnedAcc : AccHead {  // first, last; the heavy functions
  Owned* owned = nullptr;
};
static_assert(sizeof(OwnedAcc) == AggSet::kOwnedBytes, "owning states are laid out first, at fixed size");

// first/last: the value kept, its time and arrival; made by the first value.
struct Kept : Owned {
  int64_t t = 0;
  uint64_t seq = 0;
  std::string text;
  Kept() = default;
  Kept(int64_t t, uint64_t seq, std::string text) : t(t), seq(seq), text(std::move(text)) {}
};

// The state of the aggregates that keep values; made with the row.
struct Heavy : Owned {
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

enum class AccKind : uint8_t { kCount, kSum, kBest, kKept, kHeavy };

struct Function {
  std::string_view name;    // in -a; count:PATH is kCountValues
  Fn fn;
  int min_parts, max_parts;  // of FN[:PATH[:ARG]], the function included
  bool number;               // its values must be numbers
  bool text;                 // it keeps values' compact text
  AccKind kind;             // of its state; kHeavy: it has a Heavy
  // Adds a present value `v` of record `x` to `acc`, a state of its kind
  // (the caller counts it in n).
  void (*add)(std::byte* acc, const Value& v, const Extracted& x);
  // Merges `from` (n > 0) into `into` (the caller adds the counts).
  void (*merge)(const AggSpec& s, std::byte* into, std::byte* from);
  // Appends the result as JSON.
  void (*append)(const AggSpec& s, const std::byte* acc, std::string* out);
  // What a Heavy holds for this function (heavy functions only).
  void (*save)(const Heavy& h, state::Encoder* e);
  void (*load)(Heavy* h, state::Decoder* d);
};

// The state of kind T at `acc`, made there by AggSet::InitRow; T is its
// kind, or AccHead, the part every kind begins with.
template <typename T>
T* As(std::byte* acc) {
  return std::launder(reinterpret_cast<T*>(acc));
}
template <typename T>
const T* As(const std::byte* acc) {
  return std::launder(reinterpret_cast<const T*>(acc));
}

const Function& FunctionOf(Fn fn);
// By its name in -a ("median" is quantile with q = 0.5); null when unknown.
const Function* FindFunction(std::string_view name);
// "count, sum, ..., collect": the names, for messages.
std::string_view FunctionNames();

}  // namespace kpipe::agg
