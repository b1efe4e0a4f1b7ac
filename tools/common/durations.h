// Duration flags (--max-delay, --idle, --tumble, --ttl, ...): one parser for
// every tool, with the flag and its value named in the error.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "kpipe/status.h"
#include "kpipe/time/time.h"

namespace kpipe::tools {

enum class DurationIs { kNonNegative, kPositive, kSigned };

// Parses `text` (as ParseDuration) into `*out`; an empty `text` (the flag was
// not given) leaves `*out` as it is.
inline Status DurationFlag(const char* flag, const std::string& text, int64_t* out,
                           DurationIs rule = DurationIs::kNonNegative) {
  if (text.empty()) return Status::OK();
  auto d = ParseDuration(text, /*allow_negative=*/rule == DurationIs::kSigned);
  if (!d.ok()) return Status::Usage(fmt::format("{} {}: {}", flag, text, d.status().message()));
  if (rule == DurationIs::kPositive && *d <= 0) return Status::Usage(fmt::format("{} {}: must be positive", flag, text));
  *out = *d;
  return Status::OK();
}

}  // namespace kpipe::tools
