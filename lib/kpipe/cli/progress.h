// Progress: a one-line progress display on stderr for bounded work, shown
// only when stderr is a terminal, redrawn at most every 200 ms and cleared
// at the end. Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kpipe::cli {

class Progress {
 public:
  // `total` is the amount of work (bytes or records) or 0 when unknown;
  // `enabled` is false to make every call a no-op.
  Progress(std::string tool, uint64_t total, bool enabled);
  ~Progress() { Clear(); }
  // Cheap enough to call per record: looks at the clock every 4096 calls.
  void Update(uint64_t done, uint64_t records) {
    if (!enabled_ || (++calls_ & 4095) != 0) return;
    Draw(done, records);
  }
  // For callers that call once per block or batch: looks at the clock
  // every time.
  void Show(uint64_t done, uint64_t records) {
    if (enabled_) Draw(done, records);
  }
  void Clear();

  // True when fd 2 is a terminal.
  static bool StderrIsTty();

 private:
  void Draw(uint64_t done, uint64_t records);
  std::string tool_;
  uint64_t total_;
  bool enabled_;
  bool shown_ = false;
  uint64_t calls_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace kpipe::cli
