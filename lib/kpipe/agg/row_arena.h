// RowArena: where kagg's rows live (agg/group.h). Millions of small
// allocations of a few sizes: malloc adds 8 bytes to each and rounds it up
// to 16, 16 bytes a row of 88 (18 %). The arena hands out 8-aligned pieces
// of 1 MiB blocks at their exact size, and keeps freed pieces on a list per
// size for the next of that size; pieces over kMaxPiece come from operator
// new and go back to it. The blocks go back to the system only with the
// arena: a table that shrinks keeps them for the keys that come next, of the
// sizes that went. Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <vector>

namespace kpipe::agg {

class RowArena {
 public:
  static constexpr size_t kAlign = 8;
  static constexpr size_t kMaxPiece = 4096;

  RowArena() = default;
  RowArena(const RowArena&) = delete;
  RowArena& operator=(const RowArena&) = delete;

  // A piece's size: at least 8 bytes (a free piece holds the next one's
  // address), rounded up to a multiple of 8.
  static size_t Round(size_t bytes) { return bytes < kAlign ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign; }

  // `bytes` of memory aligned to 8, for Release(p, bytes) later.
  void* Allocate(size_t bytes) {
    bytes = Round(bytes);
    if (bytes > kMaxPiece) return ::operator new(bytes);
    Free* f = free_.empty() ? nullptr : free_[bytes / kAlign];
    if (f) {
      free_[bytes / kAlign] = f->next;
      return f;
    }
    if (static_cast<size_t>(end_ - next_) < bytes) NewBlock();
    void* p = next_;
    next_ += bytes;
    return p;
  }

  // REQUIRES: `p` came from Allocate(bytes) of this arena.
  void Release(void* p, size_t bytes) {
    bytes = Round(bytes);
    if (bytes > kMaxPiece) {
      ::operator delete(p);
      return;
    }
    if (free_.empty()) free_.assign(kMaxPiece / kAlign + 1, nullptr);
    Free* f = new (p) Free{free_[bytes / kAlign]};
    free_[bytes / kAlign] = f;
  }

 private:
  struct Free {
    Free* next;
  };
  static constexpr size_t kBlock = size_t{1} << 20;
  void NewBlock() {
    blocks_.push_back(std::make_unique_for_overwrite<std::byte[]>(kBlock));
    next_ = blocks_.back().get();
    end_ = next_ + kBlock;
  }

  std::vector<std::unique_ptr<std::byte[]>> blocks_;
  std::byte* next_ = nullptr;
  std::byte* end_ = nullptr;
  std::vector<Free*> free_;  // by size / kAlign; empty until the first Release
};

}  // namespace kpipe::agg
