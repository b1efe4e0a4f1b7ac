#include "kpipe/stream/late.h"

#include <fmt/format.h>

namespace kpipe {

void LatePolicy::Note(uint64_t n, const std::string& where, std::string_view t, std::string_view w) {
  if (!kept_ && !warned_ && warn_) {
    warned_ = true;
    warn_(fmt::format("late record at {} (t={}, watermark {}); {} so far, dropped: give --late DEST "
                      "to keep them",
                      where, t, w, n));
  }
  if (max_late_ >= 0 && n > static_cast<uint64_t>(max_late_) && exceeded_.empty())
    exceeded_ = fmt::format("{}: more than {} late records (--max-late {}); the last at t={}, watermark {}",
                            where, max_late_, max_late_, t, w);
}

}  // namespace kpipe
