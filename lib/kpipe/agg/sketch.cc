#include "kpipe/agg/sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace kpipe::agg {

namespace {

// Ertl's sigma and tau functions (section 4 of the paper).
double Sigma(double x) {
  if (x == 1) return std::numeric_limits<double>::infinity();
  double y = 1, z = x, prev;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z != prev);
  return z;
}

double Tau(double x) {
  if (x == 0 || x == 1) return 0;
  double y = 1, z = 1 - x, prev;
  do {
    x = std::sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z != prev);
  return z / 3;
}

}  // namespace

void DistinctCounter::Add(uint64_t hash) {
  if (!registers_.empty()) return AddToRegisters(hash);
  auto it = std::lower_bound(hashes_.begin(), hashes_.end(), hash);
  if (it != hashes_.end() && *it == hash) return;
  hashes_.insert(it, hash);
  if (hashes_.size() > kExactLimit) ToRegisters();
}

void DistinctCounter::AddToRegisters(uint64_t hash) {
  constexpr int q = 64 - kPrecision;
  size_t index = hash >> q;
  uint64_t rest = hash << kPrecision;  // the q remaining bits, left-aligned
  uint8_t rank = rest == 0 ? q + 1 : static_cast<uint8_t>(std::countl_zero(rest) + 1);
  if (rank > q + 1) rank = q + 1;
  if (rank > registers_[index]) registers_[index] = rank;
}

void DistinctCounter::ToRegisters() {
  registers_.assign(size_t{1} << kPrecision, 0);
  for (uint64_t h : hashes_) AddToRegisters(h);
  hashes_.clear();
  hashes_.shrink_to_fit();
}

void DistinctCounter::Merge(const DistinctCounter& o) {
  if (o.registers_.empty()) {
    for (uint64_t h : o.hashes_) Add(h);
    return;
  }
  if (registers_.empty()) ToRegisters();
  for (size_t i = 0; i < registers_.size(); i++)
    registers_[i] = std::max(registers_[i], o.registers_[i]);
}

uint64_t DistinctCounter::Estimate() const {
  if (registers_.empty()) return hashes_.size();
  constexpr int q = 64 - kPrecision;
  const double m = static_cast<double>(registers_.size());
  int counts[q + 2] = {};
  for (uint8_t r : registers_) counts[r]++;
  double z = m * Tau(1 - counts[q + 1] / m);
  for (int k = q; k >= 1; k--) z = 0.5 * (z + counts[k]);
  z += m * Sigma(counts[0] / m);
  double estimate = (0.5 / std::log(2.0)) * m * m / z;
  return static_cast<uint64_t>(std::llround(estimate));
}

void DistinctCounter::Save(state::Encoder* e) const {
  e->U8(registers_.empty() ? 0 : 1);
  if (registers_.empty()) {
    e->U64(hashes_.size());
    for (uint64_t h : hashes_) e->U64(h);
  } else {
    e->Str(std::string_view(reinterpret_cast<const char*>(registers_.data()), registers_.size()));
  }
}

void DistinctCounter::Load(state::Decoder* d) {
  hashes_.clear();
  registers_.clear();
  if (d->U8() == 0) {
    uint64_t n = d->U64();
    for (uint64_t i = 0; i < n && d->ok(); i++) hashes_.push_back(d->U64());
  } else {
    std::string_view r = d->Str();
    registers_.assign(r.begin(), r.end());
  }
}

void QuantileSketch::Store::Add(int32_t index, uint64_t n) {
  if (counts.empty()) {
    offset = index;
    counts.push_back(n);
    return;
  }
  if (index < offset) {
    counts.insert(counts.begin(), static_cast<size_t>(offset - index), 0);
    offset = index;
  } else if (index >= offset + static_cast<int32_t>(counts.size())) {
    counts.resize(static_cast<size_t>(index - offset) + 1, 0);
  }
  counts[static_cast<size_t>(index - offset)] += n;
}

namespace {
constexpr double kGamma = (1 + QuantileSketch::kAccuracy) / (1 - QuantileSketch::kAccuracy);
const double kLogGamma = std::log(kGamma);
constexpr double kTiny = 1e-300;  // smaller magnitudes count as zero
}  // namespace

int32_t QuantileSketch::Index(double magnitude) const {
  return static_cast<int32_t>(std::ceil(std::log(magnitude) / kLogGamma));
}

double QuantileSketch::Value(int32_t index) const {
  return 2 * std::pow(kGamma, index) / (kGamma + 1);
}

void QuantileSketch::AddToBins(double v, uint64_t n) {
  if (std::fabs(v) < kTiny) zeros_ += n;
  else if (v > 0) positive_.Add(Index(v), n);
  else negative_.Add(Index(-v), n);
}

int CompareIntDouble(int64_t a, double b) {
  // 2^63 and -2^63 are doubles; every double strictly between them has an
  // integer part that fits.
  if (b >= 0x1p63) return -1;
  if (b < -0x1p63) return 1;
  int64_t whole = static_cast<int64_t>(b);  // toward zero, exact
  if (a != whole) return a < whole ? -1 : 1;
  double frac = b - static_cast<double>(whole);  // exact
  return (frac < 0) - (frac > 0);
}

int Compare(const Number& a, const Number& b) {
  if (a.is_int && b.is_int) return (a.i > b.i) - (a.i < b.i);
  if (a.is_int) return CompareIntDouble(a.i, b.d);
  if (b.is_int) return -CompareIntDouble(b.i, a.d);
  return (a.d > b.d) - (a.d < b.d);
}

void QuantileSketch::ToBins() {
  binned_ = true;
  for (const Number& v : values_) AddToBins(v.d, 1);
  values_.clear();
  values_.shrink_to_fit();
}

void QuantileSketch::Add(const Number& v) {
  count_++;
  if (binned_) return AddToBins(v.d, 1);
  values_.push_back(v);
  if (values_.size() > kExactLimit) ToBins();
}

void QuantileSketch::Merge(const QuantileSketch& o) {
  if (!o.binned_) {
    for (const Number& v : o.values_) Add(v);
    return;
  }
  if (!binned_) ToBins();
  count_ += o.count_;
  zeros_ += o.zeros_;
  for (size_t i = 0; i < o.positive_.counts.size(); i++)
    if (o.positive_.counts[i]) positive_.Add(o.positive_.offset + int32_t(i), o.positive_.counts[i]);
  for (size_t i = 0; i < o.negative_.counts.size(); i++)
    if (o.negative_.counts[i]) negative_.Add(o.negative_.offset + int32_t(i), o.negative_.counts[i]);
}

Number QuantileSketch::QuantileNumber(double q) const {
  uint64_t rank = static_cast<uint64_t>(std::floor(q * static_cast<double>(count_ - 1)));
  if (!binned_) {
    std::vector<Number> sorted = values_;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(rank), sorted.end(),
                     [](const Number& a, const Number& b) { return Compare(a, b) < 0; });
    return sorted[rank];
  }
  auto number = [](double d) { return Number{false, 0, d}; };
  // Ascending: the most negative values (the highest negative indexes)
  // first, then zeros, then positive values.
  uint64_t seen = 0;
  for (size_t i = negative_.counts.size(); i-- > 0;) {
    seen += negative_.counts[i];
    if (seen > rank) return number(-Value(negative_.offset + int32_t(i)));
  }
  seen += zeros_;
  if (seen > rank) return number(0);
  for (size_t i = 0; i < positive_.counts.size(); i++) {
    seen += positive_.counts[i];
    if (seen > rank) return number(Value(positive_.offset + int32_t(i)));
  }
  return number(Value(positive_.offset + int32_t(positive_.counts.size()) - 1));
}

// Its form in a checkpoint: binned, or exact with every value as a double
// (as builds before integers were kept wrote it all), or exact with each
// value tagged, when an integer is beyond what a double holds exactly.
enum : uint8_t { kExactDoubles = 0, kBinned = 1, kExactTagged = 2 };

void QuantileSketch::Save(state::Encoder* e) const {
  e->U64(count_);
  if (binned_) {
    e->U8(kBinned);
  } else {
    bool tagged = std::any_of(values_.begin(), values_.end(), [](const Number& v) {
      return v.is_int && (v.i > (int64_t{1} << 53) || v.i < -(int64_t{1} << 53));
    });
    e->U8(tagged ? kExactTagged : kExactDoubles);
    for (const Number& v : values_) {
      if (tagged) e->U8(v.is_int);
      if (tagged && v.is_int) e->I64(v.i);
      else e->F64(v.d);
    }
    return;
  }
  e->U64(zeros_);
  for (const Store* s : {&positive_, &negative_}) {
    e->I64(s->offset);
    e->U64(s->counts.size());
    for (uint64_t c : s->counts) e->U64(c);
  }
}

void QuantileSketch::Load(state::Decoder* d) {
  *this = QuantileSketch();
  count_ = d->U64();
  uint8_t form = d->U8();
  if (form != kExactDoubles && form != kBinned && form != kExactTagged) return d->Fail();
  binned_ = form == kBinned;
  if (!binned_) {
    for (uint64_t i = 0; i < count_ && d->ok(); i++) {
      Number v;
      v.is_int = form == kExactTagged && d->U8() != 0;
      if (v.is_int) {
        v.i = d->I64();
        v.d = static_cast<double>(v.i);
      } else {
        v.d = d->F64();
      }
      values_.push_back(v);
    }
    return;
  }
  zeros_ = d->U64();
  for (Store* s : {&positive_, &negative_}) {
    s->offset = static_cast<int32_t>(d->I64());
    uint64_t n = d->U64();
    for (uint64_t i = 0; i < n && d->ok(); i++) s->counts.push_back(d->U64());
  }
}

}  // namespace kpipe::agg
