// HintDelay: the hints of Operator::Prefetch, held back a few hints, for an
// operator that prefetches in two steps: first the line a hash points at,
// then, once that line has come, what it points to. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kpipe {

template <size_t kDelay>
class HintDelay {
 public:
  struct Hint {
    int input = -1;  // -1: none
    uint64_t hash = 0;
  };
  // Takes the hint of a record of `input`; returns the one taken kDelay
  // calls ago (input -1 in the first kDelay calls).
  Hint Push(int input, uint64_t hash) {
    Hint& slot = ring_[n_++ % kDelay];
    Hint old = slot;
    slot = Hint{input, hash};
    return old;
  }

 private:
  Hint ring_[kDelay];
  size_t n_ = 0;
};

}  // namespace kpipe
