#include "kpipe/agg/aggregate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

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

Acc::Acc() = default;
Acc::~Acc() = default;
Acc::Acc(Acc&&) noexcept = default;
Acc& Acc::operator=(Acc&&) noexcept = default;

namespace {

bool NeedsNumber(Fn fn) {
  return fn == Fn::kSum || fn == Fn::kMin || fn == Fn::kMax || fn == Fn::kAvg || fn == Fn::kQuantile;
}

bool NeedsText(Fn fn) {
  return fn == Fn::kFirst || fn == Fn::kLast || fn == Fn::kDistinct || fn == Fn::kApproxDistinct ||
         fn == Fn::kTop || fn == Fn::kCollect;
}

bool NeedsHeavy(Fn fn) {
  return fn == Fn::kDistinct || fn == Fn::kApproxDistinct || fn == Fn::kQuantile || fn == Fn::kTop ||
         fn == Fn::kCollect;
}

std::string DefaultName(std::string_view fn, const std::string& path, std::string_view arg) {
  std::string name(fn);
  if (!path.empty()) name += "_" + path;
  if (!arg.empty()) name += "_" + std::string(arg);
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

Result<AggSpec> ParseOne(std::string_view text) {
  AggSpec spec;
  std::string_view body = text;
  std::string name;
  if (size_t eq = text.find('='); eq != std::string_view::npos) {
    name = std::string(text.substr(0, eq));
    body = text.substr(eq + 1);
    if (name.empty()) return Status::Usage(fmt::format("-a {}: empty name before '='", text));
  }
  std::vector<std::string_view> parts;
  for (size_t i = 0;;) {
    size_t c = body.find(':', i);
    parts.push_back(body.substr(i, c == std::string_view::npos ? c : c - i));
    if (c == std::string_view::npos) break;
    i = c + 1;
  }
  std::string_view fn = parts[0];
  struct Known {
    std::string_view name;
    Fn fn;
    int min_parts, max_parts;  // counting the function itself
  };
  static constexpr Known kKnown[] = {
      {"count", Fn::kCount, 1, 2},        {"sum", Fn::kSum, 2, 2},
      {"min", Fn::kMin, 2, 2},            {"max", Fn::kMax, 2, 2},
      {"avg", Fn::kAvg, 2, 2},            {"first", Fn::kFirst, 2, 2},
      {"last", Fn::kLast, 2, 2},          {"distinct", Fn::kDistinct, 2, 2},
      {"approx_distinct", Fn::kApproxDistinct, 2, 2},
      {"quantile", Fn::kQuantile, 3, 3},  {"median", Fn::kQuantile, 2, 2},
      {"top", Fn::kTop, 3, 3},            {"collect", Fn::kCollect, 2, 2},
  };
  const Known* k = nullptr;
  for (const Known& c : kKnown)
    if (c.name == fn) k = &c;
  if (!k)
    return Status::Usage(fmt::format(
        "-a {}: unknown function '{}' (expected count, sum, min, max, avg, first, last, distinct, "
        "approx_distinct, quantile, median, top or collect)",
        text, fn));
  int n = static_cast<int>(parts.size());
  if (n < k->min_parts || n > k->max_parts) {
    const char* form = k->fn == Fn::kCount ? "count or count:PATH"
                       : k->fn == Fn::kTop ? "top:PATH:K"
                       : fn == "quantile"  ? "quantile:PATH:Q"
                                           : nullptr;
    return Status::Usage(form ? fmt::format("-a {}: expected {}", text, form)
                              : fmt::format("-a {}: expected {}:PATH", text, fn));
  }
  spec.fn = k->fn;
  std::string path_text;
  if (n >= 2) {
    auto p = json::FieldPath::Parse(parts[1]);
    if (!p.ok()) return Status::Usage(fmt::format("-a {}: {}", text, p.status().message()));
    spec.path = *p;
    path_text = spec.path.text();
    if (spec.fn == Fn::kCount) spec.fn = Fn::kCountValues;
  }
  std::string_view arg = n >= 3 ? parts[2] : std::string_view();
  if (spec.fn == Fn::kQuantile && fn == "quantile") {
    double q = -1;
    auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), q);
    if (ec != std::errc() || ptr != arg.data() + arg.size() || !(q >= 0 && q <= 1))
      return Status::Usage(fmt::format("-a {}: Q must be a number from 0 to 1", text));
    spec.q = q;
  }
  if (spec.fn == Fn::kTop) {
    int64_t kk = 0;
    auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), kk);
    if (ec != std::errc() || ptr != arg.data() + arg.size() || kk < 1)
      return Status::Usage(fmt::format("-a {}: K must be a positive integer", text));
    spec.k = kk;
  }
  spec.name = name.empty() ? DefaultName(fn, path_text, arg) : name;
  return spec;
}

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

bool SumOverflows(const Acc& a, const Value& v) {
  int64_t r;
  return v.kind == Value::kInt && __builtin_add_overflow(a.i, v.i, &r);
}

Status OverflowError(const AggSpec& s) {
  return Status::BadInput(
      fmt::format("{}: the integer sum leaves the 64-bit range", s.name));
}

}  // namespace

Result<std::vector<AggSpec>> ParseAggSpecs(const std::vector<std::string>& args) {
  std::vector<AggSpec> specs;
  for (const std::string& arg : args) {
    std::string_view rest = arg;
    for (;;) {
      size_t c = rest.find(',');
      std::string_view one = rest.substr(0, c);
      if (one.empty()) return Status::Usage(fmt::format("-a '{}': empty aggregate", arg));
      auto spec = ParseOne(one);
      if (!spec.ok()) return spec.status();
      specs.push_back(std::move(*spec));
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
  }
  if (specs.empty()) return Status::Usage("no aggregate given: use -a, as in -a count");
  for (size_t i = 0; i < specs.size(); i++)
    for (size_t j = 0; j < i; j++)
      if (specs[i].name == specs[j].name)
        return Status::Usage(fmt::format("two aggregates are named '{}'; rename one with NAME=",
                                         specs[i].name));
  return specs;
}

void AppendDouble(std::string* out, double d) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  fmt::format_to(std::back_inserter(*out), "{}", d);
}

void AppendCompact(std::string* out, simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      json::AppendQuoted(out, std::string_view(v.get_string().value_unsafe()));
      return;
    case simdjson::dom::element_type::INT64:
      fmt::format_to(std::back_inserter(*out), "{}", v.get_int64().value_unsafe());
      return;
    case simdjson::dom::element_type::UINT64:
      fmt::format_to(std::back_inserter(*out), "{}", v.get_uint64().value_unsafe());
      return;
    case simdjson::dom::element_type::DOUBLE:
      AppendDouble(out, v.get_double().value_unsafe());
      return;
    case simdjson::dom::element_type::BOOL:
      out->append(v.get_bool().value_unsafe() ? "true" : "false");
      return;
    case simdjson::dom::element_type::NULL_VALUE:
      out->append("null");
      return;
    default:
      out->append(simdjson::to_string(v));
      return;
  }
}

AggSet::AggSet(std::vector<AggSpec> specs) : specs_(std::move(specs)) {
  for (const AggSpec& s : specs_) {
    std::string q;
    json::AppendQuoted(&q, s.name);
    quoted_names_.push_back(q + ":");
    if (s.fn == Fn::kSum) has_sum_ = true;
  }
}

Status AggSet::Extract(simdjson::dom::element root, Extracted* x) const {
  x->values.resize(specs_.size());
  x->text.clear();
  for (size_t a = 0; a < specs_.size(); a++) {
    const AggSpec& s = specs_[a];
    Value& v = x->values[a];
    v.kind = Value::kMissing;
    if (s.fn == Fn::kCount) continue;
    simdjson::dom::element e;
    if (!s.path.Lookup(root, &e)) continue;  // missing or null: skipped
    switch (e.type()) {
      case simdjson::dom::element_type::INT64:
        v.kind = Value::kInt;
        v.i = e.get_int64().value_unsafe();
        v.d = static_cast<double>(v.i);
        break;
      case simdjson::dom::element_type::UINT64:
        if (s.fn == Fn::kSum)
          return Status::BadInput(fmt::format("'{}' is an integer beyond the 64-bit range ({})",
                                              s.path.text(), s.name));
        v.kind = Value::kDouble;
        v.d = static_cast<double>(e.get_uint64().value_unsafe());
        break;
      case simdjson::dom::element_type::DOUBLE:
        v.kind = Value::kDouble;
        v.d = e.get_double().value_unsafe();
        break;
      default:
        v.kind = Value::kOther;
        if (NeedsNumber(s.fn))
          return Status::BadInput(
              fmt::format("'{}' is not a number ({})", s.path.text(), s.name));
    }
    if (NeedsText(s.fn)) {
      v.text_begin = x->text.size();
      AppendCompact(&x->text, e);
      v.text_len = x->text.size() - v.text_begin;
    }
  }
  for (Value& v : x->values)
    if (v.kind != Value::kMissing) v.text = std::string_view(x->text).substr(v.text_begin, v.text_len);
  return Status::OK();
}

std::vector<Acc> AggSet::NewRow() const {
  std::vector<Acc> row(specs_.size());
  for (size_t a = 0; a < specs_.size(); a++)
    if (NeedsHeavy(specs_[a].fn)) row[a].heavy = std::make_unique<Acc::Heavy>();
  return row;
}

Status AggSet::Check(const std::vector<Acc>& row, const Extracted& x) const {
  if (!has_sum_) return Status::OK();
  for (size_t a = 0; a < specs_.size(); a++)
    if (specs_[a].fn == Fn::kSum && SumOverflows(row[a], x.values[a])) return OverflowError(specs_[a]);
  return Status::OK();
}

void AggSet::Add(std::vector<Acc>* row, const Extracted& x) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const Value& v = x.values[a];
    Acc& acc = (*row)[a];
    Fn fn = specs_[a].fn;
    if (fn == Fn::kCount) {
      acc.n++;
      continue;
    }
    if (v.kind == Value::kMissing) continue;
    switch (fn) {
      case Fn::kCount:
      case Fn::kCountValues:
        break;
      case Fn::kSum:
        if (v.kind == Value::kInt) acc.i += v.i;  // Check() ruled out overflow
        else {
          AddDouble(&acc, v.d);
          acc.dbl = true;
        }
        break;
      case Fn::kMin:
        if (acc.n == 0 || CompareNumbers(acc, v) < 0) SetNumber(&acc, v);
        break;
      case Fn::kMax:
        if (acc.n == 0 || CompareNumbers(acc, v) > 0) SetNumber(&acc, v);
        break;
      case Fn::kAvg:
        AddDouble(&acc, v.d);
        break;
      case Fn::kFirst:
        if (acc.n == 0 || x.t < acc.t) {
          acc.t = x.t;
          acc.seq = x.seq;
          acc.text.assign(v.text);
        }
        break;
      case Fn::kLast:
        if (acc.n == 0 || x.t >= acc.t) {
          acc.t = x.t;
          acc.seq = x.seq;
          acc.text.assign(v.text);
        }
        break;
      case Fn::kDistinct:
        acc.heavy->distinct.emplace(v.text);
        break;
      case Fn::kApproxDistinct:
        acc.heavy->approx.Add(HashValue(v.text));
        break;
      case Fn::kQuantile:
        acc.heavy->quantile.Add(v.d);
        break;
      case Fn::kTop: {
        auto [it, fresh] = acc.heavy->top.try_emplace(std::string(v.text));
        if (fresh) it->second.first_seq = x.seq;
        it->second.count++;
        break;
      }
      case Fn::kCollect:
        acc.heavy->collected.emplace_back(x.seq, std::string(v.text));
        break;
    }
    acc.n++;
  }
}

Status AggSet::CheckMerge(const std::vector<const std::vector<Acc>*>& rows,
                          const Extracted& x) const {
  if (!has_sum_) return Status::OK();
  for (size_t a = 0; a < specs_.size(); a++) {
    if (specs_[a].fn != Fn::kSum) continue;
    int64_t sum = x.values[a].kind == Value::kInt ? x.values[a].i : 0;
    for (const std::vector<Acc>* row : rows)
      if (__builtin_add_overflow(sum, (*row)[a].i, &sum)) return OverflowError(specs_[a]);
  }
  return Status::OK();
}

void AggSet::Merge(std::vector<Acc>* into_row, std::vector<Acc>* from_row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    Acc& acc = (*into_row)[a];
    Acc& o = (*from_row)[a];
    if (o.n == 0) continue;
    switch (specs_[a].fn) {
      case Fn::kCount:
      case Fn::kCountValues:
        break;
      case Fn::kSum:
      case Fn::kAvg:
        acc.i += o.i;  // CheckMerge() ruled out overflow; 0 for avg
        AddDouble(&acc, o.d);
        AddDouble(&acc, o.c);
        acc.dbl = acc.dbl || o.dbl;
        break;
      case Fn::kMin:
      case Fn::kMax: {
        Value v;
        v.kind = o.dbl ? Value::kDouble : Value::kInt;
        v.i = o.i;
        v.d = o.d;
        int c = acc.n == 0 ? 0 : CompareNumbers(acc, v);
        bool take = acc.n == 0 || (specs_[a].fn == Fn::kMin ? c < 0 : c > 0);
        if (take) SetNumber(&acc, v);
        break;
      }
      case Fn::kFirst:
        if (acc.n == 0 || o.t < acc.t || (o.t == acc.t && o.seq < acc.seq)) {
          acc.t = o.t;
          acc.seq = o.seq;
          acc.text = std::move(o.text);
        }
        break;
      case Fn::kLast:
        if (acc.n == 0 || o.t > acc.t || (o.t == acc.t && o.seq > acc.seq)) {
          acc.t = o.t;
          acc.seq = o.seq;
          acc.text = std::move(o.text);
        }
        break;
      case Fn::kDistinct:
        acc.heavy->distinct.merge(o.heavy->distinct);
        break;
      case Fn::kApproxDistinct:
        acc.heavy->approx.Merge(o.heavy->approx);
        break;
      case Fn::kQuantile:
        acc.heavy->quantile.Merge(o.heavy->quantile);
        break;
      case Fn::kTop:
        for (auto& [value, e] : o.heavy->top) {
          auto [it, fresh] = acc.heavy->top.try_emplace(value, e);
          if (!fresh) {
            it->second.count += e.count;
            it->second.first_seq = std::min(it->second.first_seq, e.first_seq);
          }
        }
        break;
      case Fn::kCollect: {
        auto& mine = acc.heavy->collected;
        auto& theirs = o.heavy->collected;
        size_t mid = mine.size();
        mine.insert(mine.end(), std::make_move_iterator(theirs.begin()),
                    std::make_move_iterator(theirs.end()));
        std::inplace_merge(mine.begin(), mine.begin() + static_cast<ptrdiff_t>(mid), mine.end(),
                           [](const auto& x, const auto& y) { return x.first < y.first; });
        break;
      }
    }
    acc.n += o.n;
  }
}

void AggSet::Append(std::string* out, const std::vector<Acc>& row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    if (a) out->push_back(',');
    out->append(quoted_names_[a]);
    const Acc& acc = row[a];
    const AggSpec& s = specs_[a];
    auto number = [&](const Acc& x) {
      if (x.dbl) AppendDouble(out, x.d);
      else fmt::format_to(std::back_inserter(*out), "{}", x.i);
    };
    switch (s.fn) {
      case Fn::kCount:
      case Fn::kCountValues:
        fmt::format_to(std::back_inserter(*out), "{}", acc.n);
        break;
      case Fn::kSum:
        if (acc.n == 0) out->append("null");
        else if (!acc.dbl) fmt::format_to(std::back_inserter(*out), "{}", acc.i);
        else AppendDouble(out, static_cast<double>(acc.i) + (acc.d + acc.c));
        break;
      case Fn::kMin:
      case Fn::kMax:
        if (acc.n == 0) out->append("null");
        else number(acc);
        break;
      case Fn::kAvg:
        if (acc.n == 0) out->append("null");
        else AppendDouble(out, (acc.d + acc.c) / static_cast<double>(acc.n));
        break;
      case Fn::kFirst:
      case Fn::kLast:
        out->append(acc.n == 0 ? std::string_view("null") : std::string_view(acc.text));
        break;
      case Fn::kDistinct:
        fmt::format_to(std::back_inserter(*out), "{}", acc.heavy->distinct.size());
        break;
      case Fn::kApproxDistinct:
        fmt::format_to(std::back_inserter(*out), "{}", acc.heavy->approx.Estimate());
        break;
      case Fn::kQuantile:
        if (acc.n == 0) out->append("null");
        else AppendDouble(out, acc.heavy->quantile.Quantile(s.q));
        break;
      case Fn::kTop: {
        std::vector<std::pair<const std::string*, Acc::Heavy::TopEntry>> entries;
        entries.reserve(acc.heavy->top.size());
        for (const auto& [value, e] : acc.heavy->top) entries.emplace_back(&value, e);
        size_t k = std::min(entries.size(), static_cast<size_t>(s.k));
        std::partial_sort(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(k), entries.end(),
                          [](const auto& x, const auto& y) {
                            return x.second.count != y.second.count
                                       ? x.second.count > y.second.count
                                       : x.second.first_seq < y.second.first_seq;
                          });
        out->push_back('[');
        for (size_t i = 0; i < k; i++) {
          if (i) out->push_back(',');
          fmt::format_to(std::back_inserter(*out), "{{\"value\":{},\"count\":{}}}", *entries[i].first,
                         entries[i].second.count);
        }
        out->push_back(']');
        break;
      }
      case Fn::kCollect:
        out->push_back('[');
        for (size_t i = 0; i < acc.heavy->collected.size(); i++) {
          if (i) out->push_back(',');
          out->append(acc.heavy->collected[i].second);
        }
        out->push_back(']');
        break;
    }
  }
}

void AggSet::Save(state::Encoder* e, const std::vector<Acc>& row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const Acc& acc = row[a];
    e->I64(acc.n);
    e->I64(acc.i);
    e->F64(acc.d);
    e->F64(acc.c);
    e->U8(acc.dbl);
    e->I64(acc.t);
    e->U64(acc.seq);
    e->Str(acc.text);
    if (!acc.heavy) continue;
    const Acc::Heavy& h = *acc.heavy;
    switch (specs_[a].fn) {
      case Fn::kDistinct:
        e->U64(h.distinct.size());
        for (const std::string& s : h.distinct) e->Str(s);
        break;
      case Fn::kApproxDistinct:
        h.approx.Save(e);
        break;
      case Fn::kQuantile:
        h.quantile.Save(e);
        break;
      case Fn::kTop:
        e->U64(h.top.size());
        for (const auto& [value, t] : h.top) {
          e->Str(value);
          e->I64(t.count);
          e->U64(t.first_seq);
        }
        break;
      case Fn::kCollect:
        e->U64(h.collected.size());
        for (const auto& [seq, value] : h.collected) {
          e->U64(seq);
          e->Str(value);
        }
        break;
      default:
        break;
    }
  }
}

void AggSet::Load(state::Decoder* d, std::vector<Acc>* row) const {
  *row = NewRow();
  for (size_t a = 0; a < specs_.size() && d->ok(); a++) {
    Acc& acc = (*row)[a];
    acc.n = d->I64();
    acc.i = d->I64();
    acc.d = d->F64();
    acc.c = d->F64();
    acc.dbl = d->U8() != 0;
    acc.t = d->I64();
    acc.seq = d->U64();
    acc.text = std::string(d->Str());
    if (!acc.heavy) continue;
    Acc::Heavy& h = *acc.heavy;
    switch (specs_[a].fn) {
      case Fn::kDistinct:
        for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) h.distinct.emplace(d->Str());
        break;
      case Fn::kApproxDistinct:
        h.approx.Load(d);
        break;
      case Fn::kQuantile:
        h.quantile.Load(d);
        break;
      case Fn::kTop:
        for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
          std::string value(d->Str());
          Acc::Heavy::TopEntry t;
          t.count = d->I64();
          t.first_seq = d->U64();
          h.top.emplace(std::move(value), t);
        }
        break;
      case Fn::kCollect:
        for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
          uint64_t seq = d->U64();
          h.collected.emplace_back(seq, std::string(d->Str()));
        }
        break;
      default:
        break;
    }
  }
}

Result<GroupKey> GroupKey::Parse(const std::vector<std::string>& args) {
  GroupKey g;
  for (const std::string& arg : args) {
    std::string_view rest = arg;
    for (;;) {
      size_t c = rest.find(',');
      std::string_view one = rest.substr(0, c);
      std::string_view name, path = one;
      if (size_t eq = one.find('='); eq != std::string_view::npos) {
        name = one.substr(0, eq);
        path = one.substr(eq + 1);
        if (name.empty()) return Status::Usage(fmt::format("--by {}: empty name before '='", one));
      }
      if (path.empty()) return Status::Usage(fmt::format("--by '{}': empty field path", arg));
      auto p = json::FieldPath::Parse(path);
      if (!p.ok()) return Status::Usage(fmt::format("--by {}: {}", one, p.status().message()));
      std::string quoted;
      json::AppendQuoted(&quoted, name.empty() ? std::string_view(p->text()) : name);
      g.quoted_names_.push_back(quoted + ":");
      g.paths_.push_back(std::move(*p));
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
  }
  return g;
}

void GroupKey::Extract(simdjson::dom::element root, std::string* key) const {
  key->clear();
  for (size_t i = 0; i < paths_.size(); i++) {
    if (i) key->push_back(',');
    simdjson::dom::element e;
    if (paths_[i].Lookup(root, &e)) AppendCompact(key, e);
    else key->append("null");
  }
}

void GroupKey::AppendFields(std::string* out, std::string_view key) const {
  std::string_view rest = key, value;
  for (size_t i = 0; i < paths_.size(); i++) {
    if (i) {
      out->push_back(',');
      rest.remove_prefix(1);  // the ',' between values
    }
    json::NextValue(rest, &value, &rest);
    out->append(quoted_names_[i]);
    out->append(value);
  }
}

}  // namespace kpipe::agg
