// The join operators of kjoin(1) (kpipe(7), JOINS):
//
// IntervalJoin: lt + LO <= rt <= lt + HI per key. A record is late when
// t + L < W on arrival; otherwise it is paired with every stored record of
// the other side it matches and then stored. A left record is dropped once
// W > lt + HI + L, a right one once W > rt - LO + L; an outer row for a
// record that never matched is written then, never earlier.
//
// TableJoin: RIGHT is a table, the latest record per key, or with as_of a
// versioned table where a left record at lt joins the version with the
// greatest rt <= lt once the right watermark has passed lt.
//
// Both write rows through a JoinRows. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "kpipe/join/key_table.h"
#include "kpipe/state/codec.h"
#include "kpipe/status.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

enum class JoinType { kInner, kLeft, kRight, kFull };
Result<JoinType> ParseJoinType(std::string_view text);

// The hash of a join key by its values (the key's fields in order): equal
// for keys whose texts (JoinRecord::key) are equal. A string is hashed from
// its characters, so no text need be written first. `scratch` is for the
// text of other values.
uint64_t JoinKeyHash(const simdjson::dom::element* values, size_t n, std::string* scratch);
// The same from a key's text as JoinRecord::key holds it (its values as
// json::AppendCompact writes them, comma-separated: "u1" or "u1",3), which
// checkpoints keep. BadInput when it is not such a list.
Result<uint64_t> JoinKeyHashOfText(std::string_view key);

// One side's record as the operators keep it.
struct JoinRecord {
  std::string text;  // the record, compact JSON
  std::string key;   // join key text
  int64_t t = 0;     // event time (ms)
  uint64_t seq = 0;  // arrival number over both sides
};

// A record handed to IntervalJoin::Add: views, good for the call.
struct JoinRecordRef {
  std::string_view text, key;  // as in JoinRecord
  int64_t t = 0;
  uint64_t seq = 0;
};

// Writes {"left":L,"right":R} rows, or with `merge` one object with the
// left members and then the right members not on the left.
class JoinRows {
 public:
  JoinRows(RowSink* out, bool merge) : out_(out), merge_(merge) {}
  void set_sink(RowSink* out) { out_ = out; }
  // Rows written so far.
  uint64_t written() const { return written_; }
  // Either may be absent for an outer row. `key` is the join key's values,
  // comma-separated compact JSON (JoinRecord::key).
  Status Write(std::string_view key, std::optional<std::string_view> left, std::optional<std::string_view> right);

 private:
  RowSink* out_;
  bool merge_;
  uint64_t written_ = 0;
  std::string buf_, key_;
  std::vector<std::string_view> keys_;
};

class IntervalJoin {
 public:
  IntervalJoin(int64_t lo, int64_t hi, int64_t lateness, JoinType type)
      : lo_(lo), hi_(hi), lateness_(lateness), type_(type) {}

  // `side` 0 is LEFT, 1 RIGHT; `w` is W before the record. Sets `*late`
  // (the record is then not kept). `hash` is JoinKeyHash of its key.
  Status Add(int side, const JoinRecordRef& rec, uint64_t hash, int64_t w, JoinRows* rows, bool* late);
  // The same, the hash computed from the key's text.
  Status Add(int side, const JoinRecord& rec, int64_t w, JoinRows* rows, bool* late);
  // Hints for a record of `side` with key hash `hash` to be added soon:
  // first Prefetch, then some records later PrefetchRecords, which reads
  // the key's slot (loaded by then) and starts loading the records the Add
  // will pair with and link to.
  void Prefetch(uint64_t hash) const { keys_.Prefetch(hash); }
  void PrefetchRecords(int side, uint64_t hash) const;
  // W rose to `w`: drops what it closes, writing outer rows.
  Status Advance(int64_t w, JoinRows* rows) { return Drop(w, /*all=*/false, rows); }
  // Both inputs ended: drops everything.
  Status Finish(JoinRows* rows) { return Drop(INT64_MAX, /*all=*/true, rows); }
  // A lower bound on the event time of the records in every later row.
  int64_t OutputWatermark(int64_t w) const;
  size_t stored() const { return sides_[0].size() + sides_[1].size(); }

  // Checkpoints: every stored record, in arrival order. Dump writes each as
  // {"side":"left"|"right","matched":B,"record":R}.
  Status Save(state::StateWriter* w) const;
  Status Load(state::StateReader* r);
  Status Dump(RowSink* out) const;

 private:
  static constexpr uint32_t kNone = JoinKeyTable::kNone;
  // A stored record, on its key's list of its side in arrival order (a
  // JoinKeyTable slot holds the ends, and the key). Entries are numbered
  // places in one vector, a cache line each, reused through a free list
  // (last freed, first reused, while still in the cache), so that a steady
  // stream allocates nothing: the text's buffer keeps its capacity.
  struct alignas(64) Entry {
    std::unique_ptr<char[]> text;  // the record, compact JSON: text_size of text_cap bytes
    uint32_t text_size = 0, text_cap = 0;
    uint32_t prev = kNone, next = kNone;  // on the key's list; next: the free list
    int64_t t = 0;
    uint64_t seq = 0;
    uint64_t hash = 0;  // of the key
    bool matched = false;
    std::string_view view() const { return {text.get(), text_size}; }
    void Assign(std::string_view s);
  };
  struct Dropping {  // a drop queue item: the record's drop time, then arrival
    int64_t expiry;
    uint64_t seq;
    uint64_t hash;  // the entry's, to prefetch its slot without loading it
    uint32_t entry;
    bool operator>(const Dropping& o) const {
      return expiry != o.expiry ? expiry > o.expiry : seq > o.seq;
    }
  };
  // The records of a side by drop time: those arriving in order (the usual
  // case) on a FIFO, the others on a heap; the next to drop is the earlier
  // of the two fronts.
  struct SideState {
    std::deque<Dropping> fifo;
    std::vector<Dropping> heap;
    const Dropping* Front() const;
    void Pop();
    size_t size() const { return fifo.size() + heap.size(); }
  };
  Status Drop(int64_t w, bool all, JoinRows* rows);
  void Remove(int side, uint32_t entry);
  // Stores a copy of `rec` on its key's list (`slot`, or a new one when
  // null) and the drop queue.
  void Store(int side, const JoinRecordRef& rec, uint64_t hash, JoinKeyTable::Slot* slot, bool matched);
  std::vector<std::pair<int, uint32_t>> Stored() const;  // (side, entry) by arrival
  // The key of entry `i` of side `side`, from its list's slot.
  std::string_view KeyOf(int side, uint32_t i) const;
  int64_t Expiry(int side, int64_t t) const {
    return side == 0 ? SaturatingAdd(SaturatingAdd(t, hi_), lateness_)
                     : SaturatingAdd(SaturatingAdd(t, -lo_), lateness_);
  }

  int64_t lo_, hi_, lateness_;
  JoinType type_;
  SideState sides_[2];
  JoinKeyTable keys_;
  std::vector<Entry, agg::HugeAllocator<Entry>> entries_;
  uint32_t free_entries_ = kNone;  // chained through Entry::next
};

class TableJoin {
 public:
  TableJoin(bool as_of, int64_t retain, JoinType type) : as_of_(as_of), retain_(retain), type_(type) {}

  // A right record; `deleted` for a tombstone (an envelope with a null
  // value), whose key is then the one its message key last set.
  Status AddRight(JoinRecord rec, std::string_view message_key, bool deleted, JoinRows* rows);
  Status AddLeft(JoinRecord rec, JoinRows* rows);
  // The right side's watermark rose to `w`: as-of joins release waiting
  // left records with lt < w and may drop versions older than w - retain.
  Status AdvanceRight(int64_t w, JoinRows* rows);
  Status Finish(JoinRows* rows) { return AdvanceRight(INT64_MAX, rows); }
  // The left side's watermark rose to `w` (kept for the output watermark).
  void AdvanceLeft(int64_t w) { w_left_ = std::max(w_left_, w); }
  int64_t w_left() const { return w_left_; }
  int64_t OutputWatermark(int64_t w_left) const;

  Status Save(state::StateWriter* w) const;
  Status Load(state::StateReader* r);
  // {"key":K,"right":R} per table record ("time" too when versioned), then
  // {"waiting":L} per left record waiting for the right watermark.
  Status Dump(RowSink* out) const;

 private:
  Status Join(const JoinRecord& left, JoinRows* rows);

  bool as_of_;
  int64_t retain_;  // < 0: keep every version
  JoinType type_;
  int64_t w_right_ = INT64_MIN;
  int64_t w_left_ = INT64_MIN;
  int64_t pruned_at_ = INT64_MIN;  // horizon of the last pass over the versions
  std::unordered_map<std::string, std::string> latest_;
  // as-of: per key, versions by right time; nullopt marks a deletion.
  std::unordered_map<std::string, std::map<int64_t, std::optional<std::string>>> versions_;
  std::unordered_map<std::string, std::string> key_of_message_;  // message key -> join key
  // as-of: tombstones of a message key no version has come with yet (a
  // later offset may hold an earlier time), by their times; they become
  // versions of the join key of its first version.
  std::unordered_map<std::string, std::vector<int64_t>> early_tombstones_;
  std::multimap<std::pair<int64_t, uint64_t>, JoinRecord> waiting_;  // (lt, seq)
};

}  // namespace kpipe
