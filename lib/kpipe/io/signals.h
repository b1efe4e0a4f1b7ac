// SignalWatch: SIGINT and SIGTERM as a pollable file descriptor.
//
// kpipe tools stop cleanly on SIGINT/SIGTERM: stop reading, finish in-flight
// work, flush, commit, then exit 130/143. A signalfd lets the main loop see
// the signal without a global flag. Construct it first thing in main(),
// before any thread exists (librdkafka starts threads), so every thread
// inherits the blocked mask. Also ignores SIGPIPE: a closed stdout shows up as
// EPIPE from write(); and holds the number of a standard descriptor closed at
// start, which reading or writing then still finds closed. Not thread-safe;
// one per process.
#pragma once

namespace kpipe {

// SIGINT or SIGTERM blocked and not yet read (by a SignalWatch): for a
// wait that cannot poll the watch's descriptor. Else 0.
int PendingStopSignal();

class SignalWatch {
 public:
  SignalWatch();
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // The signal number received so far (SIGINT or SIGTERM), else 0. Never
  // blocks; once a signal was seen it keeps being reported.
  int Pending();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int seen_ = 0;
};

}  // namespace kpipe
