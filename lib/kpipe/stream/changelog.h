// The records of a group member's changelog topic (stream/members.h): how
// an operator's state is written to it and read back. Keys, per input
// partition: "p" (the position), "k"+KEY and "s"+KEY (entries by key, with
// tombstones), "e"+N (entries by position); values of keyed entries start
// with 'v', so that an empty one is not a tombstone.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpipe/kafka/sink.h"
#include "kpipe/state/codec.h"
#include "kpipe/status.h"

namespace kpipe::changelog {

// Entries in memory, for Load().
class PairReader : public state::StateReader {
 public:
  explicit PairReader(const std::vector<std::pair<std::string, std::string>>* entries) : entries_(entries) {}
  bool Next(std::string_view* key, std::string_view* value) override {
    if (i_ >= entries_->size()) return false;
    *key = (*entries_)[i_].first;
    *value = (*entries_)[i_].second;
    i_++;
    return true;
  }

 private:
  const std::vector<std::pair<std::string, std::string>>* entries_;
  size_t i_ = 0;
};

// Collects what Save() writes.
class PairWriter : public state::StateWriter {
 public:
  explicit PairWriter(std::vector<std::pair<std::string, std::string>>* out) : out_(out) {}
  Status Put(std::string_view key, std::string_view value) override {
    out_->emplace_back(key, value);
    return Status::OK();
  }

 private:
  std::vector<std::pair<std::string, std::string>>* out_;
};

// Puts and deletes of SaveChanges() as changelog records "k"+KEY.
class ChangelogWriter : public state::StateWriter {
 public:
  // Writes one changelog record of the partition (a tombstone when `deleted`).
  using Produce = std::function<Status(std::string_view key, std::string_view value, bool deleted)>;
  // Keys are `kind`+KEY.
  explicit ChangelogWriter(Produce produce, char kind = 'k') : produce_(std::move(produce)), kind_(kind) {}
  // A value goes with a leading 'v': an empty one is not a tombstone.
  Status Put(std::string_view key, std::string_view value) override {
    Key(key);
    value_.assign(1, 'v');
    value_.append(value);
    return produce_(key_, value_, false);
  }
  Status Delete(std::string_view key) override {
    Key(key);
    return produce_(key_, std::string_view(), true);
  }

 private:
  void Key(std::string_view key) {
    key_.assign(1, kind_);
    key_.append(key);
  }
  Produce produce_;
  char kind_;
  std::string key_, value_;
};

// Changelog records as read back, in offset order, their bytes in one
// buffer (a restore reads millions of them).
class Records {
 public:
  // A null `value` is a tombstone.
  void Add(std::string_view key, const char* value, size_t len) {
    recs_.push_back({bytes_.size(), static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value ? len : 0),
                     value == nullptr});
    bytes_.append(key);
    if (value) bytes_.append(value, len);
  }
  // Keeps the latest record of each key, without the deleted, in the order
  // they were written (kwindow's "e" entries are ordered by the caller).
  void Latest();
  size_t size() const { return recs_.size(); }
  std::string_view key(size_t i) const { return Key(recs_[i]); }
  std::string_view value(size_t i) const {
    return std::string_view(bytes_).substr(recs_[i].at + recs_[i].key_len, recs_[i].value_len);
  }

 private:
  struct Rec {
    uint64_t at;  // in bytes_: the key, then the value
    uint32_t key_len, value_len;
    bool deleted;
  };
  std::string_view Key(const Rec& r) const { return std::string_view(bytes_).substr(r.at, r.key_len); }
  std::string bytes_;
  std::vector<Rec> recs_;
};

// The records of one kind ("k"+KEY -> "v"+VALUE), without those letters.
class RecordReader : public state::StateReader {
 public:
  RecordReader(const Records* records, char kind) : records_(records), kind_(kind) {}
  bool Next(std::string_view* key, std::string_view* value) override {
    while (i_ < records_->size()) {
      size_t i = i_++;
      std::string_view k = records_->key(i), v = records_->value(i);
      if (k.empty() || k[0] != kind_ || v.empty()) continue;
      *key = k.substr(1);
      *value = v.substr(1);
      count_++;
      return true;
    }
    return false;
  }
  size_t count() const { return count_; }

 private:
  const Records* records_;
  char kind_;
  size_t i_ = 0, count_ = 0;
};

// "e" + the index, big-endian: the changelog's key order is the entries' order.
inline std::string EntryKey(uint64_t i) {
  std::string k(9, 'e');
  for (int b = 0; b < 8; b++) k[1 + b] = static_cast<char>(i >> (56 - 8 * b));
  return k;
}

}  // namespace kpipe::changelog
