// Window assigners of kpipe(7), EVENT TIME: half-open [start, end) windows in
// epoch milliseconds, aligned to the epoch, floor division for negative
// times. Session windows depend on the other records of their key and are
// merged by the window operator, not assigned here.
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <vector>

#include "kpipe/status.h"
#include "kpipe/time/time.h"

namespace kpipe {

struct Window {
  int64_t start;
  int64_t end;
  bool operator==(const Window& o) const { return start == o.start && end == o.end; }
  bool operator<(const Window& o) const {
    return end != o.end ? end < o.end : start < o.start;  // order of output (§6)
  }
};

class WindowAssigner {
 public:
  // Tumbling windows of `size` ms: start = floor(t/size)*size.
  static Result<WindowAssigner> Tumbling(int64_t size);
  // Hopping windows of `size` ms every `slide` ms: every start k*slide with
  // start <= t < start + size. `size` need not be a multiple of `slide`.
  // A usage error when a record would fall into more than
  // kMaxWindowsPerRecord windows (kwindow(1), --slide).
  static Result<WindowAssigner> Hopping(int64_t size, int64_t slide);
  static constexpr int64_t kMaxWindowsPerRecord = 10'000;
  // How many hopping windows of `size` every `slide` (> 0) hold each record.
  static int64_t WindowsPerRecord(int64_t size, int64_t slide) { return size / slide + (size % slide != 0); }

  // Replaces `out` with the windows containing `t`, in increasing start order.
  void Assign(int64_t t, std::vector<Window>* out) const;
  int64_t size() const { return size_; }
  int64_t slide() const { return slide_; }

 private:
  WindowAssigner(int64_t size, int64_t slide) : size_(size), slide_(slide) {}
  int64_t size_;
  int64_t slide_;
};

}  // namespace kpipe
