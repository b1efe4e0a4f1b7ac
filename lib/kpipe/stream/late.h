// What a tool does with a late record besides --late DEST (kpipe(7),
// LATENESS): never drops one without a word, and stops after --max-late.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "kpipe/status.h"

namespace kpipe {

class LatePolicy {
 public:
  // `kept`: --late DEST was given. `max_late` < 0: no limit. `warn` (may
  // be empty) gets the one warning about records dropped.
  LatePolicy(bool kept, int64_t max_late, std::function<void(const std::string&)> warn)
      : kept_(kept), max_late_(max_late), warn_(std::move(warn)) {}

  // Whether Note() has anything left to do (so that a caller can skip
  // formatting the times).
  bool watching() const { return (!kept_ && !warned_) || max_late_ >= 0; }
  // The `n`th late record (counting those of earlier runs restored from a
  // checkpoint), at `where` (SOURCE:LINE), of event time `t` against
  // watermark `w` (as they are written in late rows).
  void Note(uint64_t n, const std::string& where, std::string_view t, std::string_view w);
  // More than --max-late late records: the tool stops once the block of
  // input it is in is handled (so that a checkpoint holds all of it).
  bool exceeded() const { return !exceeded_.empty(); }
  // BadInput naming the limit and the last record over it.
  Status Exceeded() const { return Status::BadInput(exceeded_); }

 private:
  bool kept_;
  int64_t max_late_;
  std::function<void(const std::string&)> warn_;
  bool warned_ = false;
  std::string exceeded_;
};

}  // namespace kpipe
