#include "kpipe/io/line_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/io/signals.h"

namespace kpipe {

namespace {
constexpr size_t kBlock = 1 << 20;
constexpr size_t kPad = simdjson::SIMDJSON_PADDING;
}  // namespace

// The thread of set_read_ahead(): one read() at a time, asked for by Start
// and waited for by Wait.
class LineReader::Ahead {
 public:
  explicit Ahead(int fd) : fd_(fd), thread_([this] { Run(); }) {}
  ~Ahead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Start(char* dst, size_t room) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      dst_ = dst;
      room_ = room;
      want_ = true;
      done_ = false;
    }
    cv_.notify_all();
  }
  // What read() returned, and its errno.
  ssize_t Wait(int* err) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    *err = err_;
    return n_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return want_ || quit_; });
      if (quit_) return;
      want_ = false;
      char* dst = dst_;
      size_t room = room_;
      lock.unlock();
      ssize_t n;
      do n = ::read(fd_, dst, room);
      while (n < 0 && errno == EINTR);
      int err = n < 0 ? errno : 0;
      lock.lock();
      n_ = n;
      err_ = err;
      done_ = true;
      cv_.notify_all();
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool want_ = false, done_ = false, quit_ = false;  // guarded by mu_
  char* dst_ = nullptr;
  size_t room_ = 0;
  ssize_t n_ = 0;
  int err_ = 0;
  std::thread thread_;  // last: it starts once the rest is made
};

LineReader::LineReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  buf_.resize(kBlock + kPad);
}

// The thread goes first: a read in flight writes into spare_, and reads the
// caller's descriptor.
LineReader::~LineReader() { ahead_.reset(); }

void LineReader::set_read_ahead(bool on) {
  read_ahead_ = on;
  if (on) return;
  if (ahead_pending_) Settle();  // (a read error stays in status())
  ahead_.reset();
}

bool LineReader::Next(std::string_view* line) {
  if (ahead_pending_ && !Settle()) return false;
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
  // With read-ahead, this call's read goes where the lines before the last
  // block are: the caller is told first, as Fill() does.
  if (read_ahead_ && !BeforeRefill()) return false;
  if (ahead_pending_) {
    if (!Settle()) return false;
    // As Fill() does before a read.
    if (signals_) {
      struct pollfd p = {signals_->fd(), POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        if (int sig = signals_->Pending()) {
          status_ = Status::Interrupted(sig);
          return false;
        }
      }
    }
  }
  for (;;) {
    if (TakeBlock(block)) {
      if (read_ahead_ && !eof_) StartAhead();
      return true;
    }
    if (eof_) return false;
    if (!Fill()) return false;
  }
}

void LineReader::StartAhead() {
  size_t tail = end_ - begin_;
  if (tail > buf_.size() / 4) return;  // a long line coming: read in place, growing the buffer
  if (spare_.size() != buf_.size()) spare_.resize(buf_.size());
  std::memcpy(spare_.data(), buf_.data() + begin_, tail);
  spare_tail_ = tail;
  if (!ahead_) ahead_ = std::make_unique<Ahead>(fd_);
  ahead_->Start(spare_.data() + tail, spare_.size() - kPad - tail);
  ahead_pending_ = true;
}

bool LineReader::Settle() {
  ahead_pending_ = false;
  int err = 0;
  ssize_t n = ahead_->Wait(&err);
  // The lines returned so far stay where they are, in what is now spare_.
  buf_.swap(spare_);
  begin_ = 0;
  end_ = spare_tail_;
  if (n < 0) {
    status_ = Status::IOError(fmt::format("{}: read: {}", name_, std::strerror(err)));
    return false;
  }
  if (n == 0) eof_ = true;
  end_ += static_cast<size_t>(n);
  std::memset(buf_.data() + end_, 0, kPad);
  return true;
}

bool LineReader::BeforeRefill() {
  if (!before_refill_) return true;
  Status s = before_refill_();
  if (s.ok()) return true;
  status_ = std::move(s);
  return false;
}

bool LineReader::BufferedBlock(std::string_view* block) {
  if (read_ahead_ && !BeforeRefill()) return false;
  if (ahead_pending_ && !Settle()) return false;
  if (!TakeBlock(block)) return false;
  if (read_ahead_ && !eof_) StartAhead();
  return true;
}

bool LineReader::TakeBlock(std::string_view* block) {
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
  if (ahead_pending_ && !Settle()) return false;
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
  if (ahead_pending_ && !Settle()) return false;
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
  if (!BeforeRefill()) return false;
  MakeRoom();
  size_t room = buf_.size() - kPad - end_;

  if (idle_ || signals_ || tick_ || watch_ >= 0) {
    // (A pipe's writing end reports POLLERR once its reader has closed it,
    // a socket POLLHUP; a descriptor that is no longer open, POLLNVAL, is
    // watched no more.)
    struct pollfd fds[3] = {{fd_, POLLIN, 0}, {signals_ ? signals_->fd() : -1, POLLIN, 0}, {watch_, 0, 0}};
    auto gone = [&] {
      if (fds[2].revents & POLLNVAL) watch_ = fds[2].fd = -1;
      if (!(fds[2].revents & (POLLERR | POLLHUP))) return false;
      status_ = Status::BrokenPipe();
      return true;
    };
    int n = ::poll(fds, 3, 0);
    if (gone()) return false;
    if (n > 0 && fds[2].revents && !fds[0].revents && !fds[1].revents) n = 0;  // the watch, not watched now
    if (n == 0 && idle_) {
      Status s = idle_();
      if (!s.ok()) {
        status_ = std::move(s);
        return false;
      }
    }
    if (signals_ || tick_ || watch_ >= 0) {
      for (;;) {
        n = ::poll(fds, 3, tick_ ? static_cast<int>(tick_ms_) : -1);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0 && gone()) return false;
        if (n > 0 && !fds[0].revents && !fds[1].revents) continue;  // the watch closed: wait on
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
      if (gone()) return false;
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

namespace {

// A FIFO's open() waits for a writer, deaf to SIGINT and SIGTERM (the tools
// block them in every thread). It runs on a thread of its own while this
// one watches for them; interrupted, that thread is left waiting, as the
// process is about to end. (A poll cannot tell a FIFO without a writer from
// one whose writer has not written yet.)
Result<int> OpenFifo(const std::string& path) {
  auto opened = std::make_shared<std::promise<int>>();
  std::future<int> fd = opened->get_future();
  std::thread([opened, path] {
    int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    opened->set_value(f < 0 ? -errno : f);
  }).detach();
  while (fd.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
    if (int sig = PendingStopSignal()) return Status::Interrupted(sig);
  int f = fd.get();
  if (f < 0) return Status::IOError(fmt::format("{}: {}", path, std::strerror(-f)));
  return f;
}

}  // namespace

Result<int> OpenInput(const std::string& path) {
  if (path == "-") return 0;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) return OpenFifo(path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError(fmt::format("{}: {}", path, std::strerror(errno)));
  return fd;
}

FdCloser::~FdCloser() {
  if (fd_ > 2) ::close(fd_);
}

}  // namespace kpipe
