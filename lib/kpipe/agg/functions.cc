#include "kpipe/agg/functions.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

namespace kpipe::agg {

namespace {

int CompareNumbers(const Acc& a, const Value& v) {  // sign of (v - best)
  if (!a.dbl && v.kind == Value::kInt) return (v.i > a.i) - (v.i < a.i);
  double best = a.dbl ? a.d : static_cast<double>(a.i);
  double x = v.kind == Value::kInt ? static_cast<double>(v.i) : v.d;
  return (x > best) - (x < best);
}

void SetNumber(Acc* a, const Value& v) {
  a->dbl = v.kind != Value::kInt;
  if (a->dbl) a->d = v.d;
  else a->i = v.i;
}

// Neumaier's compensated summation: the rounding error of each addition is
// kept in `a->c`, so that sums of decimals such as 0.1 + 0.2 + ... come out
// as the nearest double to the exact sum far more often than a plain loop.
void AddDouble(Acc* a, double x) {
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
void CountAdd(Acc*, const Value&, const Extracted&) {}
void CountMerge(const AggSpec&, Acc*, Acc*) {}
void CountAppend(const AggSpec&, const Acc& acc, std::string* out) { AppendInt(out, acc.n); }

// --- sum, avg: an integer part, and a compensated double part
void SumAdd(Acc* acc, const Value& v, const Extracted&) {
  if (v.kind == Value::kInt) {
    acc->i += v.i;  // AggSet::Check() ruled out overflow
  } else {
    AddDouble(acc, v.d);
    acc->dbl = true;
  }
}
void AvgAdd(Acc* acc, const Value& v, const Extracted&) { AddDouble(acc, v.d); }
void SumMerge(const AggSpec&, Acc* acc, Acc* o) {
  acc->i += o->i;  // AggSet::CheckMerge() ruled out overflow; 0 for avg
  AddDouble(acc, o->d);
  AddDouble(acc, o->c);
  acc->dbl = acc->dbl || o->dbl;
}
void SumAppend(const AggSpec&, const Acc& acc, std::string* out) {
  if (acc.n == 0) out->append("null");
  else if (!acc.dbl) AppendInt(out, acc.i);
  else AppendDouble(out, static_cast<double>(acc.i) + (acc.d + acc.c));
}
void AvgAppend(const AggSpec&, const Acc& acc, std::string* out) {
  if (acc.n == 0) out->append("null");
  else AppendDouble(out, (acc.d + acc.c) / static_cast<double>(acc.n));
}

// --- min, max: the best number, an integer or a double
template <int kSign>
void BestAdd(Acc* acc, const Value& v, const Extracted&) {
  if (acc->n == 0 || CompareNumbers(*acc, v) * kSign > 0) SetNumber(acc, v);
}
template <int kSign>
void BestMerge(const AggSpec&, Acc* acc, Acc* o) {
  Value v;
  v.kind = o->dbl ? Value::kDouble : Value::kInt;
  v.i = o->i;
  v.d = o->d;
  if (acc->n == 0 || CompareNumbers(*acc, v) * kSign > 0) SetNumber(acc, v);
}
void BestAppend(const AggSpec&, const Acc& acc, std::string* out) {
  if (acc.n == 0) out->append("null");
  else if (acc.dbl) AppendDouble(out, acc.d);
  else AppendInt(out, acc.i);
}

// --- first, last: by event time, then arrival
Acc::Kept* Kept(Acc* acc) {
  if (!acc->kept) acc->kept = std::make_unique<Acc::Kept>();
  return acc->kept.get();
}
void Keep(Acc* acc, int64_t t, uint64_t seq, std::string_view text) {
  Acc::Kept* k = Kept(acc);
  k->t = t;
  k->seq = seq;
  k->text.assign(text);
}
void FirstAdd(Acc* acc, const Value& v, const Extracted& x) {
  if (acc->n != 0 && !(x.t < acc->kept->t)) return;
  Keep(acc, x.t, x.seq, v.text);
}
void LastAdd(Acc* acc, const Value& v, const Extracted& x) {
  if (acc->n != 0 && !(x.t >= acc->kept->t)) return;
  Keep(acc, x.t, x.seq, v.text);
}
// A merged-in accumulator that holds values has its kept value.
void FirstMerge(const AggSpec&, Acc* acc, Acc* o) {
  if (o->n == 0) return;
  const Acc::Kept& b = *o->kept;
  if (acc->n != 0 && !(b.t < acc->kept->t || (b.t == acc->kept->t && b.seq < acc->kept->seq))) return;
  Keep(acc, b.t, b.seq, b.text);
}
void LastMerge(const AggSpec&, Acc* acc, Acc* o) {
  if (o->n == 0) return;
  const Acc::Kept& b = *o->kept;
  if (acc->n != 0 && !(b.t > acc->kept->t || (b.t == acc->kept->t && b.seq > acc->kept->seq))) return;
  Keep(acc, b.t, b.seq, b.text);
}
void TextAppend(const AggSpec&, const Acc& acc, std::string* out) {
  out->append(acc.n == 0 ? std::string_view("null") : std::string_view(acc.kept->text));
}

// --- distinct: the set of values
void DistinctAdd(Acc* acc, const Value& v, const Extracted&) { acc->heavy->distinct.emplace(v.text); }
void DistinctMerge(const AggSpec&, Acc* acc, Acc* o) { acc->heavy->distinct.merge(o->heavy->distinct); }
void DistinctAppend(const AggSpec&, const Acc& acc, std::string* out) {
  AppendInt(out, static_cast<int64_t>(acc.heavy->distinct.size()));
}
void DistinctSave(const Acc::Heavy& h, state::Encoder* e) {
  e->U64(h.distinct.size());
  for (const std::string& s : h.distinct) e->Str(s);
}
void DistinctLoad(Acc::Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) h->distinct.emplace(d->Str());
}

// --- approx_distinct: a HyperLogLog sketch (exact while small)
void ApproxAdd(Acc* acc, const Value& v, const Extracted&) { acc->heavy->approx.Add(HashValue(v.text)); }
void ApproxMerge(const AggSpec&, Acc* acc, Acc* o) { acc->heavy->approx.Merge(o->heavy->approx); }
void ApproxAppend(const AggSpec&, const Acc& acc, std::string* out) {
  fmt::format_to(std::back_inserter(*out), "{}", acc.heavy->approx.Estimate());
}
void ApproxSave(const Acc::Heavy& h, state::Encoder* e) { h.approx.Save(e); }
void ApproxLoad(Acc::Heavy* h, state::Decoder* d) { h->approx.Load(d); }

// --- quantile:PATH:Q, median: a quantile sketch
void QuantileAdd(Acc* acc, const Value& v, const Extracted&) { acc->heavy->quantile.Add(v.d); }
void QuantileMerge(const AggSpec&, Acc* acc, Acc* o) { acc->heavy->quantile.Merge(o->heavy->quantile); }
void QuantileAppend(const AggSpec& s, const Acc& acc, std::string* out) {
  if (acc.n == 0) out->append("null");
  else AppendDouble(out, acc.heavy->quantile.Quantile(s.q));
}
void QuantileSave(const Acc::Heavy& h, state::Encoder* e) { h.quantile.Save(e); }
void QuantileLoad(Acc::Heavy* h, state::Decoder* d) { h->quantile.Load(d); }

// --- top:PATH:K: counts per value; ties go to the value seen first
void TopAdd(Acc* acc, const Value& v, const Extracted& x) {
  auto [it, fresh] = acc->heavy->top.try_emplace(std::string(v.text));
  if (fresh) it->second.first_seq = x.seq;
  it->second.count++;
}
void TopMerge(const AggSpec&, Acc* acc, Acc* o) {
  for (auto& [value, e] : o->heavy->top) {
    auto [it, fresh] = acc->heavy->top.try_emplace(value, e);
    if (!fresh) {
      it->second.count += e.count;
      it->second.first_seq = std::min(it->second.first_seq, e.first_seq);
    }
  }
}
void TopAppend(const AggSpec& s, const Acc& acc, std::string* out) {
  std::vector<std::pair<const std::string*, Acc::Heavy::TopEntry>> entries;
  entries.reserve(acc.heavy->top.size());
  for (const auto& [value, e] : acc.heavy->top) entries.emplace_back(&value, e);
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
void TopSave(const Acc::Heavy& h, state::Encoder* e) {
  e->U64(h.top.size());
  for (const auto& [value, t] : h.top) {
    e->Str(value);
    e->I64(t.count);
    e->U64(t.first_seq);
  }
}
void TopLoad(Acc::Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    std::string value(d->Str());
    Acc::Heavy::TopEntry t;
    t.count = d->I64();
    t.first_seq = d->U64();
    h->top.emplace(std::move(value), t);
  }
}

// --- collect: every value, in arrival order
void CollectAdd(Acc* acc, const Value& v, const Extracted& x) {
  acc->heavy->collected.emplace_back(x.seq, std::string(v.text));
}
void CollectMerge(const AggSpec&, Acc* acc, Acc* o) {
  auto& mine = acc->heavy->collected;
  auto& theirs = o->heavy->collected;
  size_t mid = mine.size();
  mine.insert(mine.end(), std::make_move_iterator(theirs.begin()), std::make_move_iterator(theirs.end()));
  std::inplace_merge(mine.begin(), mine.begin() + static_cast<ptrdiff_t>(mid), mine.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
}
void CollectAppend(const AggSpec&, const Acc& acc, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < acc.heavy->collected.size(); i++) {
    if (i) out->push_back(',');
    out->append(acc.heavy->collected[i].second);
  }
  out->push_back(']');
}
void CollectSave(const Acc::Heavy& h, state::Encoder* e) {
  e->U64(h.collected.size());
  for (const auto& [seq, value] : h.collected) {
    e->U64(seq);
    e->Str(value);
  }
}
void CollectLoad(Acc::Heavy* h, state::Decoder* d) {
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    uint64_t seq = d->U64();
    h->collected.emplace_back(seq, std::string(d->Str()));
  }
}

// In the order of enum Fn.
//   name               fn                  parts  number text   heavy
constexpr Function kFunctions[] = {
    {"count", Fn::kCount, 1, 2, false, false, false, CountAdd, CountMerge, CountAppend, nullptr, nullptr},
    {"count", Fn::kCountValues, 2, 2, false, false, false, CountAdd, CountMerge, CountAppend, nullptr, nullptr},
    {"sum", Fn::kSum, 2, 2, true, false, false, SumAdd, SumMerge, SumAppend, nullptr, nullptr},
    {"min", Fn::kMin, 2, 2, true, false, false, BestAdd<-1>, BestMerge<-1>, BestAppend, nullptr, nullptr},
    {"max", Fn::kMax, 2, 2, true, false, false, BestAdd<1>, BestMerge<1>, BestAppend, nullptr, nullptr},
    {"avg", Fn::kAvg, 2, 2, true, false, false, AvgAdd, SumMerge, AvgAppend, nullptr, nullptr},
    {"first", Fn::kFirst, 2, 2, false, true, false, FirstAdd, FirstMerge, TextAppend, nullptr, nullptr},
    {"last", Fn::kLast, 2, 2, false, true, false, LastAdd, LastMerge, TextAppend, nullptr, nullptr},
    {"distinct", Fn::kDistinct, 2, 2, false, true, true, DistinctAdd, DistinctMerge, DistinctAppend,
     DistinctSave, DistinctLoad},
    {"approx_distinct", Fn::kApproxDistinct, 2, 2, false, true, true, ApproxAdd, ApproxMerge, ApproxAppend,
     ApproxSave, ApproxLoad},
    {"quantile", Fn::kQuantile, 3, 3, true, false, true, QuantileAdd, QuantileMerge, QuantileAppend,
     QuantileSave, QuantileLoad},
    {"top", Fn::kTop, 3, 3, false, true, true, TopAdd, TopMerge, TopAppend, TopSave, TopLoad},
    {"collect", Fn::kCollect, 2, 2, false, true, true, CollectAdd, CollectMerge, CollectAppend, CollectSave,
     CollectLoad},
};
constexpr Function kMedian = {"median", Fn::kQuantile, 2, 2, true, false, true, QuantileAdd, QuantileMerge,
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
