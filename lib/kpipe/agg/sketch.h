// The two approximate aggregates of kpipe(7), AGGREGATES, both mergeable (a
// session merge or a hop pane combines them without rereading the input):
//
// DistinctCounter (approx_distinct): the distinct 64-bit hashes themselves
// while there are at most kExactLimit of them (so small counts are exact),
// then a HyperLogLog of 2^14 one-byte registers, estimated with Ertl's
// improved estimator ("New cardinality estimation algorithms for HyperLogLog
// sketches", 2017), which needs no bias tables: standard error 0.81 %.
//
// QuantileSketch (quantile, median): the values themselves while there are at
// most kExactLimit of them, then a DDSketch (Masson et al., VLDB 2019) with
// relative accuracy 0.5 %: every returned quantile x' of a true quantile x
// has |x' - x| <= 0.005 |x|.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "kpipe/state/codec.h"

namespace kpipe::agg {

inline uint64_t Mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A well-mixed 64-bit hash of a value's compact JSON text: FNV-1a over
// 8-byte words, then a full avalanche, fast on short keys. Checkpoints keep
// these hashes (approx_distinct), so the function never changes.
inline uint64_t HashValue(std::string_view text) {
  const char* p = text.data();
  size_t n = text.size();
  uint64_t h = 0xcbf29ce484222325ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = Mix((h ^ w) * 0x100000001b3ULL);
  }
  // The last n - i < 8 bytes as a little-endian number. Read with loads of
  // fixed size, which may overlap (the same bytes land on the same bits):
  // a copy of variable size to the stack, then one load, stalls the load
  // until the copy's stores retire.
  size_t r = n - i;
  p += i;
  uint64_t tail = 0;
  if (r >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + r - 4, 4);
    tail = lo | (static_cast<uint64_t>(hi) << (8 * (r - 4)));
  } else if (r > 0) {
    tail = static_cast<uint8_t>(p[0]) | static_cast<uint64_t>(static_cast<uint8_t>(p[r / 2])) << (8 * (r / 2)) |
           static_cast<uint64_t>(static_cast<uint8_t>(p[r - 1])) << (8 * (r - 1));
  }
  return Mix((h ^ tail) * 0x100000001b3ULL);
}

class DistinctCounter {
 public:
  static constexpr size_t kExactLimit = 2048;  // hashes: 16 KiB, as the registers
  static constexpr int kPrecision = 14;

  void Add(uint64_t hash);
  void Merge(const DistinctCounter& o);
  uint64_t Estimate() const;
  bool exact() const { return registers_.empty(); }

  void Save(state::Encoder* e) const;
  void Load(state::Decoder* d);

 private:
  void ToRegisters();
  void AddToRegisters(uint64_t hash);
  std::vector<uint64_t> hashes_;    // sorted, while exact
  std::vector<uint8_t> registers_;  // 2^kPrecision, once past kExactLimit
};

// A number as a record gave it: an integer, kept exactly, or a double.
struct Number {
  bool is_int = false;
  int64_t i = 0;  // when is_int
  double d = 0;   // the double, or the integer's nearest
};
// The sign of a - b, exact (no rounding of a to a double).
int CompareIntDouble(int64_t a, double b);
// The sign of a - b, exact.
int Compare(const Number& a, const Number& b);

class QuantileSketch {
 public:
  static constexpr size_t kExactLimit = 256;
  static constexpr double kAccuracy = 0.005;

  void Add(const Number& v);
  void Add(double v) { Add(Number{false, 0, v}); }
  void Merge(const QuantileSketch& o);
  // The value at rank floor(q * (n - 1)) of the sorted values (0 <= q <= 1):
  // one of them, as it came, while exact; else a bin's value, a double.
  // REQUIRES: count() > 0.
  Number QuantileNumber(double q) const;
  double Quantile(double q) const { return QuantileNumber(q).d; }
  uint64_t count() const { return count_; }

  void Save(state::Encoder* e) const;
  void Load(state::Decoder* d);

 private:
  // Bins of one sign: counts[i] counts values of bin index offset + i.
  struct Store {
    int32_t offset = 0;
    std::vector<uint64_t> counts;
    void Add(int32_t index, uint64_t n);
  };
  void ToBins();
  void AddToBins(double v, uint64_t n);
  int32_t Index(double magnitude) const;
  double Value(int32_t index) const;

  uint64_t count_ = 0;
  std::vector<Number> values_;  // while exact
  bool binned_ = false;
  Store positive_, negative_;
  uint64_t zeros_ = 0;
};

}  // namespace kpipe::agg
