// CheckpointStore: the checkpoints of --state DIR (kpipe(7), STATE), kept in
// RocksDB. A checkpoint is the operator's state entries, in the order they
// were written, plus the runner's own record (input position, watermark,
// counters), written as a whole by one synced write batch: after a crash at
// any instant the store holds either the old checkpoints or the new one too.
// Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kpipe/state/codec.h"
#include "kpipe/status.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace kpipe::state {

class CheckpointStore : public StateLookup {
 public:
  // `point_reads`: BeginChanges(keep_previous = true) will be used.
  static Result<std::unique_ptr<CheckpointStore>> Open(const std::string& dir, bool point_reads = false);
  ~CheckpointStore();

  // The store keeps the two newest checkpoints, numbered 1, 2, ...: with
  // --exactly-once the newer one only counts once its transaction is
  // committed (kpipe(7), EXACTLY-ONCE). The selected one (at first the
  // newest) is what meta() and Read() return.
  uint64_t seq() const { return seq_[selected_]; }  // 0: none
  // The runner's record of the selected checkpoint; empty when there is none.
  const std::string& meta() const { return meta_[selected_]; }
  // Selects the checkpoint numbered `seq`; false when it is not kept.
  // Selecting the older of incremental checkpoints rolls their shared
  // entries back to it, for good (an IOError when that fails).
  Result<bool> Select(uint64_t seq);
  // True when checkpoint `seq` (> 0) is one of the two kept.
  bool Holds(uint64_t seq) const { return seq != 0 && (seq_[0] == seq || seq_[1] == seq); }
  // The number the next Commit() gets.
  uint64_t next_seq() const { return std::max(seq_[0], seq_[1]) + 1; }

  // Starts a checkpoint; its entries go through writer(); Commit() makes it
  // the selected checkpoint, replacing the one not selected.
  StateWriter* Begin();
  Status Commit(std::string_view meta);

  // The entries of the selected checkpoint, in order.
  std::unique_ptr<StateReader> Read();

  // Incremental checkpoints (IncrementalState::SaveChanges): the entries live under
  // their own keys, shared by both checkpoints, and each checkpoint puts and
  // deletes only what changed. With `keep_previous`, the old value of each
  // entry changed is kept too (an undo record), so that the checkpoint
  // before stays selectable; otherwise it is dropped. Commit() as above.
  StateWriter* BeginChanges(bool keep_previous);
  // The entries of incremental checkpoints, in key order.
  std::unique_ptr<StateReader> ReadKeyed();
  // StateLookup, on the entries of incremental checkpoints.
  Status Get(std::string_view key, std::string* value, bool* found) override;
  std::unique_ptr<StateReader> Scan(std::string_view prefix) override;

 private:
  class Writer;
  class BatchWriter;
  class DeltaWriter;
  class Iter;
  Status RollBack(int newer);
  int FreeSlot() const;  // where the next checkpoint goes
  CheckpointStore(rocksdb::DB* db, std::string dir);
  rocksdb::DB* db_;
  std::string dir_;
  std::string meta_[2];
  uint64_t seq_[2] = {0, 0};
  int selected_ = 0;
  std::unique_ptr<Writer> writer_;
};

}  // namespace kpipe::state
