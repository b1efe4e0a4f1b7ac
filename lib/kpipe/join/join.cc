#include "kpipe/join/join.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/sketch.h"
#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

namespace kpipe {

Result<JoinType> ParseJoinType(std::string_view text) {
  if (text == "inner") return JoinType::kInner;
  if (text == "left") return JoinType::kLeft;
  if (text == "right") return JoinType::kRight;
  if (text == "full") return JoinType::kFull;
  return Status::Usage(fmt::format("{}: expected inner, left, right or full", text));
}

Status JoinRows::Write(std::string_view join_key, std::optional<std::string_view> left,
                       std::optional<std::string_view> right) {
  written_++;
  // The group of the row is the join key, as a JSON array of its values.
  key_.assign(1, '[');
  key_.append(join_key);
  key_.push_back(']');
  buf_.clear();
  if (!merge_) {
    buf_.append("{\"left\":");
    buf_.append(left ? *left : "null");
    buf_.append(",\"right\":");
    buf_.append(right ? *right : "null");
    buf_.push_back('}');
    return out_->Write(key_, buf_);
  }
  // Both are compact objects (checked on input): the left members, then the
  // right members whose key the left does not have.
  std::string_view key, value;
  keys_.clear();
  buf_.push_back('{');
  if (left) {
    json::ObjectReader r(*left);
    while (r.Next(&key, &value)) keys_.push_back(key);
    buf_.append(left->substr(1, left->size() - 2));
  }
  if (right) {
    json::ObjectReader r(*right);
    while (r.Next(&key, &value)) {
      if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) continue;
      if (buf_.size() > 1) buf_.push_back(',');
      buf_.append(key);
      buf_.push_back(':');
      buf_.append(value);
    }
  }
  buf_.push_back('}');
  return out_->Write(key_, buf_);
}

namespace {

constexpr uint64_t kStringTag = 0x5851f42d4c957f2dULL;

uint64_t Combine(size_t i, uint64_t h, uint64_t f) {
  return i ? agg::Mix(h) ^ f : f;  // in order: ("a","b") is not ("b","a")
}

}  // namespace

uint64_t JoinKeyHash(const simdjson::dom::element* values, size_t n, std::string* scratch) {
  uint64_t h = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t f;
    if (values[i].type() == simdjson::dom::element_type::STRING) {
      f = agg::HashValue(values[i].get_string().value_unsafe()) ^ kStringTag;
    } else {
      scratch->clear();
      json::AppendCompact(scratch, values[i]);
      f = agg::HashValue(*scratch);
    }
    h = Combine(i, h, f);
  }
  return h;
}

Result<uint64_t> JoinKeyHashOfText(std::string_view key) {
  // The values as AppendCompact wrote them, comma-separated, each hashed
  // from its own text as JoinKeyHash hashes it: a string by its characters,
  // any other value by that text (not parsed again: -0 would come back 0).
  auto bad = [&] { return Status::BadInput(fmt::format("join key {}: not a list of JSON values", key)); };
  uint64_t h = 0;
  std::string chars;
  size_t i = 0;
  for (size_t n = 0;; n++) {
    size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < key.size(); i++) {
      char c = key[i];
      if (in_string) {
        if (c == '\\') i++;
        else if (c == '"') in_string = false;
      } else if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        depth++;
      } else if (c == ']' || c == '}') {
        depth--;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    std::string_view v = key.substr(start, std::min(i, key.size()) - start);
    if (v.empty() || in_string || depth != 0) return bad();
    uint64_t f;
    if (v.front() == '"') {
      if (!json::Unquote(v, &chars)) return bad();
      f = agg::HashValue(chars) ^ kStringTag;
    } else {
      f = agg::HashValue(v);
    }
    h = Combine(n, h, f);
    if (i >= key.size()) return h;
    i++;  // the comma
  }
}

Status IntervalJoin::Add(int side, const JoinRecord& rec, int64_t w, JoinRows* rows, bool* late) {
  Result<uint64_t> hash = JoinKeyHashOfText(rec.key);
  if (!hash.ok()) return hash.status();
  return Add(side, JoinRecordRef{rec.text, rec.key, rec.t, rec.seq}, *hash, w, rows, late);
}

void IntervalJoin::PrefetchRecords(int side, uint64_t hash) const {
  const JoinKeyTable::Slot* s = keys_.Peek(hash);
  if (!s) return;
  if (s->head[1 - side] != kNone) __builtin_prefetch(&entries_[s->head[1 - side]]);
  if (s->tail[side] != kNone) __builtin_prefetch(&entries_[s->tail[side]]);
}

Status IntervalJoin::Add(int side, const JoinRecordRef& rec, uint64_t hash, int64_t w, JoinRows* rows,
                         bool* late) {
  *late = SaturatingAdd(rec.t, lateness_) < w;
  if (*late) return Status::OK();
  JoinKeyTable::Slot* slot = keys_.Find(hash, rec.key);
  bool matched = false;
  if (slot) {
    for (uint32_t i = slot->head[1 - side]; i != kNone;) {
      Entry& o = entries_[i];
      i = o.next;
      if (i != kNone) __builtin_prefetch(&entries_[i]);
      int64_t lt = side == 0 ? rec.t : o.t;
      int64_t rt = side == 0 ? o.t : rec.t;
      if (rt < SaturatingAdd(lt, lo_) || rt > SaturatingAdd(lt, hi_)) continue;
      matched = o.matched = true;
      std::string_view other = o.view();
      KPIPE_RETURN_IF_ERROR(side == 0 ? rows->Write(rec.key, rec.text, other) : rows->Write(rec.key, other, rec.text));
    }
  }
  Store(side, rec, hash, slot, matched);
  return Status::OK();
}

void IntervalJoin::Store(int side, const JoinRecordRef& rec, uint64_t hash, JoinKeyTable::Slot* slot,
                         bool matched) {
  if (!slot) slot = keys_.Insert(hash, rec.key);
  // Reuse a free entry (and its strings' capacity).
  uint32_t i = free_entries_;
  if (i != kNone) {
    free_entries_ = entries_[i].next;
  } else {
    i = static_cast<uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  Entry& e = entries_[i];
  e.Assign(rec.text);
  e.t = rec.t;
  e.seq = rec.seq;
  e.hash = hash;
  e.matched = matched;
  e.prev = slot->tail[side];
  e.next = kNone;
  (e.prev != kNone ? entries_[e.prev].next : slot->head[side]) = i;
  slot->tail[side] = i;
  SideState& me = sides_[side];
  Dropping d{Expiry(side, e.t), e.seq, hash, i};
  if (me.fifo.empty() || !(me.fifo.back() > d)) {
    me.fifo.push_back(d);
  } else {
    me.heap.push_back(d);
    std::push_heap(me.heap.begin(), me.heap.end(), std::greater<>());
  }
}

void IntervalJoin::Entry::Assign(std::string_view s) {
  if (s.size() > text_cap) {
    text_cap = static_cast<uint32_t>(std::max<size_t>(s.size(), 2 * size_t{text_cap}));
    text.reset(new char[text_cap]);
  }
  std::memcpy(text.get(), s.data(), s.size());
  text_size = static_cast<uint32_t>(s.size());
}

std::string_view IntervalJoin::KeyOf(int side, uint32_t i) const {
  // Almost always the one slot of its hash; else the slot of its list's head.
  if (const JoinKeyTable::Slot* only = keys_.FindOnly(entries_[i].hash)) return only->key();
  while (entries_[i].prev != kNone) i = entries_[i].prev;
  return keys_.FindEnd(entries_[i].hash, /*tail=*/false, side, i)->key();
}

std::vector<std::pair<int, uint32_t>> IntervalJoin::Stored() const {
  std::vector<std::pair<int, uint32_t>> all;
  for (int s = 0; s < 2; s++) {
    for (const Dropping& d : sides_[s].fifo) all.emplace_back(s, d.entry);
    for (const Dropping& d : sides_[s].heap) all.emplace_back(s, d.entry);
  }
  std::sort(all.begin(), all.end(),
            [this](const auto& a, const auto& b) { return entries_[a.second].seq < entries_[b.second].seq; });
  return all;
}

Status IntervalJoin::Save(state::StateWriter* w) const {
  std::string key, value;
  for (const auto& [side, i] : Stored()) {
    const Entry& e = entries_[i];
    key.clear();
    value.clear();
    state::Encoder k(&key), v(&value);
    k.U64(e.seq);
    v.U8(static_cast<uint8_t>(side));
    v.U8(e.matched);
    v.I64(e.t);
    v.Str(KeyOf(side, i));
    v.Str(e.view());
    KPIPE_RETURN_IF_ERROR(w->Put(key, value));
  }
  return Status::OK();
}

Status IntervalJoin::Load(state::StateReader* r) {
  struct Loaded {
    JoinRecord rec;
    int side;
    bool matched;
  };
  // In the order they came (their keys' byte order is not): a key's
  // records are then listed, and matched, as before the checkpoint.
  std::vector<Loaded> all;
  std::string_view k, v;
  while (r->Next(&k, &v)) {
    state::Decoder kd(k), vd(v);
    Loaded& l = all.emplace_back();
    l.rec.seq = kd.U64();
    l.side = vd.U8() != 0;
    l.matched = vd.U8() != 0;
    l.rec.t = vd.I64();
    l.rec.key = std::string(vd.Str());
    l.rec.text = std::string(vd.Str());
    KPIPE_RETURN_IF_ERROR(kd.Check("join state key"));
    KPIPE_RETURN_IF_ERROR(vd.Check("join state"));
  }
  std::sort(all.begin(), all.end(), [](const Loaded& a, const Loaded& b) { return a.rec.seq < b.rec.seq; });
  for (Loaded& l : all) {
    Result<uint64_t> hash = JoinKeyHashOfText(l.rec.key);
    if (!hash.ok()) return hash.status();
    Store(l.side, JoinRecordRef{l.rec.text, l.rec.key, l.rec.t, l.rec.seq}, *hash, keys_.Find(*hash, l.rec.key),
          l.matched);
  }
  return Status::OK();
}

Status IntervalJoin::Dump(RowSink* out) const {
  std::string row;
  for (const auto& [side, i] : Stored()) {
    const Entry& e = entries_[i];
    row = fmt::format("{{\"side\":\"{}\",\"matched\":{},\"record\":", side == 0 ? "left" : "right",
                      e.matched ? "true" : "false");
    row += e.view();
    row += "}";
    KPIPE_RETURN_IF_ERROR(out->Write({}, row));
  }
  return Status::OK();
}

const IntervalJoin::Dropping* IntervalJoin::SideState::Front() const {
  if (fifo.empty()) return heap.empty() ? nullptr : &heap.front();
  if (heap.empty() || heap.front() > fifo.front()) return &fifo.front();
  return &heap.front();
}

void IntervalJoin::SideState::Pop() {
  if (!fifo.empty() && Front() == &fifo.front()) {
    fifo.pop_front();
  } else {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    heap.pop_back();
  }
}

void IntervalJoin::Remove(int side, uint32_t i) {
  Entry& e = entries_[i];
  if (e.prev != kNone && e.next != kNone) {  // inside its list: no slot to change
    entries_[e.prev].next = e.next;
    entries_[e.next].prev = e.prev;
  } else {
    JoinKeyTable::Slot* slot = keys_.FindEnd(e.hash, /*tail=*/e.prev != kNone, side, i);
    (e.prev != kNone ? entries_[e.prev].next : slot->head[side]) = e.next;
    (e.next != kNone ? entries_[e.next].prev : slot->tail[side]) = e.prev;
    if (slot->head[0] == kNone && slot->head[1] == kNone) keys_.Erase(slot);
  }
  e.next = free_entries_;
  free_entries_ = i;
  // The next Store takes this entry and writes its text buffer, untouched
  // since this record came: have it on its way.
  __builtin_prefetch(e.text.get(), /*rw=*/1);
  if (e.text_size > 64) __builtin_prefetch(e.text.get() + 64, 1);
}

Status IntervalJoin::Drop(int64_t w, bool all, JoinRows* rows) {
  bool keep_outer[2] = {type_ == JoinType::kLeft || type_ == JoinType::kFull,
                        type_ == JoinType::kRight || type_ == JoinType::kFull};
  for (;;) {
    // The next record to drop, over both sides: by drop time, left first.
    int side = -1;
    const Dropping* next = nullptr;
    for (int s = 0; s < 2; s++) {
      const Dropping* f = sides_[s].Front();
      if (!f || (!all && !(f->expiry < w))) continue;  // kept while W <= expiry
      if (!next || f->expiry < next->expiry) {
        side = s;
        next = f;
      }
    }
    if (side < 0) return Status::OK();
    uint32_t i = next->entry;
    SideState& me = sides_[side];
    me.Pop();
    // What Remove will touch for the records a few places on comes from
    // memory meanwhile: their entries and their keys' slots, both known
    // from the queue without loading anything else.
    if (me.fifo.size() > 3) {
      __builtin_prefetch(&entries_[me.fifo[3].entry]);
      keys_.Prefetch(me.fifo[3].hash);
    }
    const Entry& e = entries_[i];
    if (keep_outer[side] && !e.matched) {
      std::string_view key = KeyOf(side, i);
      KPIPE_RETURN_IF_ERROR(side == 0 ? rows->Write(key, e.view(), std::nullopt)
                                      : rows->Write(key, std::nullopt, e.view()));
    }
    Remove(side, i);
  }
}

int64_t IntervalJoin::OutputWatermark(int64_t w) const {
  int64_t bound = SaturatingAdd(w, -lateness_);
  for (int s = 0; s < 2; s++)  // the earliest stored record has the earliest drop time
    if (const Dropping* f = sides_[s].Front()) bound = std::min(bound, entries_[f->entry].t);
  return bound;
}

Status TableJoin::AddRight(JoinRecord rec, std::string_view message_key, bool deleted,
                           JoinRows* rows) {
  if (deleted) {
    auto it = key_of_message_.find(std::string(message_key));
    if (it == key_of_message_.end()) {
      // Nothing to delete yet; as of a time, a version before it may come.
      if (as_of_ && !message_key.empty()) early_tombstones_[std::string(message_key)].push_back(rec.t);
      return Status::OK();
    }
    rec.key = it->second;
    if (!as_of_) {
      key_of_message_.erase(it);
      latest_.erase(rec.key);
      return Status::OK();
    }
    // Versioned: an older tombstone of the same message key may still come.
    versions_[rec.key][rec.t] = std::nullopt;
    return Status::OK();
  }
  if (!message_key.empty()) key_of_message_[std::string(message_key)] = rec.key;
  if (!as_of_) {
    latest_[rec.key] = std::move(rec.text);
    return Status::OK();
  }
  auto& versions = versions_[rec.key];
  if (!early_tombstones_.empty() && !message_key.empty()) {
    if (auto early = early_tombstones_.find(std::string(message_key)); early != early_tombstones_.end()) {
      for (int64_t t : early->second) versions.try_emplace(t, std::nullopt);  // came before this version
      early_tombstones_.erase(early);
    }
  }
  versions[rec.t] = std::move(rec.text);
  return Status::OK();
}

Status TableJoin::Join(const JoinRecord& left, JoinRows* rows) {
  const std::string* match = nullptr;
  if (!as_of_) {
    if (auto it = latest_.find(left.key); it != latest_.end()) match = &it->second;
  } else if (auto it = versions_.find(left.key); it != versions_.end()) {
    auto v = it->second.upper_bound(left.t);  // first version after lt
    if (v != it->second.begin()) {
      --v;
      if (v->second) match = &*v->second;
    }
  }
  if (match) return rows->Write(left.key, left.text, *match);
  if (type_ == JoinType::kLeft) return rows->Write(left.key, left.text, std::nullopt);
  return Status::OK();
}

Status TableJoin::AddLeft(JoinRecord rec, JoinRows* rows) {
  if (as_of_ && !(rec.t < w_right_)) {  // later versions at or before lt may still come
    waiting_.emplace(std::make_pair(rec.t, rec.seq), std::move(rec));
    return Status::OK();
  }
  return Join(rec, rows);
}

Status TableJoin::AdvanceRight(int64_t w, JoinRows* rows) {
  w_right_ = std::max(w_right_, w);
  bool all = w == INT64_MAX;
  while (!waiting_.empty() && (all || waiting_.begin()->first.first < w_right_)) {
    KPIPE_RETURN_IF_ERROR(Join(waiting_.begin()->second, rows));
    waiting_.erase(waiting_.begin());
  }
  if (as_of_ && retain_ >= 0 && !all) {
    // Versions older than W - retain may go, but the newest of them still
    // answers left records between it and the next version.
    int64_t horizon = SaturatingAdd(w_right_, -retain_);
    int64_t oldest_waiting = waiting_.empty() ? INT64_MAX : waiting_.begin()->first.first;
    horizon = std::min(horizon, oldest_waiting);
    // A pass over every key: only after the horizon moved by a quarter of
    // the retention, so the cost per record stays small.
    if (horizon < SaturatingAdd(pruned_at_, std::max<int64_t>(retain_ / 4, 1))) return Status::OK();
    pruned_at_ = horizon;
    for (auto& [key, versions] : versions_) {
      auto keep = versions.lower_bound(horizon);
      if (keep == versions.begin()) continue;
      --keep;  // the newest version older than the horizon stays (and those after)
      versions.erase(versions.begin(), keep);
    }
    // Early tombstones as versions: of those older than the horizon, the
    // newest stays (a version before it may still come: right records are
    // never late).
    for (auto& [m, times] : early_tombstones_) {
      int64_t newest_behind = INT64_MIN;
      for (int64_t t : times)
        if (t < horizon) newest_behind = std::max(newest_behind, t);
      std::erase_if(times, [&](int64_t t) { return t < newest_behind; });
    }
  }
  return Status::OK();
}

// Entries by a tag: 'l' latest, 'v' version, 'm' message key, 'o' early
// tombstone, 'w' waiting left record, 'r' the watermarks.
Status TableJoin::Save(state::StateWriter* w) const {
  std::string key, value;
  auto put = [&](char tag, auto&& fill) {
    key.assign(1, tag);
    value.clear();
    state::Encoder e(&value);
    fill(e);
    return w->Put(key, value);
  };
  KPIPE_RETURN_IF_ERROR(put('r', [&](state::Encoder& e) {
    e.I64(w_right_);
    e.I64(pruned_at_);
    e.I64(w_left_);
  }));
  for (const auto& [k, text] : latest_)
    KPIPE_RETURN_IF_ERROR(put('l', [&](state::Encoder& e) {
      e.Str(k);
      e.Str(text);
    }));
  for (const auto& [k, versions] : versions_)
    for (const auto& [t, text] : versions)
      KPIPE_RETURN_IF_ERROR(put('v', [&](state::Encoder& e) {
        e.Str(k);
        e.I64(t);
        e.U8(text.has_value());
        e.Str(text ? std::string_view(*text) : std::string_view());
      }));
  for (const auto& [m, k] : key_of_message_)
    KPIPE_RETURN_IF_ERROR(put('m', [&](state::Encoder& e) {
      e.Str(m);
      e.Str(k);
    }));
  for (const auto& [m, times] : early_tombstones_)
    for (int64_t t : times)
      KPIPE_RETURN_IF_ERROR(put('o', [&](state::Encoder& e) {
        e.Str(m);
        e.I64(t);
      }));
  for (const auto& [at, rec] : waiting_)
    KPIPE_RETURN_IF_ERROR(put('w', [&](state::Encoder& e) {
      e.I64(rec.t);
      e.U64(rec.seq);
      e.Str(rec.key);
      e.Str(rec.text);
    }));
  return Status::OK();
}

Status TableJoin::Load(state::StateReader* r) {
  std::string_view k, v;
  while (r->Next(&k, &v)) {
    state::Decoder d(v);
    char tag = k.empty() ? 0 : k[0];
    if (tag == 'r') {
      w_right_ = d.I64();
      pruned_at_ = d.I64();
      w_left_ = d.I64();
    } else if (tag == 'l') {
      std::string key(d.Str());
      latest_[key] = std::string(d.Str());
    } else if (tag == 'v') {
      std::string key(d.Str());
      int64_t t = d.I64();
      bool has = d.U8() != 0;
      std::string text(d.Str());
      versions_[key][t] = has ? std::optional<std::string>(std::move(text)) : std::nullopt;
    } else if (tag == 'm') {
      std::string m(d.Str());
      key_of_message_[m] = std::string(d.Str());
    } else if (tag == 'o') {
      std::string m(d.Str());
      early_tombstones_[m].push_back(d.I64());
    } else if (tag == 'w') {
      JoinRecord rec;
      rec.t = d.I64();
      rec.seq = d.U64();
      rec.key = std::string(d.Str());
      rec.text = std::string(d.Str());
      waiting_.emplace(std::make_pair(rec.t, rec.seq), std::move(rec));
    } else {
      return Status::BadInput("table join state: unknown entry");
    }
    KPIPE_RETURN_IF_ERROR(d.Check("table join state"));
  }
  return Status::OK();
}

Status TableJoin::Dump(RowSink* out) const {
  std::string row;
  for (const auto& [k, text] : latest_) {
    row = "{\"key\":[" + k + "],\"right\":" + text + "}";
    KPIPE_RETURN_IF_ERROR(out->Write({}, row));
  }
  for (const auto& [k, versions] : versions_)
    for (const auto& [t, text] : versions) {
      row = fmt::format("{{\"key\":[{}],\"time\":{},\"right\":{}}}", k, t, text ? *text : "null");
      KPIPE_RETURN_IF_ERROR(out->Write({}, row));
    }
  for (const auto& [at, rec] : waiting_) {
    row = "{\"waiting\":" + rec.text + "}";
    KPIPE_RETURN_IF_ERROR(out->Write({}, row));
  }
  return Status::OK();
}

int64_t TableJoin::OutputWatermark(int64_t w_left) const {
  if (waiting_.empty()) return w_left;
  return std::min(w_left, waiting_.begin()->first.first);
}

}  // namespace kpipe
