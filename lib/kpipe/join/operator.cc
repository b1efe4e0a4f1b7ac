#include "kpipe/join/operator.h"

#include <cstring>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/agg/aggregate.h"
#include "kpipe/json/text.h"

namespace kpipe {

JoinOperator::JoinOperator(JoinSpec spec) : spec_(std::move(spec)), rows_(nullptr, spec_.merge) {
  if (spec_.table) table_ = std::make_unique<TableJoin>(spec_.as_of, spec_.retain, spec_.type);
  else interval_ = std::make_unique<IntervalJoin>(spec_.lo, spec_.hi, spec_.lateness, spec_.type);
}

Status JoinOperator::Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) {
  int s = r.input;
  // A null value on the table side is a tombstone: it deletes the key its
  // message key last set, at the envelope's time (it has no fields).
  bool tombstone = table_ && s == 1 && r.envelope && r.value.is_null();
  JoinRecord& rec = rec_;
  uint64_t hash = 0;
  std::string_view text;  // the record, compact
  rec.key.clear();
  if (!tombstone) {
    const std::vector<json::FieldPath>& keys = spec_.keys[s];
    if (size_t missing = KeyValues(s, r.value); missing < keys.size())
      return Status::BadInput(fmt::format("join key '{}' is missing or null", keys[missing].text()));
    // The key's slot in the join's index comes from memory while the key
    // text and the record are copied (if no Prefetch asked for it sooner).
    if (interval_) {
      hash = r.hint ? *r.hint : JoinKeyHash(key_values_.data(), key_values_.size(), &scratch_);
      interval_->Prefetch(hash);
    }
    for (size_t i = 0; i < key_values_.size(); i++) {
      if (i) rec.key.push_back(',');
      json::AppendCompact(&rec.key, key_values_[i]);
    }
    if (!spec_.member_group.empty()) KPIPE_RETURN_IF_ERROR(CheckMessageKey(r));
    if (spec_.merge && !r.value.is_object()) return Status::BadInput("--merge needs JSON objects");
    if (!json::HasBlank(r.raw)) {  // compact already
      text = r.raw;
    } else {
      compact_.resize(r.raw.size());
      size_t len = 0;
      if (simdjson::minify(r.raw.data(), r.raw.size(), compact_.data(), len) != simdjson::SUCCESS)
        return Status::BadInput("invalid JSON");
      compact_.resize(len);
      text = compact_;
    }
  }
  outcome->has_window_end = false;
  if (interval_) return interval_->Add(s, JoinRecordRef{text, rec.key, r.t, r.seq}, hash, w, Rows(out), &outcome->late);
  rec.text.assign(text);
  rec.t = r.t;
  rec.seq = r.seq;
  // A message key of null is no key: it names no row to set or delete.
  std::string_view message_key = r.message_key == "null" ? std::string_view() : r.message_key;
  if (tombstone && message_key.empty())
    return Status::BadInput("a tombstone (null value) without a message key: it names no row to delete");
  if (s == 1) return table_->AddRight(std::move(rec), message_key, tombstone, Rows(out));
  return table_->AddLeft(std::move(rec), Rows(out));
}

size_t JoinOperator::KeyValues(int input, simdjson::dom::element value) {
  const std::vector<json::FieldPath>& keys = spec_.keys[input];
  key_values_.resize(keys.size());
  for (size_t i = 0; i < keys.size(); i++)
    if (!keys[i].Lookup(value, &key_values_[i])) return i;
  return keys.size();
}

std::function<uint64_t(simdjson::dom::element)> JoinOperator::HintFunction(int input) const {
  if (!interval_) return {};
  // Its own copies: it runs on the block parser's thread.
  return [keys = spec_.keys[input], values = std::vector<simdjson::dom::element>(),
          scratch = std::string()](simdjson::dom::element value) mutable -> uint64_t {
    values.resize(keys.size());
    for (size_t i = 0; i < keys.size(); i++)
      if (!keys[i].Lookup(value, &values[i])) return 0;
    return JoinKeyHash(values.data(), values.size(), &scratch);
  };
}

void JoinOperator::Prefetch(int input, uint64_t hint) {
  interval_->Prefetch(hint);
  auto earlier = hints_.Push(input, hint);
  if (earlier.input >= 0) interval_->PrefetchRecords(earlier.input, earlier.hash);
}

Status JoinOperator::CheckMessageKey(const RecordIn& r) {
  // The join key's values, compact and comma-separated: "u1" or "u1",3.
  std::string_view want = rec_.key;
  if (r.has_key) {
    std::string_view key = r.key;  // the envelope's, unescaped by the parse
    if (key == want) return Status::OK();
    // kjoin's own row keys: ["u1"].
    if (key.size() == want.size() + 2 && key.front() == '[' && key.back() == ']' &&
        key.substr(1, want.size()) == want)
      return Status::OK();
    // One value, as kproduce -k writes it: u1.
    if (spec_.keys[r.input].size() == 1 && json::KeyNamesValue(key, want)) return Status::OK();
  }
  scratch_.assign(1, '[');
  scratch_.append(want);
  scratch_.push_back(']');
  if (!r.has_key)
    return Status::BadInput(fmt::format(
        "the record has no message key; with -G {} partition p of LEFT is joined with partition p of RIGHT only, "
        "so the message key must be the join key {} (kpipe(7), SCALING)", spec_.member_group, scratch_));
  std::string quoted;
  json::AppendQuoted(&quoted, r.key);
  return Status::BadInput(fmt::format(
      "the message key {} is not the record's join key {}; with -G {} partition p of LEFT is joined with partition "
      "p of RIGHT only, so the message key must be the join key (kpipe(7), SCALING)", quoted, scratch_,
      spec_.member_group));
}

Status JoinOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  if (!interval_) return Status::OK();
  uint64_t before = rows_.written();
  KPIPE_RETURN_IF_ERROR(interval_->Advance(w, Rows(out)));
  *closed = rows_.written() != before;
  return Status::OK();
}

Status JoinOperator::AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) {
  if (!table_) return Status::OK();
  if (input == 0) {
    table_->AdvanceLeft(w);
    return Status::OK();
  }
  uint64_t before = rows_.written();
  KPIPE_RETURN_IF_ERROR(table_->AdvanceRight(w, Rows(out)));
  *closed = rows_.written() != before;
  return Status::OK();
}

Status JoinOperator::Finish(RowSink* out) {
  return interval_ ? interval_->Finish(Rows(out)) : table_->Finish(Rows(out));
}

int64_t JoinOperator::OutputWatermark(int64_t w) const {
  return interval_ ? interval_->OutputWatermark(w) : table_->OutputWatermark(table_->w_left());
}

Status JoinOperator::Dump(RowSink* out) { return interval_ ? interval_->Dump(out) : table_->Dump(out); }

Status JoinOperator::Save(state::StateWriter* w) const { return interval_ ? interval_->Save(w) : table_->Save(w); }

Status JoinOperator::Load(state::StateReader* r) { return interval_ ? interval_->Load(r) : table_->Load(r); }

}  // namespace kpipe
