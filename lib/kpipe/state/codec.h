// Byte encoding of operator state for checkpoints (kpipe(7), STATE): fixed
// little-endian integers and doubles, length-prefixed strings. The encoding
// is private to one kpipe version's operators; a checkpoint records the
// version that wrote it.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <cstring>
#include <string>
#include <string_view>

#include "kpipe/status.h"

namespace kpipe::state {

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}
  void U64(uint64_t v) { Raw(&v, sizeof v); }
  void I64(int64_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void Str(std::string_view s) {
    U64(s.size());
    out_->append(s);
  }

 private:
  void Raw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }
  std::string* out_;
};

// 8 bytes big-endian: keys that sort in numeric order.
inline void AppendBigEndian64(std::string* out, uint64_t n) {
  for (int i = 7; i >= 0; i--) out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
}
inline uint64_t ReadBigEndian64(std::string_view s) {
  uint64_t n = 0;
  for (size_t i = 0; i < 8 && i < s.size(); i++) n = (n << 8) | static_cast<uint8_t>(s[i]);
  return n;
}

// Reads what an Encoder wrote; a short or malformed input makes ok() false
// and every later read return zeros, so callers check once at the end.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  uint64_t U64() { return Fixed<uint64_t>(); }
  int64_t I64() { return Fixed<int64_t>(); }
  double F64() { return Fixed<double>(); }
  uint8_t U8() { return Fixed<uint8_t>(); }
  std::string_view Str() {
    uint64_t n = U64();
    if (!ok_ || n > in_.size()) return Fail(), std::string_view();
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  // A value read is not one the reader knows (a form tag of a later
  // build): malformed, as a short input is.
  void Fail() {
    ok_ = false;
    in_ = {};
  }
  Status Check(std::string_view what) const {
    return ok_ && in_.empty() ? Status::OK() : Status::BadInput(std::string(what) + ": corrupt state");
  }

 private:
  template <typename T>
  T Fixed() {
    T v{};
    if (!ok_ || in_.size() < sizeof v) return Fail(), v;
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::string_view in_;
  bool ok_ = true;
};

// Where an operator writes its state, one entry per unit of state (a row of
// a window and key, a session, the operator's own counters), and where it
// reads it back from. The memory and RocksDB stores implement both.
class StateWriter {
 public:
  virtual ~StateWriter() = default;
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  // Removes an entry: only for incremental checkpoints (IncrementalState::SaveChanges).
  virtual Status Delete(std::string_view key) {
    (void)key;
    return Status::Internal("this state writer takes whole checkpoints only");
  }
};

// Passes entries on to another writer, counting their bytes (for -v).
class CountingWriter : public StateWriter {
 public:
  explicit CountingWriter(StateWriter* inner) : inner_(inner) {}
  Status Put(std::string_view key, std::string_view value) override {
    bytes_ += key.size() + value.size();
    return inner_->Put(key, value);
  }
  Status Delete(std::string_view key) override {
    bytes_ += key.size();
    return inner_->Delete(key);
  }
  uint64_t bytes() const { return bytes_; }

 private:
  StateWriter* inner_;
  uint64_t bytes_ = 0;
};

class StateReader {
 public:
  virtual ~StateReader() = default;
  // The next entry in the order they were written; false at the end.
  virtual bool Next(std::string_view* key, std::string_view* value) = 0;
};

// Point reads and ordered scans of the entries of the last incremental
// checkpoint: where an operator with a memory budget finds the keys it has
// let go of (IncrementalState::SetBacking).
class StateLookup {
 public:
  virtual ~StateLookup() = default;
  virtual Status Get(std::string_view key, std::string* value, bool* found) = 0;
  // The entries whose key starts with `prefix`, in key order.
  virtual std::unique_ptr<StateReader> Scan(std::string_view prefix) = 0;
};

}  // namespace kpipe::state
