// HugeAllocator: a std::allocator for the large tables of keys (KeyIndex,
// and kjoin's JoinKeyTable and records).
// An allocation of 2 MiB or more is aligned to 2 MiB and marked for the
// kernel's transparent huge pages (madvise MADV_HUGEPAGE, which systems set
// to "madvise" honour): a table of millions of keys is probed at random, and
// with 4 KiB pages nearly every probe also misses the TLB. Smaller ones come
// from operator new. Stateless; thread-safe as malloc is.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace kpipe::agg {

template <typename T>
struct HugeAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  HugeAllocator() = default;
  template <typename U>
  HugeAllocator(const HugeAllocator<U>&) {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes < kHuge) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    bytes = (bytes + kHuge - 1) / kHuge * kHuge;
    void* p = std::aligned_alloc(kHuge, bytes);
    if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE);  // a hint: without it, plain pages
#endif
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHuge) ::operator delete(p, std::align_val_t{alignof(T)});
    else std::free(p);
  }
  template <typename U>
  bool operator==(const HugeAllocator<U>&) const { return true; }
};

}  // namespace kpipe::agg
