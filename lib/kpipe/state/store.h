// CheckpointStore: the checkpoints of --state DIR (kpipe(7), STATE), kept in
// RocksDB. A checkpoint is the operator's state entries, in the order they
// were written, plus the runner's own record (input position, watermark,
// counters), replaced as a whole by one synced write batch: after a crash
// at any instant the store holds either the old checkpoint or the new one.
// Not thread-safe.
#pragma once

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

class CheckpointStore {
 public:
  static Result<std::unique_ptr<CheckpointStore>> Open(const std::string& dir);
  ~CheckpointStore();

  // The runner's record of the last checkpoint; empty when there is none.
  const std::string& meta() const { return meta_; }

  // Starts a checkpoint; its entries go through writer(); Commit() makes it
  // the checkpoint.
  StateWriter* Begin();
  Status Commit(std::string_view meta);

  // The entries of the last checkpoint, in order.
  std::unique_ptr<StateReader> Read();

 private:
  class BatchWriter;
  class Iter;
  CheckpointStore(rocksdb::DB* db, std::string dir);
  rocksdb::DB* db_;
  std::string dir_;
  std::string meta_;
  std::unique_ptr<BatchWriter> writer_;
};

}  // namespace kpipe::state
