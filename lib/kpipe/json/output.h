// Output: a buffered writer to a file descriptor.
//
// Records are appended to one growing buffer and written with one write()
// per block (64 KiB) for throughput; callers Flush() when their input goes
// idle so a live pipe shows each record promptly. EPIPE becomes
// Status::BrokenPipe() so a tool piped into `head` ends quietly.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>
#include <string_view>

#include "kpipe/status.h"

namespace kpipe {

// Whether `*fd`, a descriptor written to, is a pipe or socket whose reader
// has gone (POLLERR, POLLHUP). One no longer open is set to -1: watched no
// more.
bool ReaderGone(int* fd);

class Output {
 public:
  // Does not own `fd`. `name` names the destination in errors.
  Output(int fd, std::string name);
  // Hands each flushed block (whole lines) to `writer` instead of a file
  // descriptor: a Kafka destination produces one message per line.
  using BlockWriter = std::function<Status(std::string_view block)>;
  Output(BlockWriter writer, std::string name);
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // The buffer to append one record to; call Commit() after each record.
  std::string* buffer() { return &buf_; }
  // Writes the buffer out when it has grown past the block size.
  Status Commit() { return buf_.size() >= kBlock ? Flush() : Status::OK(); }
  Status Write(std::string_view s) {
    buf_.append(s);
    return Commit();
  }
  // Writes everything buffered.
  Status Flush();
  bool empty() const { return buf_.empty(); }
  // True when the destination is a pipe whose reader has gone away, so an
  // idle tool can end now instead of at its next write.
  bool ReaderGone() const {
    int fd = fd_;
    return ::kpipe::ReaderGone(&fd);
  }
  // The descriptor written to; -1 for a Kafka writer.
  int fd() const { return fd_; }
  uint64_t bytes_written() const { return written_; }

  static constexpr size_t kBlock = 64 * 1024;

 private:
  int fd_;
  BlockWriter writer_;
  std::string name_;
  std::string buf_;
  uint64_t written_ = 0;
  Status failed_;
};

// Opens `path` for writing (truncating; "-" is stdout, fd 1).
Result<int> OpenOutput(const std::string& path, bool append = false);

// The size of the regular file open as `fd`, or -1 (none, or not a regular
// file): what a checkpoint records of each output.
int64_t RegularFileSize(int fd);
// Cuts the file back to `size` (a checkpoint's record); nothing when < 0.
// Usage when the file is shorter than `size`: it is not what was written.
Status TruncateTo(int fd, int64_t size, const std::string& name);
// For a checkpoint: syncs each regular file among `fds` to disk and appends
// their sizes (RegularFileSize) to `sizes`. IOError when a sync fails (a
// full disk, EIO): the checkpoint must not be written then.
Status SyncAndMeasure(std::initializer_list<int> fds, std::vector<int64_t>* sizes);
// The same in two steps: the sizes now, and the descriptors of the regular
// files to sync later (SyncAll, by a checkpoint written behind).
void Measure(std::initializer_list<int> fds, std::vector<int64_t>* sizes, std::vector<int>* to_sync);
Status SyncAll(const std::vector<int>& fds);

}  // namespace kpipe
