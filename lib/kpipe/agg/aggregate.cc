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

Acc::Acc() = default;
Acc::~Acc() = default;
Acc::Acc(Acc&&) noexcept = default;
Acc& Acc::operator=(Acc&&) noexcept = default;

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

void AppendDouble(std::string* out, double d) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  // Compiled, into a buffer: no format string read for each value.
  char buf[32];
  out->append(buf, fmt::format_to(buf, FMT_COMPILE("{}"), d));
}

void AppendCompact(std::string* out, simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::STRING:
      json::AppendQuoted(out, std::string_view(v.get_string().value_unsafe()));
      return;
    case simdjson::dom::element_type::INT64: {
      fmt::format_int n(v.get_int64().value_unsafe());
      out->append(n.data(), n.size());
      return;
    }
    case simdjson::dom::element_type::UINT64: {
      fmt::format_int n(v.get_uint64().value_unsafe());
      out->append(n.data(), n.size());
      return;
    }
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
        if (FunctionOf(s.fn).number)
          return Status::BadInput(
              fmt::format("'{}' is not a number ({})", s.path.text(), s.name));
    }
    if (FunctionOf(s.fn).text) {
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
  InitRow(row);
  return row;
}

void AggSet::InitRow(std::span<Acc> row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    row[a] = Acc();
    if (FunctionOf(specs_[a].fn).heavy) row[a].heavy = std::make_unique<Acc::Heavy>();
  }
}

Status AggSet::Check(std::span<const Acc> row, const Extracted& x) const {
  if (!has_sum_) return Status::OK();
  for (size_t a = 0; a < specs_.size(); a++)
    if (specs_[a].fn == Fn::kSum && SumOverflows(row[a], x.values[a])) return OverflowError(specs_[a]);
  return Status::OK();
}

void AggSet::Add(std::span<Acc> row, const Extracted& x) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const Value& v = x.values[a];
    Acc& acc = row[a];
    Fn fn = specs_[a].fn;
    if (fn == Fn::kCount) {
      acc.n++;
      continue;
    }
    if (v.kind == Value::kMissing) continue;
    FunctionOf(fn).add(&acc, v, x);
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
    FunctionOf(specs_[a].fn).merge(specs_[a], &acc, &o);
    acc.n += o.n;
  }
}

void AggSet::Append(std::string* out, std::span<const Acc> row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    if (a) out->push_back(',');
    out->append(quoted_names_[a]);
    FunctionOf(specs_[a].fn).append(specs_[a], row[a], out);
  }
}

void AggSet::Save(state::Encoder* e, std::span<const Acc> row) const {
  for (size_t a = 0; a < specs_.size(); a++) {
    const Acc& acc = row[a];
    e->I64(acc.n);
    e->I64(acc.i);
    e->F64(acc.d);
    e->F64(acc.c);
    e->U8(acc.dbl);
    e->I64(acc.kept ? acc.kept->t : 0);
    e->U64(acc.kept ? acc.kept->seq : 0);
    e->Str(acc.kept ? std::string_view(acc.kept->text) : std::string_view());
    if (acc.heavy) FunctionOf(specs_[a].fn).save(*acc.heavy, e);
  }
}

void AggSet::Load(state::Decoder* d, std::vector<Acc>* row) const {
  row->resize(specs_.size());
  Load(d, std::span<Acc>(*row));
}

void AggSet::Load(state::Decoder* d, std::span<Acc> row) const {
  InitRow(row);
  for (size_t a = 0; a < specs_.size() && d->ok(); a++) {
    Acc& acc = row[a];
    acc.n = d->I64();
    acc.i = d->I64();
    acc.d = d->F64();
    acc.c = d->F64();
    acc.dbl = d->U8() != 0;
    int64_t t = d->I64();
    uint64_t seq = d->U64();
    std::string_view text = d->Str();
    if (t != 0 || seq != 0 || !text.empty()) acc.kept.reset(new Acc::Kept{t, seq, std::string(text)});
    if (acc.heavy) FunctionOf(specs_[a].fn).load(acc.heavy.get(), d);
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
