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
  return Status::Usage(fmt::format("--type {}: expected inner, left, right or full", text));
}

Status JoinRows::Write(const std::string* left, const std::string* right) {
  buf_.clear();
  if (!merge_) {
    buf_.append("{\"left\":");
    buf_.append(left ? std::string_view(*left) : "null");
    buf_.append(",\"right\":");
    buf_.append(right ? std::string_view(*right) : "null");
    buf_.push_back('}');
    return out_->Write({}, buf_);
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
  return out_->Write({}, buf_);
}

Status IntervalJoin::Add(int side, JoinRecord* rec, int64_t w, JoinRows* rows, bool* late) {
  *late = SaturatingAdd(rec->t, lateness_) < w;
  if (*late) return Status::OK();
  SideState& me = sides_[side];
  SideState& other = sides_[1 - side];
  uint64_t hash = agg::HashValue(rec->key);
  bool matched = false;
  if (KeyList* list = other.index.Find(hash, rec->key)) {
    for (Entry* o = list->head; o; o = o->next) {
      const JoinRecord& l = side == 0 ? *rec : o->rec;
      const JoinRecord& r = side == 0 ? o->rec : *rec;
      if (r.t < SaturatingAdd(l.t, lo_) || r.t > SaturatingAdd(l.t, hi_)) continue;
      matched = o->matched = true;
      KPIPE_RETURN_IF_ERROR(rows->Write(&l.text, &r.text));
    }
  }
  // Store it: reuse a free entry (and its strings' capacity).
  if (me.free_entries.empty()) me.free_entries.push_back(std::make_unique<Entry>());
  me.entries.push_back(std::move(me.free_entries.back()));
  me.free_entries.pop_back();
  Entry* e = me.entries.back().get();
  e->slot = me.entries.size() - 1;
  std::swap(e->rec, *rec);
  e->matched = matched;
  KeyList* list = me.index.Find(hash, e->rec.key);
  if (!list) {
    if (me.free_lists.empty()) me.free_lists.push_back(std::make_unique<KeyList>());
    me.lists.push_back(std::move(me.free_lists.back()));
    me.free_lists.pop_back();
    list = me.lists.back().get();
    list->slot = me.lists.size() - 1;
    list->key = e->rec.key;
    list->hash = hash;
    list->head = list->tail = nullptr;
    me.index.Insert(hash, list);
  }
  e->list = list;
  e->prev = list->tail;
  e->next = nullptr;
  if (list->tail) list->tail->next = e;
  else list->head = e;
  list->tail = e;
  me.heap.push_back(Dropping{Expiry(side, e->rec.t), e->rec.seq, e});
  std::push_heap(me.heap.begin(), me.heap.end(), std::greater<>());
  return Status::OK();
}

void IntervalJoin::Remove(int side, Entry* e) {
  SideState& me = sides_[side];
  KeyList* list = e->list;
  (e->prev ? e->prev->next : list->head) = e->next;
  (e->next ? e->next->prev : list->tail) = e->prev;
  if (!list->head) {
    me.index.Erase(list->hash, list);
    Release(&me.lists, list->slot, &me.free_lists);
  }
  Release(&me.entries, e->slot, &me.free_entries);
}

Status IntervalJoin::Drop(int64_t w, bool all, JoinRows* rows) {
  bool keep_outer[2] = {type_ == JoinType::kLeft || type_ == JoinType::kFull,
                        type_ == JoinType::kRight || type_ == JoinType::kFull};
  for (;;) {
    // The next record to drop, over both sides: by drop time, left first.
    int side = -1;
    for (int s = 0; s < 2; s++) {
      const auto& heap = sides_[s].heap;
      if (heap.empty()) continue;
      int64_t expiry = heap.front().expiry;
      if (!all && !(expiry < w)) continue;  // kept while W <= expiry
      if (side < 0 || expiry < sides_[side].heap.front().expiry) side = s;
    }
    if (side < 0) return Status::OK();
    auto& heap = sides_[side].heap;
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    Entry* e = heap.back().entry;
    heap.pop_back();
    if (!e->matched && keep_outer[side]) {
      KPIPE_RETURN_IF_ERROR(side == 0 ? rows->Write(&e->rec.text, nullptr)
                                      : rows->Write(nullptr, &e->rec.text));
    }
    Remove(side, e);
  }
}

int64_t IntervalJoin::OutputWatermark(int64_t w) const {
  int64_t bound = SaturatingAdd(w, -lateness_);
  for (int s = 0; s < 2; s++)  // the earliest stored record has the earliest drop time
    if (!sides_[s].heap.empty()) bound = std::min(bound, sides_[s].heap.front().entry->rec.t);
  return bound;
}

Status TableJoin::AddRight(JoinRecord rec, std::string_view message_key, bool deleted,
                           JoinRows* rows) {
  if (deleted) {
    auto it = key_of_message_.find(std::string(message_key));
    if (it == key_of_message_.end()) return Status::OK();  // nothing to delete
    rec.key = it->second;
    key_of_message_.erase(it);
    if (!as_of_) {
      latest_.erase(rec.key);
      return Status::OK();
    }
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
  if (match) return rows->Write(&left.text, match);
  if (type_ == JoinType::kLeft) return rows->Write(&left.text, nullptr);
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

int64_t TableJoin::OutputWatermark(int64_t w_left) const {
  if (waiting_.empty()) return w_left;
  return std::min(w_left, waiting_.begin()->first.first);
}

}  // namespace kpipe
