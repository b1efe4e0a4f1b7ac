#include "kpipe/state/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>

namespace kpipe::state {

namespace {

// Two slots. Keys: kMeta[slot] the runner's record, as an 8-byte
// big-endian checkpoint number and the record; kEntry[slot] + 8-byte
// big-endian entry number + the operator's key, so that iteration returns
// entries in written order.
constexpr const char* kMeta[2] = {"m", "n"};
constexpr char kEntry[2] = {'s', 't'};

void AppendU64(std::string* s, uint64_t n) {
  for (int i = 7; i >= 0; i--) s->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}

uint64_t ReadU64(std::string_view s) {
  uint64_t n = 0;
  for (int i = 0; i < 8 && i < static_cast<int>(s.size()); i++) n = (n << 8) | static_cast<uint8_t>(s[i]);
  return n;
}

Status FromRocks(const rocksdb::Status& s, const std::string& dir) {
  if (s.ok()) return Status::OK();
  return Status::IOError(fmt::format("--state {}: {}", dir, s.ToString()));
}

}  // namespace

class CheckpointStore::BatchWriter : public StateWriter {
 public:
  explicit BatchWriter(int slot) : slot(slot) {}
  Status Put(std::string_view key, std::string_view value) override {
    key_.assign(1, kEntry[slot]);
    AppendU64(&key_, n++);
    key_.append(key);
    batch.Put(key_, rocksdb::Slice(value.data(), value.size()));
    return Status::OK();
  }
  int slot;
  rocksdb::WriteBatch batch;
  uint64_t n = 0;

 private:
  std::string key_;
};

class CheckpointStore::Iter : public StateReader {
 public:
  Iter(rocksdb::Iterator* it, char prefix) : it_(it), prefix_(prefix) { it_->Seek(std::string(1, prefix)); }
  bool Next(std::string_view* key, std::string_view* value) override {
    if (!first_) it_->Next();
    first_ = false;
    if (!it_->Valid() || it_->key().size() < 9 || it_->key()[0] != prefix_) return false;
    *key = std::string_view(it_->key().data() + 9, it_->key().size() - 9);
    *value = std::string_view(it_->value().data(), it_->value().size());
    return true;
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  char prefix_;
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
  for (int slot = 0; slot < 2; slot++) {
    std::string meta;
    s = db->Get(rocksdb::ReadOptions(), kMeta[slot], &meta);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return FromRocks(s, dir);
    if (meta.size() < 8) return Status::IOError(fmt::format("--state {}: not a kpipe checkpoint", dir));
    store->seq_[slot] = ReadU64(meta);
    store->meta_[slot] = meta.substr(8);
  }
  store->selected_ = store->seq_[1] > store->seq_[0] ? 1 : 0;
  return store;
}

bool CheckpointStore::Select(uint64_t seq) {
  for (int slot = 0; slot < 2; slot++) {
    if (seq_[slot] == seq && seq != 0) {
      selected_ = slot;
      return true;
    }
  }
  return false;
}

StateWriter* CheckpointStore::Begin() {
  // The new checkpoint replaces every entry of the one not selected.
  int slot = seq_[selected_] == 0 ? selected_ : 1 - selected_;
  writer_ = std::make_unique<BatchWriter>(slot);
  std::string from(1, kEntry[slot]), to(1, kEntry[slot] + 1);
  writer_->batch.DeleteRange(from, to);
  return writer_.get();
}

Status CheckpointStore::Commit(std::string_view meta) {
  int slot = writer_->slot;
  uint64_t seq = next_seq();
  std::string value;
  AppendU64(&value, seq);
  value.append(meta);
  writer_->batch.Put(kMeta[slot], value);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  Status st = FromRocks(db_->Write(wo, &writer_->batch), dir_);
  writer_.reset();
  if (!st.ok()) return st;
  seq_[slot] = seq;
  meta_[slot] = std::string(meta);
  selected_ = slot;
  return st;
}

std::unique_ptr<StateReader> CheckpointStore::Read() {
  return std::make_unique<Iter>(db_->NewIterator(rocksdb::ReadOptions()), kEntry[selected_]);
}

}  // namespace kpipe::state
