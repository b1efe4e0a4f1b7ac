// Operator: the interface between the runner loop (stream/runner.h) and an
// event-time operator (the window operator, the group-by table). The runner
// owns input, event time, the watermark, control records and bad input; an
// operator owns its state and decides what a record and a watermark advance
// write. Operators do not know where records come from or where rows go,
// and their state is saved and restored through state::StateWriter/Reader
// for checkpoints.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "kpipe/state/codec.h"
#include "kpipe/status.h"

namespace kpipe {

// Where an operator writes its rows.
class RowSink {
 public:
  virtual ~RowSink() = default;
  // `row` is one compact JSON object without '\n'; `group` is its group
  // fields as `"name":value,...` (the key of the row when written to Kafka).
  virtual Status Write(std::string_view group, std::string_view row) = 0;
};

// One data record as the runner hands it over.
struct RecordIn {
  simdjson::dom::element value;  // the record (an envelope's value)
  int64_t t = 0;                 // event time in ms, when has_time
  bool has_time = false;
  uint64_t seq = 0;              // arrival number over all inputs, from 1
  int input = 0;                 // which input (kjoin: 0 LEFT, 1 RIGHT)
  bool envelope = false;         // the input is kconsume --envelope lines
  // With InputOptions::spans (stream/runner.h): the record's text and an
  // envelope's "key" span (empty for plain lines).
  std::string_view raw, message_key;
  // With InputOptions::key: an envelope's message key, unescaped, when it
  // has one (not null).
  std::string_view key;
  bool has_key = false;
  // The partition it came from, "topic/partition" ("" for plain lines).
  std::string_view partition;
  // The result of the operator's HintFunction for this record, when the
  // runner ran it (Operator::Prefetch).
  std::optional<uint64_t> hint;
};

// What became of an accepted record.
struct AddOutcome {
  bool late = false;            // late for all of its windows: not added
  bool has_window_end = true;   // late rows name the window (not joins)
  int64_t window_end = 0;       // when late: the greatest end among its windows
  // The watermark the record was judged against, when not W (a group
  // member's partition watermark, stream/partitioned.h).
  std::optional<int64_t> watermark;

  // As a fresh one, field by field: assigning AddOutcome() builds one on
  // the stack and reads it back in wider words than it wrote, which the
  // store buffer cannot forward (a stall on every record).
  void Reset() {
    late = false;
    has_window_end = true;
    window_end = 0;
    watermark.reset();
  }
};

// Written by the checkpoint thread (IncrementalState::BeginSnapshot).
class SnapshotJob {
 public:
  virtual ~SnapshotJob() = default;
  virtual Status Write(state::StateWriter* w) = 0;
};

class IncrementalState;
class PartitionedOperator;

// The core interface: records in, watermark advances, the end, and the
// whole state saved and loaded for checkpoints.
class Operator {
 public:
  virtual ~Operator() = default;
  // Adds a record judged against watermark `w` (W before the record).
  // BadInput, with no state changed, when the record cannot be applied.
  virtual Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) = 0;
  // The watermark rose to `w`; `*closed` tells whether state was released.
  virtual Status Advance(int64_t w, RowSink* out, bool* closed) = 0;
  // With several inputs: input `input`'s own watermark rose to `w` (W is
  // the minimum over the inputs; a table join also follows its table's).
  virtual Status AdvanceInput(int input, int64_t w, RowSink* out, bool* closed) {
    (void)input, (void)w, (void)out, (void)closed;
    return Status::OK();
  }
  // End of input: release everything.
  virtual Status Finish(RowSink* out) = 0;
  // A tick of --emit every:DUR.
  virtual Status Tick(RowSink* out) = 0;
  // A lower bound on the event time of every row written from now on when
  // the input watermark is `w` (kpipe(7), CONTROL RECORDS).
  virtual int64_t OutputWatermark(int64_t w) const = 0;

  // Writes the current row of every window and key held (--dump-state).
  virtual Status Dump(RowSink* out) = 0;

  virtual Status Save(state::StateWriter* w) const = 0;
  virtual Status Load(state::StateReader* r) = 0;

  // Prefetching, optional. An operator that wants it returns from
  // HintFunction(input) a function of a record (its value, as Add would get
  // it) that the runner may run on another thread, ahead of the reading:
  // it must be safe to call there (touching nothing of the operator that
  // changes), and a function of the value alone. Prefetch(input, hint) then
  // gets its result a few records before that record's Add, to start
  // loading the memory the Add will touch, and the Add gets it again in
  // RecordIn::hint (not always: a record may come without). Prefetch
  // changes nothing that Add or any other call sees, and may come for a
  // record that is never added (a control record, bad input), or not at
  // all.
  virtual std::function<uint64_t(simdjson::dom::element)> HintFunction(int input) const {
    (void)input;
    return {};
  }
  virtual void Prefetch(int input, uint64_t hint) { (void)input, (void)hint; }

  // Save() names each entry by a key that stays the same from one Save()
  // to the next, and Load() takes the entries in any order: a group
  // member's changelog then gets only the entries that changed
  // (stream/members.h). Otherwise entries are known by their position.
  virtual bool keyed_save() const { return false; }
  // The optional capability of incremental state (below); null when the
  // operator saves and loads its whole state at each checkpoint.
  virtual IncrementalState* incremental() { return nullptr; }
  // A group member's operator (stream/partitioned.h); null otherwise.
  virtual PartitionedOperator* partitioned() { return nullptr; }
};

// Incremental state, for operators whose state is a large table of keys of
// which few change between checkpoints (kagg). Checkpoints then write only
// the keys changed, may be written behind the reading, and keys beyond a
// memory budget can live only in the checkpoint store.
class IncrementalState {
 public:
  virtual ~IncrementalState() = default;
  // Puts the entries changed and deletes those gone since the last Load()
  // or SaveChanges(), each under a key of its own; the store keeps the
  // others (state/store.h). Used instead of Operator::Save().
  virtual Status SaveChanges(state::StateWriter* w) = 0;
  // Checkpoints will be written (--state): from now on the operator keeps
  // track of what changes for SaveChanges(). Until this is called it need
  // not, and a run without checkpoints spends nothing on it. `whole`: the
  // changes go where they are only ever loaded whole (a group member's
  // changelog), never scanned under a memory budget, so entries that serve
  // only such scans are left out.
  virtual void TrackChanges(bool whole) = 0;

  // A memory budget (kagg --memory-budget): keys beyond about
  // `budget_bytes` of memory live only in `store`, the last incremental
  // checkpoint, and are read back when needed. Call before Load().
  virtual Status SetBacking(state::StateLookup* store, int64_t budget_bytes) = 0;
  // Over budget: a checkpoint, then Evict(), should come now.
  virtual bool OverBudget() const = 0;
  // Right after a checkpoint: lets go of keys not changed since it, until
  // well under budget.
  virtual void Evict() = 0;

  // Checkpoints written behind the reading: BeginSnapshot() takes the
  // changes since the last checkpoint in O(1) and returns a job that
  // another thread writes, as SaveChanges() would have, while the operator
  // goes on; until EndSnapshot() the operator keeps for the job the state
  // of each key it changes as it was (copy on write). Null when it cannot.
  // Not with a memory budget.
  virtual std::unique_ptr<SnapshotJob> BeginSnapshot() = 0;
  // The job is written (or given up): call before the next checkpoint, before
  // Dump(), Save() or Load(), and before the operator goes; the job itself
  // must still exist (an operator may free there what it kept for the job).
  // (Finish() may come while a job is being written, and keeps for it what
  // it lets go of.)
  virtual void EndSnapshot() = 0;
};

enum class EmitMode { kFinal, kChanges, kEvery };


// a + b, clamped to the int64 range (window ends plus lateness near the
// watermark's infinities).
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

}  // namespace kpipe
