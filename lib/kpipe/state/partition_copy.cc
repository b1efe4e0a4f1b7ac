#include "kpipe/state/partition_copy.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>

#include "kpipe/state/codec.h"
#include "kpipe/state/rocks_error.h"

namespace kpipe::state {

namespace {

constexpr uint64_t kCopyVersion = 1;
constexpr std::string_view kMark = kMemberCopyMark;

std::string Prefix(int32_t partition, char kind) {
  std::string k(4, '\0');
  for (int b = 0; b < 4; b++) k[b] = static_cast<char>(static_cast<uint32_t>(partition) >> (24 - 8 * b));
  k.push_back(kind);
  return k;
}

}  // namespace

PartitionCopy::PartitionCopy(std::unique_ptr<rocksdb::DB> db, std::string dir)
    : db_(std::move(db)), dir_(std::move(dir)) {}

PartitionCopy::~PartitionCopy() = default;

Result<std::unique_ptr<PartitionCopy>> PartitionCopy::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  KPIPE_RETURN_IF_ERROR(RocksOpenError(rocksdb::DB::Open(options, dir, &raw), dir));
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string mark;
  rocksdb::Status got = db->Get(rocksdb::ReadOptions(), rocksdb::Slice(kMark.data(), kMark.size()), &mark);
  if (got.IsNotFound()) {
    // A new directory, or one with a single process's checkpoints.
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (it->Valid())
      return Status::Usage(fmt::format("--state {} holds the checkpoints of a single process (-G without "
                                       "--instance); a member's copy needs a directory of its own", dir));
    KPIPE_RETURN_IF_ERROR(RocksError(db->Put(rocksdb::WriteOptions(), rocksdb::Slice(kMark.data(), kMark.size()), "1"), dir));
  } else {
    KPIPE_RETURN_IF_ERROR(RocksError(got, dir));
  }
  return std::unique_ptr<PartitionCopy>(new PartitionCopy(std::move(db), dir));
}

Status PartitionCopy::Apply(int32_t partition, const std::vector<Change>& changes, const Meta& meta) {
  rocksdb::WriteBatch batch;
  std::string key;
  for (const Change& c : changes) {
    key = Prefix(partition, '\1');
    key.append(c.key);
    if (c.deleted) batch.Delete(key);
    else batch.Put(key, c.value);
  }
  batch.Put(Prefix(partition, '\0'), MetaValue(meta));
  return RocksError(db_->Write(rocksdb::WriteOptions(), &batch), dir_);
}

Status PartitionCopy::Replace(int32_t partition, size_t n,
                              const std::function<std::pair<std::string_view, std::string_view>(size_t)>& record,
                              const Meta& meta) {
  rocksdb::WriteBatch batch;
  batch.DeleteRange(Prefix(partition, '\0'), Prefix(partition, '\2'));
  std::string key;
  for (size_t i = 0; i < n; i++) {
    auto [k, v] = record(i);
    key = Prefix(partition, '\1');
    key.append(k);
    batch.Put(key, rocksdb::Slice(v.data(), v.size()));
  }
  batch.Put(Prefix(partition, '\0'), MetaValue(meta));
  return RocksError(db_->Write(rocksdb::WriteOptions(), &batch), dir_);
}

std::string PartitionCopy::MetaValue(const Meta& meta) {
  std::string value;
  Encoder e(&value);
  e.U64(kCopyVersion);
  e.Str(meta.fingerprint);
  e.I64(meta.offset);
  e.I64(meta.written_ms);
  return value;
}

Result<bool> PartitionCopy::Read(int32_t partition, Meta* meta,
                                 const std::function<void(std::string_view, std::string_view)>& each) {
  std::string value;
  rocksdb::Status got = db_->Get(rocksdb::ReadOptions(), Prefix(partition, '\0'), &value);
  if (got.IsNotFound()) return false;
  KPIPE_RETURN_IF_ERROR(RocksError(got, dir_));
  Decoder d(value);
  uint64_t version = d.U64();
  meta->fingerprint = std::string(d.Str());
  meta->offset = d.I64();
  meta->written_ms = d.I64();
  KPIPE_RETURN_IF_ERROR(d.Check("member copy"));
  if (version != kCopyVersion) return false;
  std::string from = Prefix(partition, '\1'), to = Prefix(partition, '\2');
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(to);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->Seek(from); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key(), v = it->value();
    each(std::string_view(k.data() + from.size(), k.size() - from.size()), std::string_view(v.data(), v.size()));
  }
  KPIPE_RETURN_IF_ERROR(RocksError(it->status(), dir_));
  return true;
}

Status PartitionCopy::Forget(int32_t partition) {
  rocksdb::WriteBatch batch;
  batch.DeleteRange(Prefix(partition, '\0'), Prefix(partition, '\2'));
  return RocksError(db_->Write(rocksdb::WriteOptions(), &batch), dir_);
}

}  // namespace kpipe::state
