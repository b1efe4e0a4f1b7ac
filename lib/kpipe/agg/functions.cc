#include "kpipe/agg/functions.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe::agg {

namespace {

int CompareNumbers(const BestAcc& a, const Value& v) {  // sign of (v - best), exact
  return Compare(Number{v.kind == Value::kInt, v.i, v.d}, Number{!a.dbl, a.i, a.d});
}

void SetNumber(BestAcc* a, const Value& v) {
  a->dbl = v.kind != Value::kInt;
  if (a->dbl) a->d = v.d;
  else a->i = v.i;
}

// Neumaier's compensated summation: the rounding error of each addition is
// kept in `a->c`, so that sums of decimals such as 0.1 + 0.2 + ... come out
// as the nearest double to the exact sum far more often than a plain loop.
void AddDouble(SumAcc* a, double x) {
  a->MarkDouble();
  double t = a->d + x;
  if (std::fabs(a->d) >= std::fabs(x)) a->c += (a->d - t) + x;
  else a->c += (x - t) + a->d;
  a->d = t;
}

void AppendInt(std::string* out, int64_t n) {
  fmt::format_int text(n);
  out->append(text.data(), text.size());
}

// --- count, count:PATH
void CountAdd(std::byte*, const Value&, const Extracted&) {}
void CountMerge(const AggSpec&, std::byte*, std::byte*) {}
void CountAppend(const AggSpec&, const std::byte* acc, std::string* out) { AppendInt(out, As<CountAcc>(acc)->n); }

// --- sum, avg: an integer part, and a compensated double part
void SumAdd(std::byte* state, const Value& v, const Extracted&) {
  SumAcc* acc = As<SumAcc>(state);
  if (v.kind == Value::kInt) {
    acc->i += v.i;  // AggSet::Check() ruled out overflow
  } else {
    AddDouble(acc, v.d);
  }
}
void AvgAdd(std::byte* acc, const Value& v, const Extracted&) { AddDouble(As<SumAcc>(acc), v.d); }
void SumMerge(const AggSpec&, std::byte* into, std::byte* from) {
  SumAcc* acc = As<SumAcc>(into);
  const SumAcc* o = As<SumAcc>(from);
  acc->i += o->i;  // AggSet::CheckMerge() ruled out overflow; 0 for avg
  if (!acc->dbl() && !o->dbl()) return;  // both integers (o->d is 0)
  AddDouble(acc, o->d);
  AddDouble(acc, o->dbl() ? o->c : 0.0);
}
void SumAppend(const AggSpec&, const std::byte* state, std::string* out) {
  const SumAcc& acc = *As<SumAcc>(state);
  if (acc.n == 0) out->append("null");
  else if (!acc.dbl()) AppendInt(out, acc.i);
  else json::AppendDouble(out, static_cast<double>(acc.i) + (acc.d + acc.c));
}
void AvgAppend(const AggSpec&, const std::byte* state, std::string* out) {
  const SumAcc& acc = *As<SumAcc>(state);
  if (acc.n == 0) out->append("null");
  else json::AppendDouble(out, (acc.d + acc.c) / static_cast<double>(acc.n));
}

// --- min, max: the best number, an integer or a double
template <int kSign>
void BestAdd(std::byte* state, const Value& v, const Extracted&) {
  BestAcc* acc = As<BestAcc>(state);
  if (acc->n == 0 || CompareNumbers(*acc, v) * kSign > 0) SetNumber(acc, v);
}
template <int kSign>
void BestMerge(const AggSpec&, std::byte* into, std::byte* from) {
  BestAcc* acc = As<BestAcc>(into);
  const BestAcc* o = As<BestAcc>(from);
  Value v;
  v.kind = o->dbl ? Value::kDouble : Value::kInt;
  v.i = o->i;
  v.d = o->d;
  if (acc->n == 0 || CompareNumbers(*acc, v) * kSign > 0) SetNumber(acc, v);
}
void BestAppend(const AggSpec&, const std::byte* state, std::string* out) {
  const BestAcc& acc = *As<BestAcc>(state);
  if (acc.n == 0) out->append("null");
  else if (acc.dbl) json::AppendDouble(out, acc.d);
  else AppendInt(out, acc.i);
}

// --- first, last: by event time, then arrival
const Kept& KeptOf(const std::byte* state) { return *static_cast<const Kept*>(As<OwnedAcc>(state)->owned); }
void Keep(std::byte* state, int64_t t, uint64_t seq, std::string_view text) {
  OwnedAcc* acc = As<OwnedAcc>(state);
  if (!acc->owned) acc->owned = new Kept();
  Kept* k = static_cast<Kept*>(acc->owned);
  k->t = t;
  k->seq = seq;
  k->text.assign(text);
}
// A state that holds values has its kept value.
bool Holds(const std::byte* state) { return As<OwnedAcc>(state)->n != 0; }
void FirstAdd(std::byte* acc, const Value& v, const Extracted& x) {
  if (Holds(acc) && !(x.t < KeptOf(acc).t)) return;
  Keep(acc, x.t, x.seq, v.text);
}
void LastAdd(std::byte* acc, const Value& v, const Extracted& x) {
  if (Holds(acc) && !(x.t >= KeptOf(acc).t)) return;
  Keep(acc, x.t, x.seq, v.text);
}
void FirstMerge(const AggSpec&, std::byte* acc, std::byte* o) {
  if (!Holds(o)) return;
  const Kept& b = KeptOf(o);
  if (Holds(acc) && !(b.t < KeptOf(acc).t || (b.t == KeptOf(acc).t && b.seq < KeptOf(acc).seq))) return;
  Keep(acc, b.t, b.seq, b.text);
}
void LastMerge(const AggSpec&, std::byte* acc, std::byte* o) {
  if (!Holds(o)) return;
  const Kept& b = KeptOf(o);
  if (Holds(acc) && !(b.t > KeptOf(acc).t || (b.t == KeptOf(acc).t && b.seq > KeptOf(acc).seq))) return;
  Keep(acc, b.t, b.seq, b.text);
}
void TextAppend(const AggSpec&, const std::byte* acc, std::string* out) {
  out->append(Holds(acc) ? std::string_view(KeptOf(acc).text) : std::string_view("null"));
}

// --- the heavy ones: a Heavy, made with the row
Heavy& HeavyOf(std::byte* state) { return *static_cast<Heavy*>(As<OwnedAcc>(state)->owned); }
const Heavy& HeavyOf(const std::byte* state) { return *static_cast<const Heavy*>(As<OwnedAcc>(state)->owned); }
int64_t CountOf(const std::byte* state) { return As<OwnedAcc>(state)->n; }

// --- distinct: the set of values
void DistinctAdd(std::byte* acc, const Value& v, const Extracted&) { HeavyOf(acc).distinct.emplace(v.text); }
void DistinctMerge(const AggSpec&, std::byte* acc, std::byte* o) { HeavyOf(acc).distinct.merge(HeavyOf(o).distinct); }
void DistinctAppend(const AggSpec&, const std::byte* acc, std::string* out) {
  AppendInt(out, static_cast<int64_t>(HeavyOf(acc).distinct.size()));
}
void DistinctSave(const Heavy& h, state::Encoder* e) {
  e->U64(h.distinct.size());
  for (const std::string& s : h.distinct) e->Str(s);
}
void DistinctLoad(Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) h->distinct.emplace(d->Str());
}

// --- approx_distinct: a HyperLogLog sketch (exact while small)
void ApproxAdd(std::byte* acc, const Value& v, const Extracted&) { HeavyOf(acc).approx.Add(HashValue(v.text)); }
void ApproxMerge(const AggSpec&, std::byte* acc, std::byte* o) { HeavyOf(acc).approx.Merge(HeavyOf(o).approx); }
void ApproxAppend(const AggSpec&, const std::byte* acc, std::string* out) {
  fmt::format_to(std::back_inserter(*out), "{}", HeavyOf(acc).approx.Estimate());
}
void ApproxSave(const Heavy& h, state::Encoder* e) { h.approx.Save(e); }
void ApproxLoad(Heavy* h, state::Decoder* d) { h->approx.Load(d); }

// --- quantile:PATH:Q, median: a quantile sketch
void QuantileAdd(std::byte* acc, const Value& v, const Extracted&) {
  HeavyOf(acc).quantile.Add(Number{v.kind == Value::kInt, v.i, v.d});
}
void QuantileMerge(const AggSpec&, std::byte* acc, std::byte* o) {
  HeavyOf(acc).quantile.Merge(HeavyOf(o).quantile);
}
void QuantileAppend(const AggSpec& s, const std::byte* acc, std::string* out) {
  if (CountOf(acc) == 0) out->append("null");
  else if (Number n = HeavyOf(acc).quantile.QuantileNumber(s.q); n.is_int) AppendInt(out, n.i);
  else json::AppendDouble(out, n.d);
}
void QuantileSave(const Heavy& h, state::Encoder* e) { h.quantile.Save(e); }
void QuantileLoad(Heavy* h, state::Decoder* d) { h->quantile.Load(d); }

// --- top:PATH:K: counts per value; ties go to the value seen first
void TopAdd(std::byte* acc, const Value& v, const Extracted& x) {
  auto [it, fresh] = HeavyOf(acc).top.try_emplace(std::string(v.text));
  if (fresh) it->second.first_seq = x.seq;
  it->second.count++;
}
void TopMerge(const AggSpec&, std::byte* acc, std::byte* o) {
  for (auto& [value, e] : HeavyOf(o).top) {
    auto [it, fresh] = HeavyOf(acc).top.try_emplace(value, e);
    if (!fresh) {
      it->second.count += e.count;
      it->second.first_seq = std::min(it->second.first_seq, e.first_seq);
    }
  }
}
void TopAppend(const AggSpec& s, const std::byte* acc, std::string* out) {
  const auto& top = HeavyOf(acc).top;
  std::vector<std::pair<const std::string*, Heavy::TopEntry>> entries;
  entries.reserve(top.size());
  for (const auto& [value, e] : top) entries.emplace_back(&value, e);
  size_t k = std::min(entries.size(), static_cast<size_t>(s.k));
  std::partial_sort(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(k), entries.end(),
                    [](const auto& x, const auto& y) {
                      return x.second.count != y.second.count ? x.second.count > y.second.count
                                                              : x.second.first_seq < y.second.first_seq;
                    });
  out->push_back('[');
  for (size_t i = 0; i < k; i++) {
    if (i) out->push_back(',');
    fmt::format_to(std::back_inserter(*out), "{{\"value\":{},\"count\":{}}}", *entries[i].first,
                   entries[i].second.count);
  }
  out->push_back(']');
}
void TopSave(const Heavy& h, state::Encoder* e) {
  e->U64(h.top.size());
  for (const auto& [value, t] : h.top) {
    e->Str(value);
    e->I64(t.count);
    e->U64(t.first_seq);
  }
}
void TopLoad(Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    std::string value(d->Str());
    Heavy::TopEntry t;
    t.count = d->I64();
    t.first_seq = d->U64();
    h->top.emplace(std::move(value), t);
  }
}

// --- collect: every value, in arrival order
void CollectAdd(std::byte* acc, const Value& v, const Extracted& x) {
  HeavyOf(acc).collected.emplace_back(x.seq, std::string(v.text));
}
void CollectMerge(const AggSpec&, std::byte* acc, std::byte* o) {
  auto& mine = HeavyOf(acc).collected;
  auto& theirs = HeavyOf(o).collected;
  size_t mid = mine.size();
  mine.insert(mine.end(), std::make_move_iterator(theirs.begin()), std::make_move_iterator(theirs.end()));
  std::inplace_merge(mine.begin(), mine.begin() + static_cast<ptrdiff_t>(mid), mine.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
}
void CollectAppend(const AggSpec&, const std::byte* acc, std::string* out) {
  const auto& collected = HeavyOf(acc).collected;
  out->push_back('[');
  for (size_t i = 0; i < collected.size(); i++) {
    if (i) out->push_back(',');
    out->append(collected[i].second);
  }
  out->push_back(']');
}
void CollectSave(const Heavy& h, state::Encoder* e) {
  e->U64(h.collected.size());
  for (const auto& [seq, value] : h.collected) {
    e->U64(seq);
    e->Str(value);
  }
}
void CollectLoad(Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    uint64_t seq = d->U64();
    h->collected.emplace_back(seq, std::string(d->Str()));
  }
}

// In the order of enum Fn.
//   name               fn                  parts  number text   state
constexpr Function kFunctions[] = {
    {"count", Fn::kCount, 1, 2, false, false, AccKind::kCount, CountAdd, CountMerge, CountAppend, nullptr, nullptr},
    {"count", Fn::kCountValues, 2, 2, false, false, AccKind::kCount, CountAdd, CountMerge, CountAppend, nullptr, nullptr},
    {"sum", Fn::kSum, 2, 2, true, false, AccKind::kSum, SumAdd, SumMerge, SumAppend, nullptr, nullptr},
    {"min", Fn::kMin, 2, 2, true, false, AccKind::kBest, BestAdd<-1>, BestMerge<-1>, BestAppend, nullptr, nullptr},
    {"max", Fn::kMax, 2, 2, true, false, AccKind::kBest, BestAdd<1>, BestMerge<1>, BestAppend, nullptr, nullptr},
    {"avg", Fn::kAvg, 2, 2, true, false, AccKind::kSum, AvgAdd, SumMerge, AvgAppend, nullptr, nullptr},
    {"first", Fn::kFirst, 2, 2, false, true, AccKind::kKept, FirstAdd, FirstMerge, TextAppend, nullptr, nullptr},
    {"last", Fn::kLast, 2, 2, false, true, AccKind::kKept, LastAdd, LastMerge, TextAppend, nullptr, nullptr},
    {"distinct", Fn::kDistinct, 2, 2, false, true, AccKind::kHeavy, DistinctAdd, DistinctMerge, DistinctAppend,
     DistinctSave, DistinctLoad},
    {"approx_distinct", Fn::kApproxDistinct, 2, 2, false, true, AccKind::kHeavy, ApproxAdd, ApproxMerge, ApproxAppend,
     ApproxSave, ApproxLoad},
    {"quantile", Fn::kQuantile, 3, 3, true, false, AccKind::kHeavy, QuantileAdd, QuantileMerge, QuantileAppend,
     QuantileSave, QuantileLoad},
    {"top", Fn::kTop, 3, 3, false, true, AccKind::kHeavy, TopAdd, TopMerge, TopAppend, TopSave, TopLoad},
    {"collect", Fn::kCollect, 2, 2, false, true, AccKind::kHeavy, CollectAdd, CollectMerge, CollectAppend, CollectSave,
     CollectLoad},
};
constexpr Function kMedian = {"median", Fn::kQuantile, 2, 2, true, false, AccKind::kHeavy, QuantileAdd, QuantileMerge,
                              QuantileAppend, QuantileSave, QuantileLoad};

constexpr bool InOrder() {
  for (size_t i = 0; i < std::size(kFunctions); i++)
    if (static_cast<size_t>(kFunctions[i].fn) != i) return false;
  return std::size(kFunctions) == static_cast<size_t>(Fn::kCollect) + 1;
}
static_assert(InOrder(), "one entry per Fn, in the order of Fn");

}  // namespace

const Function& FunctionOf(Fn fn) { return kFunctions[static_cast<size_t>(fn)]; }

const Function* FindFunction(std::string_view name) {
  if (name == kMedian.name) return &kMedian;
  for (const Function& f : kFunctions)
    if (f.name == name) return &f;  // "count" finds kCount; count:PATH becomes kCountValues
  return nullptr;
}

std::string_view FunctionNames() {
  return "count, sum, min, max, avg, first, last, distinct, approx_distinct, quantile, median, top or collect";
}

}  // namespace kpipe::agg
