#include "kpipe/window/assigner.h"

#include <fmt/format.h>

namespace kpipe {

Result<WindowAssigner> WindowAssigner::Tumbling(int64_t size) {
  if (size <= 0) return Status::Usage("the window size must be positive");
  return WindowAssigner(size, size);
}

Result<WindowAssigner> WindowAssigner::Hopping(int64_t size, int64_t slide) {
  if (size <= 0) return Status::Usage("the window size must be positive");
  if (slide <= 0) return Status::Usage("the slide must be positive");
  if (slide > size)
    return Status::Usage(fmt::format(
        "a slide of {} ms is longer than the window ({} ms): records between windows would be dropped",
        slide, size));
  // Each record goes into every window that holds it: a hop much longer
  // than its slide makes one record cost that many windows of state and rows.
  int64_t per_record = WindowsPerRecord(size, slide);
  if (per_record > kMaxWindowsPerRecord)
    return Status::Usage(fmt::format(
        "windows of {} ms every {} ms put each record into {} windows; at most {} are allowed",
        size, slide, per_record, kMaxWindowsPerRecord));
  return WindowAssigner(size, slide);
}

void WindowAssigner::Assign(int64_t t, std::vector<Window>* out) const {
  out->clear();
  // The last start at or before t, then earlier starts while t < start + size.
  int64_t last = FloorDiv(t, slide_) * slide_;
  int64_t first = last;
  while (first - slide_ > t - size_) first -= slide_;
  for (int64_t s = first; s <= last; s += slide_) out->push_back({s, s + size_});
}

}  // namespace kpipe
