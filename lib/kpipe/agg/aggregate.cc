#include "kpipe/agg/aggregate.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "kpipe/agg/functions.h"
#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

namespace kpipe::agg {

namespace {

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
    if (name.empty()) return Status::Usage(fmt::format("{}: empty name before '='", text));
  }
  std::vector<std::string_view> parts;
  for (size_t i = 0;;) {
    size_t c = body.find(':', i);
    parts.push_back(body.substr(i, c == std::string_view::npos ? c : c - i));
    if (c == std::string_view::npos) break;
    i = c + 1;
  }
  std::string_view fn = parts[0];
  const Function* k = FindFunction(fn);
  if (!k)
    return Status::Usage(fmt::format("{}: unknown function '{}' (expected {})", text, fn, FunctionNames()));
  int n = static_cast<int>(parts.size());
  if (n < k->min_parts || n > k->max_parts) {
    const char* form = k->fn == Fn::kCount ? "count or count:PATH"
                       : k->fn == Fn::kTop ? "top:PATH:K"
                       : fn == "quantile"  ? "quantile:PATH:Q"
                                           : nullptr;
    return Status::Usage(form ? fmt::format("{}: expected {}", text, form)
                              : fmt::format("{}: expected {}:PATH", text, fn));
  }
  spec.fn = k->fn;
  std::string path_text;
  if (n >= 2) {
    auto p = json::FieldPath::Parse(parts[1]);
    if (!p.ok()) return Status::Usage(fmt::format("{}: {}", text, p.status().message()));
    spec.path = *p;
    path_text = spec.path.text();
    if (spec.fn == Fn::kCount) spec.fn = Fn::kCountValues;
  }
  std::string_view arg = n >= 3 ? parts[2] : std::string_view();
  if (spec.fn == Fn::kQuantile && fn == "quantile") {
    double q = -1;
    auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), q);
    if (ec != std::errc() || ptr != arg.data() + arg.size() || !(q >= 0 && q <= 1))
      return Status::Usage(fmt::format("{}: Q must be a number from 0 to 1", text));
    spec.q = q;
  }
  if (spec.fn == Fn::kTop) {
    int64_t kk = 0;
    auto [ptr, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), kk);
    if (ec != std::errc() || ptr != arg.data() + arg.size() || kk < 1)
      return Status::Usage(fmt::format("{}: K must be a positive integer", text));
    spec.k = kk;
  }
  spec.name = name.empty() ? DefaultName(fn, path_text, arg) : name;
  return spec;
}

bool SumOverflows(const SumAcc& a, const Value& v) {
  int64_t r;
  return v.kind == Value::kInt && __builtin_add_overflow(a.i, v.i, &r);
}

size_t StateBytes(AccKind kind) {
  switch (kind) {
    case AccKind::kCount: return sizeof(CountAcc);
    case AccKind::kSum: return sizeof(SumAcc);
    case AccKind::kBest: return sizeof(BestAcc);
    case AccKind::kKept:
    case AccKind::kHeavy: return sizeof(OwnedAcc);
  }
  return 0;
}

// Every state begins with its count of values: its AccHead, at offset 0.
int64_t& Count(std::byte* state) { return As<AccHead>(state)->n; }
int64_t Count(const std::byte* state) { return As<AccHead>(state)->n; }

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
      if (one.empty()) return Status::Usage(fmt::format("'{}': empty aggregate", arg));
      auto spec = ParseOne(one);
      if (!spec.ok()) return spec.status();
      specs.push_back(std::move(*spec));
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
  }
  return specs;
}

AggSet::AggSet(std::vector<AggSpec> specs) : specs_(std::move(specs)) {
  for (const AggSpec& s : specs_) {
    std::string q;
    json::AppendQuoted(&q, s.name);
    quoted_names_.push_back(q + ":");
    if (s.fn == Fn::kSum) has_sum_ = true;
  }
  // The states that own an allocation first (FreeRow), then the others.
  offsets_.resize(specs_.size());
  for (bool owning : {true, false}) {
    for (size_t a = 0; a < specs_.size(); a++) {
      AccKind kind = FunctionOf(specs_[a].fn).kind;
      if ((kind == AccKind::kKept || kind == AccKind::kHeavy) != owning) continue;
      offsets_[a] = static_cast<uint32_t>(row_bytes_);
      row_bytes_ += StateBytes(kind);
      if (owning) owned_states_++;
    }
  }
}

AccRow& AccRow::operator=(AccRow&& o) noexcept {
  if (this != &o) {
    if (words_) AggSet::FreeRow(data(), owned_);
    words_ = std::move(o.words_);
    owned_ = o.owned_;
    o.owned_ = 0;
  }
  return *this;
}

AccRow::~AccRow() {
  if (words_) AggSet::FreeRow(data(), owned_);
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
        if (FunctionOf(s.fn).number)
          return Status::BadInput(
              fmt::format("'{}' is not a number ({})", s.path.text(), s.name));
    }
    if (FunctionOf(s.fn).text) {
      v.text_begin = x->text.size();
      json::AppendCompact(&x->text, e);
      v.text_len = x->text.size() - v.text_begin;
    }
  }
  for (Value& v : x->values)
    if (v.kind != Value::kMissing) v.text = std::string_view(x->text).substr(v.text_begin, v.text_len);
  return Status::OK();
}

AccRow AggSet::NewRow() const {
  AccRow row;
  row.words_ = std::make_unique<uint64_t[]>(row_bytes_ / 8);
  InitRow(row.data());
  row.owned_ = owned_states_;
  return row;
}

void AggSet::InitRow(std::byte* row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    std::byte* p = row + offsets_[a];
    switch (FunctionOf(specs_[a].fn).kind) {
      case AccKind::kCount: new (p) CountAcc(); break;
      case AccKind::kSum: new (p) SumAcc(); break;
      case AccKind::kBest: new (p) BestAcc(); break;
      case AccKind::kKept: new (p) OwnedAcc(); break;
      case AccKind::kHeavy: {
        OwnedAcc* o = new (p) OwnedAcc();
        o->owned = new Heavy();
        break;
      }
    }
  }
}

void AggSet::FreeRow(std::byte* row, uint32_t owned) {
  for (uint32_t j = 0; j < owned; j++) delete As<OwnedAcc>(row + j * kOwnedBytes)->owned;
}

Status AggSet::Check(const std::byte* row, const Extracted& x) const {
  if (!has_sum_) return Status::OK();
  for (size_t a = 0; a < specs_.size(); a++)
    if (specs_[a].fn == Fn::kSum && SumOverflows(*As<SumAcc>(row + offsets_[a]), x.values[a]))
      return OverflowError(specs_[a]);
  return Status::OK();
}

void AggSet::Add(std::byte* row, const Extracted& x) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const Value& v = x.values[a];
    std::byte* acc = row + offsets_[a];
    Fn fn = specs_[a].fn;
    if (fn == Fn::kCount) {
      Count(acc)++;
      continue;
    }
    if (v.kind == Value::kMissing) continue;
    FunctionOf(fn).add(acc, v, x);
    Count(acc)++;
  }
}

Status AggSet::CheckMerge(std::span<const std::byte* const> rows, const Extracted& x) const {
  if (!has_sum_) return Status::OK();
  for (size_t a = 0; a < specs_.size(); a++) {
    if (specs_[a].fn != Fn::kSum) continue;
    int64_t sum = x.values[a].kind == Value::kInt ? x.values[a].i : 0;
    for (const std::byte* row : rows)
      if (__builtin_add_overflow(sum, As<SumAcc>(row + offsets_[a])->i, &sum)) return OverflowError(specs_[a]);
  }
  return Status::OK();
}

void AggSet::Merge(std::byte* into, std::byte* from) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    std::byte* acc = into + offsets_[a];
    std::byte* o = from + offsets_[a];
    if (Count(o) == 0) continue;
    FunctionOf(specs_[a].fn).merge(specs_[a], acc, o);
    Count(acc) += Count(o);
  }
}

void AggSet::Append(std::string* out, const std::byte* row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    if (a) out->push_back(',');
    out->append(quoted_names_[a]);
    FunctionOf(specs_[a].fn).append(specs_[a], row + offsets_[a], out);
  }
}

// The format is the one of a state with every field, whatever the function:
// n, the integer, the double and its compensation, whether it is a double,
// the kept value's time, arrival and text; then what a Heavy holds. A
// field a state does not have is written as zero.
void AggSet::Save(state::Encoder* e, const std::byte* row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const std::byte* acc = row + offsets_[a];
    const Function& f = FunctionOf(specs_[a].fn);
    int64_t i = 0;
    double d = 0, c = 0;
    bool dbl = false;
    const Kept* kept = nullptr;
    switch (f.kind) {
      case AccKind::kCount: break;
      case AccKind::kSum: {
        // As when the flag was a field: avg's was always false, and a
        // compensation without a double 0.
        const SumAcc* s = As<SumAcc>(acc);
        i = s->i, d = s->d, c = s->dbl() ? s->c : 0.0;
        dbl = specs_[a].fn == Fn::kSum && s->dbl();
        break;
      }
      case AccKind::kBest: {
        const BestAcc* b = As<BestAcc>(acc);
        i = b->i, d = b->d, dbl = b->dbl;
        break;
      }
      case AccKind::kKept: kept = static_cast<const Kept*>(As<OwnedAcc>(acc)->owned); break;
      case AccKind::kHeavy: break;
    }
    e->I64(Count(acc));
    e->I64(i);
    e->F64(d);
    e->F64(c);
    e->U8(dbl);
    e->I64(kept ? kept->t : 0);
    e->U64(kept ? kept->seq : 0);
    e->Str(kept ? std::string_view(kept->text) : std::string_view());
    if (f.kind == AccKind::kHeavy) f.save(*static_cast<const Heavy*>(As<OwnedAcc>(acc)->owned), e);
  }
}

void AggSet::Load(state::Decoder* d, std::byte* row) const {
  for (size_t a = 0; a < specs_.size() && d->ok(); a++) {
    std::byte* acc = row + offsets_[a];
    const Function& f = FunctionOf(specs_[a].fn);
    Count(acc) = d->I64();
    int64_t i = d->I64();
    double dv = d->F64(), c = d->F64();
    bool dbl = d->U8() != 0;
    int64_t t = d->I64();
    uint64_t seq = d->U64();
    std::string_view text = d->Str();
    switch (f.kind) {
      case AccKind::kCount: break;
      case AccKind::kSum: {
        SumAcc* s = As<SumAcc>(acc);
        s->i = i, s->d = dv;
        if (specs_[a].fn == Fn::kAvg || dbl) s->c = c;  // else no double yet: -0.0
        break;
      }
      case AccKind::kBest: {
        BestAcc* b = As<BestAcc>(acc);
        b->i = i, b->d = dv, b->dbl = dbl;
        break;
      }
      case AccKind::kKept:
        if (t != 0 || seq != 0 || !text.empty()) As<OwnedAcc>(acc)->owned = new Kept(t, seq, std::string(text));
        break;
      case AccKind::kHeavy: f.load(static_cast<Heavy*>(As<OwnedAcc>(acc)->owned), d); break;
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
        if (name.empty()) return Status::Usage(fmt::format("{}: empty name before '='", one));
      }
      if (path.empty()) return Status::Usage(fmt::format("'{}': empty field path", arg));
      auto p = json::FieldPath::Parse(path);
      if (!p.ok()) return Status::Usage(fmt::format("{}: {}", one, p.status().message()));
      std::string quoted;
      g.names_.emplace_back(name.empty() ? std::string_view(p->text()) : name);
      json::AppendQuoted(&quoted, g.names_.back());
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
    if (paths_[i].Lookup(root, &e)) json::AppendCompact(key, e);
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
