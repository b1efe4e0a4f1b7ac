#include "kpipe/io/file_input.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kpipe/service/monitor.h"

namespace kpipe {

namespace {

// A pipe holds 64 KiB unless asked for more; this asks for `bytes`
// (F_SETPIPE_SZ), as far as /proc/sys/fs/pipe-max-size lets a process that
// is not privileged, and leaves a larger pipe, or a refusal, as it is. Each
// byte counts against the user's pipe budget (kpipe(7), Input).
void GrowPipe(int fd, int bytes) {
  if (::fcntl(fd, F_GETPIPE_SZ) < bytes) (void)::fcntl(fd, F_SETPIPE_SZ, bytes);
}

}  // namespace

Result<std::unique_ptr<FileInput>> FileInput::Open(const std::string& path) {
  auto fd = OpenInput(path);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<FileInput>(new FileInput(*fd, path == "-" ? "stdin" : path));
}

FileInput::~FileInput() {
  reader_.set_read_ahead(false);  // no read left in flight on fd_
  if (fd_ > 2) ::close(fd_);
}

Status FileInput::Start(const InputPosition* at, bool* rewound) {
  struct stat st;
  bool known = ::fstat(fd_, &st) == 0;
  bool regular = known && S_ISREG(st.st_mode);
  *rewound = false;
  if (at && regular) {
    // A checkpoint is made at the start of a line, or at the end of the
    // input, which may have ended in a line without '\n': the '\n' appended
    // since ends that line, already read. Anything else is another file.
    char around[2] = {'\n', '\n'};
    int64_t offset = static_cast<int64_t>(at->offset);
    if (offset > 0 && offset < st.st_size && ::pread(fd_, around, 2, offset - 1) != 2) around[0] = around[1] = 0;
    if (offset > st.st_size || (around[0] != '\n' && around[1] != '\n'))
      return Status::Usage(fmt::format(
          "{}: the checkpoint goes on at byte {}, which is not where a line starts in this file ({} bytes): "
          "it is not the input that was read; give that one, or a new --state directory",
          name_, offset, static_cast<int64_t>(st.st_size)));
    if (around[0] != '\n') offset++;  // past the '\n' of the line read
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0)
      return Status::IOError(fmt::format("{}: seek: {}", name_, std::strerror(errno)));
    base_ = static_cast<uint64_t>(offset);
    *rewound = true;
  }
  if (regular) size_ = st.st_size;
  reader_.set_read_ahead(read_ahead_ && regular);
  // With a parse thread (what read_ahead_ tells), a pipe's blocks are parsed
  // on it when they are large enough (BlockParser::kMinBlock, 128 KiB),
  // which at a pipe's 64 KiB none is. Grown to 1 MiB, `cat | kwindow` of 5M
  // events took 0.62x the time, `kconsume --envelope | kwindow` of 1M
  // records 0.80x.
  if (read_ahead_ && known && S_ISFIFO(st.st_mode)) GrowPipe(fd_, 1 << 20);
  return Status::OK();
}

bool FileInput::TryBlock(std::string_view* block) {
  if (reader_.BufferedBlock(block)) return true;
  if (reader_.eof() || !reader_.status().ok()) {
    done_ = reader_.status().ok();
    return false;
  }
  struct pollfd p = {fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (!reader_.ReadOnce() && !reader_.status().ok()) return false;
  if (reader_.BufferedBlock(block)) return true;
  done_ = reader_.eof();
  return false;
}

bool FileInput::Progress(uint64_t* done, uint64_t* total) const {
  if (size_ < 0) return false;
  *done = reader_.offset();
  *total = static_cast<uint64_t>(std::max<int64_t>(size_ - static_cast<int64_t>(base_), 0));
  return true;
}

void FileInput::AddMetrics(service::Snapshot* s) const { s->bytes_in += reader_.offset(); }

}  // namespace kpipe
