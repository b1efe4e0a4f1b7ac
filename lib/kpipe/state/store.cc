#include "kpipe/state/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>

namespace kpipe::state {

namespace {

// Keys: "m" the runner's record; "s" + 8-byte big-endian entry number +
// the operator's key, so that iteration returns entries in written order.
constexpr char kMeta[] = "m";
constexpr char kEntryPrefix = 's';

std::string EntryKey(uint64_t n, std::string_view key) {
  std::string k(1, kEntryPrefix);
  for (int i = 7; i >= 0; i--) k.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  k.append(key);
  return k;
}

Status FromRocks(const rocksdb::Status& s, const std::string& dir) {
  if (s.ok()) return Status::OK();
  return Status::IOError(fmt::format("--state {}: {}", dir, s.ToString()));
}

}  // namespace

class CheckpointStore::BatchWriter : public StateWriter {
 public:
  Status Put(std::string_view key, std::string_view value) override {
    batch.Put(EntryKey(n++, key), rocksdb::Slice(value.data(), value.size()));
    return Status::OK();
  }
  rocksdb::WriteBatch batch;
  uint64_t n = 0;
};

class CheckpointStore::Iter : public StateReader {
 public:
  explicit Iter(rocksdb::Iterator* it) : it_(it) { it_->Seek(std::string(1, kEntryPrefix)); }
  bool Next(std::string_view* key, std::string_view* value) override {
    if (!first_) it_->Next();
    first_ = false;
    if (!it_->Valid() || it_->key().size() < 9 || it_->key()[0] != kEntryPrefix) return false;
    *key = std::string_view(it_->key().data() + 9, it_->key().size() - 9);
    *value = std::string_view(it_->value().data(), it_->value().size());
    return true;
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  bool first_ = true;
};

CheckpointStore::CheckpointStore(rocksdb::DB* db, std::string dir) : db_(db), dir_(std::move(dir)) {}

CheckpointStore::~CheckpointStore() { delete db_; }

Result<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  options.keep_log_file_num = 2;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) return FromRocks(s, dir);
  std::unique_ptr<CheckpointStore> store(new CheckpointStore(db, dir));
  std::string meta;
  s = db->Get(rocksdb::ReadOptions(), kMeta, &meta);
  if (s.ok()) store->meta_ = std::move(meta);
  else if (!s.IsNotFound()) return FromRocks(s, dir);
  return store;
}

StateWriter* CheckpointStore::Begin() {
  writer_ = std::make_unique<BatchWriter>();
  // The new checkpoint replaces every entry of the old one.
  std::string from(1, kEntryPrefix), to(1, kEntryPrefix + 1);
  writer_->batch.DeleteRange(from, to);
  return writer_.get();
}

Status CheckpointStore::Commit(std::string_view meta) {
  writer_->batch.Put(kMeta, rocksdb::Slice(meta.data(), meta.size()));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  Status st = FromRocks(db_->Write(wo, &writer_->batch), dir_);
  writer_.reset();
  if (st.ok()) meta_ = std::string(meta);
  return st;
}

std::unique_ptr<StateReader> CheckpointStore::Read() {
  return std::make_unique<Iter>(db_->NewIterator(rocksdb::ReadOptions()));
}

}  // namespace kpipe::state
