// PartitionCopy: a group member's local copy of its changelog partitions
// (kpipe(7), SCALING: --state with --instance). Per partition, the latest
// record of each changelog key and the changelog offset up to which the
// copy is complete. The member writes it only after a commit succeeded, so
// it never holds what was not committed; a member that gains the partition
// again reads only the changelog past that offset.
//
// A RocksDB database: keys are the partition (4 bytes, big-endian), then
// '\0' for the copy's record (fingerprint, offset, when written) or '\1'
// and the changelog key. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpipe/status.h"

namespace rocksdb {
class DB;
}

namespace kpipe::state {

// The key that marks a directory as a member's copy: a single process's
// checkpoints (state/store.h) are refused there, and the other way round.
inline constexpr std::string_view kMemberCopyMark = "\xff" "kpipe-member-copy";

class PartitionCopy {
 public:
  // A changelog record as written.
  struct Change {
    std::string key, value;
    bool deleted = false;  // a tombstone
  };
  struct Meta {
    std::string fingerprint;  // the options the state was made with
    int64_t offset = 0;       // the copy holds everything before this changelog offset
    int64_t written_ms = 0;   // when (Unix ms)
  };

  static Result<std::unique_ptr<PartitionCopy>> Open(const std::string& dir);
  ~PartitionCopy();

  // Applies `changes`, in order, to `partition`'s copy, which is then
  // complete up to `meta.offset`; one atomic write.
  Status Apply(int32_t partition, const std::vector<Change>& changes, const Meta& meta);
  // Replaces `partition`'s copy by `n` records, the i-th `record(i)` (key,
  // value), complete up to `meta.offset`; one atomic write, no copy of the
  // records on the way (a restore's, which can be millions).
  Status Replace(int32_t partition, size_t n,
                 const std::function<std::pair<std::string_view, std::string_view>(size_t)>& record,
                 const Meta& meta);
  // `partition`'s copy: false when there is none; else its record and
  // `each(key, value)` for every changelog record it holds, in key order.
  Result<bool> Read(int32_t partition, Meta* meta,
                    const std::function<void(std::string_view, std::string_view)>& each);
  // Drops `partition`'s copy.
  Status Forget(int32_t partition);

 private:
  PartitionCopy(std::unique_ptr<rocksdb::DB> db, std::string dir);
  // The copy's record of `partition`, the last write of a batch.
  static std::string MetaValue(const Meta& meta);
  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
};

}  // namespace kpipe::state
