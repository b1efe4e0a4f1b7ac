// LineReader: splits a file descriptor into lines of any length.
//
// Reads blocks of 1 MiB (growing the buffer for longer lines) and splits them
// with memchr; each returned line stays valid until the next call and is
// followed by at least simdjson::SIMDJSON_PADDING readable bytes, so simdjson
// can parse it in place. A last line without '\n' is still a line.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;

class LineReader {
 public:
  // `name` is how diagnostics name the source ("stdin", a path). The reader
  // does not own `fd`.
  LineReader(int fd, std::string name);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Called before a read that would block, so callers can flush output when
  // the input goes idle (a live tail shows each record at once).
  void set_idle_callback(std::function<Status()> cb) { idle_ = std::move(cb); }
  // Called before the buffer is refilled, which invalidates every line
  // returned so far; callers holding on to lines (a batch) use them here.
  // (With read-ahead, before each block: that block's read may go where
  // earlier lines are.)
  void set_before_refill(std::function<Status()> cb) { before_refill_ = std::move(cb); }
  // While waiting for input, calls `cb` every `period_ms` of quiet (timers
  // of processing time: periodic output, idle partitions).
  void set_tick(int64_t period_ms, std::function<Status()> cb) {
    tick_ms_ = period_ms;
    tick_ = std::move(cb);
  }
  // While waiting for input, also wait on `signals`; a pending SIGINT or
  // SIGTERM makes Next() return Status::Interrupted.
  void set_signal_watch(SignalWatch* signals) { signals_ = signals; }
  // While waiting for input, also watch the descriptor the caller writes
  // to: a pipe whose reader has gone (| head) makes Next() return
  // Status::BrokenPipe then, not at the next write, which on a quiet input
  // may never come.
  void set_output_watch(int fd) { watch_ = fd; }
  // NextBlock() and BufferedBlock() read the next block on a thread of
  // their own while the caller works on the one they returned. Only for a
  // regular file, whose reads never wait for input: the hooks above then
  // have nothing to do but the signals, which NextBlock() still checks
  // before each block.
  // Turned off, it waits for a read in flight (keeping what it read).
  void set_read_ahead(bool on);

  // Stores the next line (without its '\n') in `*line` and returns true, or
  // returns false at end of input or on error (then see status()).
  bool Next(std::string_view* line);
  const Status& status() const { return status_; }

  // Returns every complete line now buffered as one block ending with its
  // '\n' (at the end of input, the rest), reading more when none is
  // complete; false at the end or on an error. The block is followed by at
  // least SIMDJSON_PADDING readable bytes and stays valid until the next
  // call. offset() counts the whole block; line_number() is left to the
  // caller, who splits the block anyway.
  bool NextBlock(std::string_view* block);

  // For a loop over several inputs that must not block on any one of them:
  // Buffered() returns the next line already read (false when more input is
  // needed, or at the end); ReadOnce() makes one read() (call it when poll()
  // says fd() is readable) and returns false at the end of input or on an
  // error (see status()). Lines stay valid until the next ReadOnce().
  bool Buffered(std::string_view* line);
  // As NextBlock, but only what is buffered now: never reads.
  bool BufferedBlock(std::string_view* block);
  bool ReadOnce();
  bool eof() const { return eof_; }
  int fd() const { return fd_; }

  const std::string& name() const { return name_; }
  // 1-based number of the line last returned.
  uint64_t line_number() const { return line_no_; }
  // Bytes consumed up to and including the last returned line.
  uint64_t offset() const { return consumed_; }

 private:
  bool Fill();
  void MakeRoom();
  // The lines buffered now, as NextBlock returns them.
  bool TakeBlock(std::string_view* block);
  // Read-ahead: StartAhead() copies what follows the block just returned
  // (a part of a line) to the front of spare_ and has the thread read after
  // it; Settle() waits for that read and makes spare_ the buffer. False on
  // a read error (status()).
  void StartAhead();
  bool Settle();
  // Runs before_refill_; false (status() says why) when it fails.
  bool BeforeRefill();
  class Ahead;

  int fd_;
  std::string name_;
  std::string buf_;
  size_t begin_ = 0;  // start of unread data in buf_
  size_t end_ = 0;    // end of valid data in buf_
  bool eof_ = false;
  uint64_t line_no_ = 0;
  uint64_t consumed_ = 0;
  Status status_;
  std::function<Status()> idle_;
  std::function<Status()> before_refill_;
  SignalWatch* signals_ = nullptr;
  int watch_ = -1;
  int64_t tick_ms_ = -1;
  std::function<Status()> tick_;
  bool read_ahead_ = false;
  std::unique_ptr<Ahead> ahead_;  // its thread, once a read ahead was asked for
  bool ahead_pending_ = false;    // spare_ is being filled
  std::string spare_;
  size_t spare_tail_ = 0;  // bytes of a line at spare_'s front, before what the thread reads
};

// Opens `path` for reading ("-" is stdin). Returns the fd; the caller closes
// it unless it is 0.
Result<int> OpenInput(const std::string& path);

// Closes, when it goes out of scope, a descriptor of OpenInput or
// OpenOutput unless it is stdin, stdout or stderr.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser();
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

}  // namespace kpipe
