#include "kpipe/join/join.h"

#include <algorithm>
#include <functional>

#include <fmt/format.h>

#include "kpipe/agg/sketch.h"
#include "kpipe/json/scan.h"

namespace kpipe {

Result<JoinType> ParseJoinType(std::string_view text) {
  if (text == "inner") return JoinType::kInner;
  if (text == "left") return JoinType::kLeft;
  if (text == "right") return JoinType::kRight;
  if (text == "full") return JoinType::kFull;
  return Status::Usage(fmt::format("{}: expected inner, left, right or full", text));
}

Status JoinRows::Write(std::string_view join_key, const std::string* left, const std::string* right) {
  written_++;
  // The group of the row is the join key, as a JSON array of its values.
  key_.assign(1, '[');
  key_.append(join_key);
  key_.push_back(']');
  buf_.clear();
  if (!merge_) {
    buf_.append("{\"left\":");
    buf_.append(left ? std::string_view(*left) : "null");
    buf_.append(",\"right\":");
    buf_.append(right ? std::string_view(*right) : "null");
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
    buf_.append(std::string_view(*left).substr(1, left->size() - 2));
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

Status IntervalJoin::Add(int side, JoinRecord* rec, uint64_t hash, int64_t w, JoinRows* rows, bool* late) {
  *late = SaturatingAdd(rec->t, lateness_) < w;
  if (*late) return Status::OK();
  KeyList* list = index_.Find(hash, rec->key);
  bool matched = false;
  if (list) {
    for (Entry* o = list->head[1 - side]; o; o = o->next) {
      const JoinRecord& l = side == 0 ? *rec : o->rec;
      const JoinRecord& r = side == 0 ? o->rec : *rec;
      if (r.t < SaturatingAdd(l.t, lo_) || r.t > SaturatingAdd(l.t, hi_)) continue;
      matched = o->matched = true;
      KPIPE_RETURN_IF_ERROR(rows->Write(rec->key, &l.text, &r.text));
    }
  }
  Store(side, rec, hash, list, matched);
  return Status::OK();
}

IntervalJoin::Entry* IntervalJoin::Store(int side, JoinRecord* rec, uint64_t hash, KeyList* list,
                                         bool matched) {
  SideState& me = sides_[side];
  if (!list) {
    list = free_lists_;
    if (list) free_lists_ = list->next_free;
    else list = &list_pool_.emplace_back();
    list->key = rec->key;
    list->hash = hash;
    list->head[0] = list->head[1] = list->tail[0] = list->tail[1] = nullptr;
    index_.Insert(hash, list);
  }
  // Reuse a free entry (and its strings' capacity).
  Entry* e = me.free_entries;
  if (e) me.free_entries = e->next;
  else e = &me.entry_pool.emplace_back();
  std::swap(e->rec, *rec);
  e->matched = matched;
  e->list = list;
  e->prev = list->tail[side];
  e->next = nullptr;
  (list->tail[side] ? list->tail[side]->next : list->head[side]) = e;
  list->tail[side] = e;
  Dropping d{Expiry(side, e->rec.t), e->rec.seq, e};
  if (me.fifo.empty() || !(me.fifo.back() > d)) {
    me.fifo.push_back(d);
  } else {
    me.heap.push_back(d);
    std::push_heap(me.heap.begin(), me.heap.end(), std::greater<>());
  }
  return e;
}

std::vector<std::pair<int, const IntervalJoin::Entry*>> IntervalJoin::Stored() const {
  std::vector<std::pair<int, const Entry*>> all;
  for (int s = 0; s < 2; s++) {
    for (const Dropping& d : sides_[s].fifo) all.emplace_back(s, d.entry);
    for (const Dropping& d : sides_[s].heap) all.emplace_back(s, d.entry);
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.second->rec.seq < b.second->rec.seq; });
  return all;
}

Status IntervalJoin::Save(state::StateWriter* w) const {
  std::string key, value;
  for (const auto& [side, e] : Stored()) {
    key.clear();
    value.clear();
    state::Encoder k(&key), v(&value);
    k.U64(e->rec.seq);
    v.U8(static_cast<uint8_t>(side));
    v.U8(e->matched);
    v.I64(e->rec.t);
    v.Str(e->rec.key);
    v.Str(e->rec.text);
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
    uint64_t hash = agg::HashValue(l.rec.key);
    Store(l.side, &l.rec, hash, index_.Find(hash, l.rec.key), l.matched);
  }
  return Status::OK();
}

Status IntervalJoin::Dump(RowSink* out) const {
  std::string row;
  for (const auto& [side, e] : Stored()) {
    row = fmt::format("{{\"side\":\"{}\",\"matched\":{},\"record\":", side == 0 ? "left" : "right",
                      e->matched ? "true" : "false");
    row += e->rec.text;
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

void IntervalJoin::Remove(int side, Entry* e) {
  SideState& me = sides_[side];
  KeyList* list = e->list;
  (e->prev ? e->prev->next : list->head[side]) = e->next;
  (e->next ? e->next->prev : list->tail[side]) = e->prev;
  if (!list->head[0] && !list->head[1]) {
    index_.Erase(list->hash, list);
    list->next_free = free_lists_;
    free_lists_ = list;
  }
  e->next = me.free_entries;
  me.free_entries = e;
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
    Entry* e = next->entry;
    SideState& me = sides_[side];
    me.Pop();
    // What Remove will touch for the next records in order comes from
    // memory meanwhile, a step further each: the entry two ahead, the key
    // list one ahead (its entry fetched last time), the index slot of the
    // next (its list fetched last time).
    if (me.fifo.size() > 2) {
      __builtin_prefetch(me.fifo[2].entry);
      __builtin_prefetch(me.fifo[1].entry->list);
      index_.Prefetch(me.fifo[0].entry->list->hash);
    }
    if (keep_outer[side] && !e->matched) {
      KPIPE_RETURN_IF_ERROR(side == 0 ? rows->Write(e->rec.key, &e->rec.text, nullptr)
                                      : rows->Write(e->rec.key, nullptr, &e->rec.text));
    }
    Remove(side, e);
  }
}

int64_t IntervalJoin::OutputWatermark(int64_t w) const {
  int64_t bound = SaturatingAdd(w, -lateness_);
  for (int s = 0; s < 2; s++)  // the earliest stored record has the earliest drop time
    if (const Dropping* f = sides_[s].Front()) bound = std::min(bound, f->entry->rec.t);
  return bound;
}

Status TableJoin::AddRight(JoinRecord rec, std::string_view message_key, bool deleted,
                           JoinRows* rows) {
  if (deleted) {
    auto it = key_of_message_.find(std::string(message_key));
    if (it == key_of_message_.end()) return Status::OK();  // nothing to delete
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
  versions_[rec.key][rec.t] = std::move(rec.text);
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
  if (match) return rows->Write(left.key, &left.text, match);
  if (type_ == JoinType::kLeft) return rows->Write(left.key, &left.text, nullptr);
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
      auto keep = versions.upper_bound(horizon);
      if (keep == versions.begin()) continue;
      --keep;  // the newest version at or before the horizon stays
      versions.erase(versions.begin(), keep);
    }
  }
  return Status::OK();
}

// Entries by a tag: 'l' latest, 'v' version, 'm' message key, 'w' waiting
// left record, 'r' the watermarks.
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
