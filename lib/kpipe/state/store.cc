#include "kpipe/state/store.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/table.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "kpipe/state/partition_copy.h"
#include "kpipe/state/rocks_error.h"

namespace kpipe::state {

namespace {

// Two slots. Keys: kMeta[slot] the runner's record, as an 8-byte
// big-endian checkpoint number and the record; kEntry[slot] + 8-byte
// big-endian entry number + the operator's key, so that iteration returns
// entries in written order.
constexpr const char* kMeta[2] = {"m", "n"};
constexpr char kEntry[2] = {'s', 't'};
// Incremental checkpoints: 'k' + key the entries, 'u' + key the value each
// had before the newest checkpoint ("\1" + value, or "\0": none).
constexpr char kKeyed = 'k';
constexpr char kUndo = 'u';

Status FromRocks(const rocksdb::Status& s, const std::string& dir) {
  if (s.ok()) return Status::OK();
  return Status::IOError(fmt::format("--state {}: {}", dir, s.ToString()));
}

// A logger that keeps nothing (see Open).
class SilentLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// The process that holds `lock` open (RocksDB's LOCK file of a store), by
// the links of /proc/PID/fd; 0 when it cannot be told.
pid_t LockHolder(const std::string& lock) {
  std::error_code ec;
  std::filesystem::path want = std::filesystem::canonical(lock, ec);
  if (ec) return 0;
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = proc.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd.path(), link_ec) == want) return pid;
    }
  }
  return 0;
}

// DB::Open's error: a store another process has open says so, by pid.
Status OpenError(const rocksdb::Status& s, const std::string& dir) {
  // ("While lock file": the lock is held. "While open a file for lock"
  // is not: a LOCK file or directory this user may not open.)
  if (s.IsIOError() && s.ToString().find("While lock file") != std::string::npos) {
    pid_t pid = LockHolder(dir + "/LOCK");
    return Status::IOError(fmt::format(
        "--state {} is in use by another process{}; a state directory serves one process at a time", dir,
        pid ? fmt::format(" (pid {})", pid) : ""));
  }
  return FromRocks(s, dir);
}

}  // namespace

Status RocksError(const rocksdb::Status& s, const std::string& dir) { return FromRocks(s, dir); }
Status RocksOpenError(const rocksdb::Status& s, const std::string& dir) { return OpenError(s, dir); }

// A checkpoint being written: one batch, committed with the runner's record
// into `slot`.
class CheckpointStore::Writer : public StateWriter {
 public:
  explicit Writer(int slot) : slot(slot) {}
  int slot;
  bool drop_other = false;  // the checkpoint before cannot be had back after this one
  rocksdb::WriteBatch batch;
};

// A whole checkpoint, in its slot's entries.
class CheckpointStore::BatchWriter : public Writer {
 public:
  explicit BatchWriter(int slot) : Writer(slot) {
    // It replaces every entry of the slot.
    batch.DeleteRange(std::string(1, kEntry[slot]), std::string(1, kEntry[slot] + 1));
  }
  Status Put(std::string_view key, std::string_view value) override {
    key_.assign(1, kEntry[slot]);
    AppendBigEndian64(&key_, n_++);
    key_.append(key);
    batch.Put(key_, rocksdb::Slice(value.data(), value.size()));
    return Status::OK();
  }

 private:
  uint64_t n_ = 0;
  std::string key_;
};

// An incremental checkpoint, changing the shared entries.
class CheckpointStore::DeltaWriter : public Writer {
 public:
  DeltaWriter(rocksdb::DB* db, int slot, bool keep_previous, bool other_exists)
      : Writer(slot), db_(db), keep_(keep_previous) {
    drop_other = !keep_previous && other_exists;
    batch.DeleteRange(std::string(1, kUndo), std::string(1, kUndo + 1));
  }
  Status Put(std::string_view key, std::string_view value) override {
    KPIPE_RETURN_IF_ERROR(Remember(key));
    batch.Put(key_, rocksdb::Slice(value.data(), value.size()));
    return Status::OK();
  }
  Status Delete(std::string_view key) override {
    KPIPE_RETURN_IF_ERROR(Remember(key));
    batch.Delete(key_);
    return Status::OK();
  }

 private:
  // Sets key_ and, with keep_, records the entry's value before.
  Status Remember(std::string_view key) {
    key_.assign(1, kKeyed);
    key_.append(key);
    if (!keep_) return Status::OK();
    rocksdb::PinnableSlice old;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), key_, &old);
    if (!s.ok() && !s.IsNotFound()) return Status::IOError(s.ToString());
    undo_.assign(1, s.ok() ? '\1' : '\0');
    if (s.ok()) undo_.append(old.data(), old.size());
    undo_key_ = key_;
    undo_key_[0] = kUndo;
    batch.Put(undo_key_, undo_);
    return Status::OK();
  }
  rocksdb::DB* db_;
  bool keep_;
  std::string key_, undo_, undo_key_;
};

// The entries under `prefix`, in key order, without the first `skip`
// bytes of their keys (the prefix, and the entry number of whole checkpoints).
class CheckpointStore::Iter : public StateReader {
 public:
  Iter(rocksdb::Iterator* it, std::string prefix, size_t skip)
      : it_(it), prefix_(std::move(prefix)), skip_(skip) {
    it_->Seek(prefix_);
  }
  bool Next(std::string_view* key, std::string_view* value) override {
    if (!first_) it_->Next();
    first_ = false;
    if (!it_->Valid() || it_->key().size() < skip_ || !it_->key().starts_with(prefix_)) return false;
    *key = std::string_view(it_->key().data() + skip_, it_->key().size() - skip_);
    *value = std::string_view(it_->value().data(), it_->value().size());
    return true;
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_;
  size_t skip_;
  bool first_ = true;
};

CheckpointStore::CheckpointStore(rocksdb::DB* db, std::string dir) : db_(db), dir_(std::move(dir)) {}

CheckpointStore::~CheckpointStore() { delete db_; }

Result<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(const std::string& dir, bool point_reads) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  // No info LOG file: on a full disk RocksDB's own log writer was what
  // aborted the process (an assertion after a failed write). Errors reach
  // kpipe as the statuses of its calls.
  options.info_log = std::make_shared<SilentLogger>();
  // Checkpoints are large write batches read back only on restart: a vector
  // memtable takes them at memcpy speed, where the default skip list costs
  // about a microsecond an entry (bench/state_bench.sh). Undo records need
  // point reads, which a vector memtable does badly.
  // Modest memtables: with a memory budget the store is where most keys
  // live, and its own memory counts too.
  options.write_buffer_size = 16 << 20;
  options.max_write_buffer_number = 2;
  // Point reads of keys let go of: a Bloom filter spares most file reads.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(16 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (!point_reads) {
    options.memtable_factory.reset(new rocksdb::VectorRepFactory);
    options.allow_concurrent_memtable_write = false;
  }
  // Flushes and compactions run at a low CPU priority: on a small machine
  // they must not take the core the tool reads with (the Env's thread pools
  // are the process's, for every store it opens).
  for (auto pool : {rocksdb::Env::Priority::LOW, rocksdb::Env::Priority::HIGH})
    (void)options.env->LowerThreadPoolCPUPriority(pool, rocksdb::CpuPriority::kLow);
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &db);
  if (!s.ok()) return OpenError(s, dir);
  std::unique_ptr<CheckpointStore> store(new CheckpointStore(db, dir));
  std::string mark;
  if (db->Get(rocksdb::ReadOptions(), rocksdb::Slice(kMemberCopyMark.data(), kMemberCopyMark.size()), &mark).ok())
    return Status::Usage(fmt::format("--state {} is a group member's local copy (--instance); a single process's "
                                     "checkpoints need a directory of their own", dir));
  for (int slot = 0; slot < 2; slot++) {
    std::string meta;
    s = db->Get(rocksdb::ReadOptions(), kMeta[slot], &meta);
    if (s.IsNotFound()) continue;
    if (!s.ok()) return FromRocks(s, dir);
    if (meta.size() < 8) return Status::IOError(fmt::format("--state {}: not a kpipe checkpoint", dir));
    store->seq_[slot] = ReadBigEndian64(meta);
    store->meta_[slot] = meta.substr(8);
  }
  store->selected_ = store->seq_[1] > store->seq_[0] ? 1 : 0;
  return store;
}

Result<bool> CheckpointStore::Select(uint64_t seq) {
  for (int slot = 0; slot < 2; slot++) {
    if (seq_[slot] != seq || seq == 0) continue;
    if (slot != selected_) {
      int newer = selected_;
      KPIPE_RETURN_IF_ERROR(RollBack(newer));
      seq_[newer] = 0;
      meta_[newer].clear();
      selected_ = slot;
    }
    return true;
  }
  return false;
}

// Puts back what the undo record holds (nothing when the checkpoints are
// whole ones, which have none) and removes the newer checkpoint's record,
// in one synced write: the newer checkpoint is gone for good.
Status CheckpointStore::RollBack(int newer) {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(std::string(1, kUndo)); it->Valid() && it->key()[0] == kUndo; it->Next()) {
    std::string key = it->key().ToString();
    key[0] = kKeyed;
    rocksdb::Slice v = it->value();
    if (v.size() >= 1 && v[0] == '\1') batch.Put(key, rocksdb::Slice(v.data() + 1, v.size() - 1));
    else batch.Delete(key);
  }
  KPIPE_RETURN_IF_ERROR(FromRocks(it->status(), dir_));
  batch.DeleteRange(std::string(1, kUndo), std::string(1, kUndo + 1));
  batch.Delete(kMeta[newer]);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db_->Write(wo, &batch), dir_);
}

int CheckpointStore::FreeSlot() const { return seq_[selected_] == 0 ? selected_ : 1 - selected_; }

StateWriter* CheckpointStore::Begin() {
  // The new checkpoint replaces every entry of the one not selected.
  writer_ = std::make_unique<BatchWriter>(FreeSlot());
  return writer_.get();
}

StateWriter* CheckpointStore::BeginChanges(bool keep_previous) {
  int slot = FreeSlot();
  writer_ = std::make_unique<DeltaWriter>(db_, slot, keep_previous, seq_[1 - slot] != 0);
  return writer_.get();
}

Status CheckpointStore::Get(std::string_view key, std::string* value, bool* found) {
  std::string k(1, kKeyed);
  k.append(key);
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), k, value);
  *found = s.ok();
  if (s.ok() || s.IsNotFound()) return Status::OK();
  return FromRocks(s, dir_);
}

std::unique_ptr<StateReader> CheckpointStore::Scan(std::string_view prefix) {
  std::string p(1, kKeyed);
  p.append(prefix);
  return std::make_unique<Iter>(db_->NewIterator(rocksdb::ReadOptions()), std::move(p), 1);
}

std::unique_ptr<StateReader> CheckpointStore::ReadKeyed() { return Scan(""); }

std::unique_ptr<StateReader> CheckpointStore::Read() {
  return std::make_unique<Iter>(db_->NewIterator(rocksdb::ReadOptions()), std::string(1, kEntry[selected_]), 9);
}

Status CheckpointStore::Commit(std::string_view meta) {
  int slot = writer_->slot;
  uint64_t seq = next_seq();
  std::string value;
  AppendBigEndian64(&value, seq);
  value.append(meta);
  writer_->batch.Put(kMeta[slot], value);
  bool drop_other = writer_->drop_other;
  if (drop_other) writer_->batch.Delete(kMeta[1 - slot]);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Write(wo, &writer_->batch);
  writer_.reset();
  if (!s.ok()) {
    // The checkpoint before stays as it was: a restart (with space again)
    // goes on from it.
    std::string reason = s.IsNoSpace() || s.ToString().find("No space left") != std::string::npos
                             ? "no space left on device"
                             : s.ToString();
    return Status::IOError(fmt::format("state {}: {} (checkpoint {} not written; the last good one is {})",
                                       dir_, reason, seq, seq_[selected_] ? fmt::format("{}", seq_[selected_]) : "none"));
  }
  Status st;
  if (drop_other) {
    seq_[1 - slot] = 0;
    meta_[1 - slot].clear();
  }
  seq_[slot] = seq;
  meta_[slot] = std::string(meta);
  selected_ = slot;
  return st;
}

}  // namespace kpipe::state
