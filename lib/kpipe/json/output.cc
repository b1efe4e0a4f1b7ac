#include "kpipe/json/output.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace kpipe {

Output::Output(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  buf_.reserve(2 * kBlock);
}

Output::Output(BlockWriter writer, std::string name)
    : fd_(-1), writer_(std::move(writer)), name_(std::move(name)) {
  buf_.reserve(2 * kBlock);
}

Status Output::Flush() {
  if (!failed_.ok()) return failed_;
  if (writer_) {
    if (buf_.empty()) return Status::OK();
    failed_ = writer_(buf_);
    if (!failed_.ok()) return failed_;
    written_ += buf_.size();
    buf_.clear();
    return Status::OK();
  }
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = errno == EPIPE
                    ? Status::BrokenPipe()
                    : Status::IOError(fmt::format("{}: write: {}", name_, std::strerror(errno)));
      return failed_;
    }
    off += n;
  }
  written_ += buf_.size();
  buf_.clear();
  return Status::OK();
}

bool ReaderGone(int* fd) {
  if (*fd < 0) return false;
  struct pollfd p = {*fd, 0, 0};
  if (::poll(&p, 1, 0) != 1) return false;
  if (p.revents & POLLNVAL) *fd = -1;
  return p.revents & (POLLERR | POLLHUP);  // a pipe's, a socket's
}

Result<int> OpenOutput(const std::string& path, bool append) {
  if (path == "-") return 1;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  return fd;
}

int64_t RegularFileSize(int fd) {
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
  return st.st_size;
}

Status TruncateTo(int fd, int64_t size, const std::string& name) {
  if (size < 0) return Status::OK();
  // Shorter than at the checkpoint: rows the checkpoint counts as written
  // are gone (the file was cut, removed, or is another one). Growing it
  // back would write zeros where they were.
  int64_t now = RegularFileSize(fd);
  if (now >= 0 && now < size)
    return Status::Usage(fmt::format(
        "{}: {} bytes, where the checkpoint had written {}: the file was cut, removed or replaced since; "
        "put it back, or start over with a new --state directory",
        name, now, size));
  if (::ftruncate(fd, size) != 0)
    return Status::IOError(fmt::format("{}: truncate: {}", name, std::strerror(errno)));
  return Status::OK();
}

void Measure(std::initializer_list<int> fds, std::vector<int64_t>* sizes, std::vector<int>* to_sync) {
  for (int fd : fds) {
    int64_t size = RegularFileSize(fd);
    if (size >= 0) to_sync->push_back(fd);
    sizes->push_back(size);
  }
}

Status SyncAll(const std::vector<int>& fds) {
  for (int fd : fds)
    if (::fdatasync(fd) != 0)
      return Status::IOError(fmt::format("an output file could not be synced to disk ({}): checkpoint not written",
                                         std::strerror(errno)));
  return Status::OK();
}

Status SyncAndMeasure(std::initializer_list<int> fds, std::vector<int64_t>* sizes) {
  std::vector<int> to_sync;
  Measure(fds, sizes, &to_sync);
  return SyncAll(to_sync);
}

}  // namespace kpipe
