#include "kpipe/cli/progress.h"

#include <unistd.h>

#include <fmt/format.h>

namespace kpipe::cli {

Progress::Progress(std::string tool, uint64_t total, bool enabled)
    : tool_(std::move(tool)), total_(total), enabled_(enabled),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

bool Progress::StderrIsTty() { return ::isatty(2) == 1; }

void Progress::Draw(uint64_t done, uint64_t records) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::string line = total_ ? fmt::format("{}: {:3.0f}% {} records, {:.0f}/s", tool_,
                                          100.0 * done / total_, records, records / secs)
                            : fmt::format("{}: {} records, {:.0f}/s", tool_, records, records / secs);
  line = "\r\033[K" + line;
  (void)!::write(2, line.data(), line.size());
  shown_ = true;
}

void Progress::Clear() {
  if (!shown_) return;
  (void)!::write(2, "\r\033[K", 4);
  shown_ = false;
}

}  // namespace kpipe::cli
