#include "kpipe/io/line_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/io/signals.h"

namespace kpipe {

namespace {
constexpr size_t kBlock = 1 << 20;
constexpr size_t kPad = simdjson::SIMDJSON_PADDING;
}  // namespace

LineReader::LineReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  buf_.resize(kBlock + kPad);
}

bool LineReader::Next(std::string_view* line) {
  for (;;) {
    const char* start = buf_.data() + begin_;
    const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    if (nl) {
      size_t len = nl - start;
      *line = std::string_view(start, len);
      begin_ += len + 1;
      consumed_ += len + 1;
      line_no_++;
      return true;
    }
    if (eof_) {
      if (begin_ == end_) return false;
      size_t len = end_ - begin_;
      *line = std::string_view(start, len);
      begin_ = end_;
      consumed_ += len;
      line_no_++;
      return true;
    }
    if (!Fill()) return false;
  }
}

bool LineReader::NextBlock(std::string_view* block) {
  for (;;) {
    if (BufferedBlock(block)) return true;
    if (eof_) return false;
    if (!Fill()) return false;
  }
}

bool LineReader::BufferedBlock(std::string_view* block) {
  const char* start = buf_.data() + begin_;
  size_t avail = end_ - begin_;
  const char* last_nl = static_cast<const char*>(memrchr(start, '\n', avail));
  size_t len = last_nl ? static_cast<size_t>(last_nl - start) + 1 : (eof_ ? avail : 0);
  if (len == 0) return false;
  *block = std::string_view(start, len);
  begin_ += len;
  consumed_ += len;
  return true;
}

bool LineReader::Buffered(std::string_view* line) {
  const char* start = buf_.data() + begin_;
  const char* nl = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
  size_t len;
  if (nl) {
    len = nl - start;
    begin_ += len + 1;
    consumed_ += len + 1;
  } else if (eof_ && begin_ < end_) {
    len = end_ - begin_;
    begin_ = end_;
    consumed_ += len;
  } else {
    return false;
  }
  *line = std::string_view(start, len);
  line_no_++;
  return true;
}

void LineReader::MakeRoom() {
  // Move the partial line to the front, grow when a line fills the buffer.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - kPad - end_ < kBlock / 2) buf_.resize(buf_.size() * 2);
}

bool LineReader::ReadOnce() {
  if (eof_) return false;
  MakeRoom();
  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - kPad - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      status_ = Status::IOError(fmt::format("{}: read: {}", name_, std::strerror(errno)));
      return false;
    }
    if (n == 0) eof_ = true;
    end_ += n;
    std::memset(buf_.data() + end_, 0, kPad);
    return !eof_;
  }
}

bool LineReader::Fill() {
  if (before_refill_) {
    Status s = before_refill_();
    if (!s.ok()) {
      status_ = std::move(s);
      return false;
    }
  }
  MakeRoom();
  size_t room = buf_.size() - kPad - end_;

  if (idle_ || signals_ || tick_) {
    struct pollfd fds[2] = {{fd_, POLLIN, 0}, {signals_ ? signals_->fd() : -1, POLLIN, 0}};
    int n = ::poll(fds, 2, 0);
    if (n == 0 && idle_) {
      Status s = idle_();
      if (!s.ok()) {
        status_ = std::move(s);
        return false;
      }
    }
    if (signals_ || tick_) {
      for (;;) {
        n = ::poll(fds, 2, tick_ ? static_cast<int>(tick_ms_) : -1);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 && tick_) {
          Status s = tick_();
          if (!s.ok()) {
            status_ = std::move(s);
            return false;
          }
          continue;
        }
        break;
      }
      if (signals_ && (fds[1].revents & POLLIN)) {
        if (int sig = signals_->Pending()) {
          status_ = Status::Interrupted(sig);
          return false;
        }
      }
    }
  }

  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      status_ = Status::IOError(fmt::format("{}: read: {}", name_, std::strerror(errno)));
      return false;
    }
    if (n == 0) eof_ = true;
    end_ += n;
    std::memset(buf_.data() + end_, 0, kPad);
    return true;
  }
}

Result<int> OpenInput(const std::string& path) {
  if (path == "-") return 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  return fd;
}

FdCloser::~FdCloser() {
  if (fd_ > 2) ::close(fd_);
}

}  // namespace kpipe
