#include "kpipe/io/signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <initializer_list>

namespace kpipe {

SignalWatch::SignalWatch() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

SignalWatch::~SignalWatch() {
  if (fd_ >= 0) ::close(fd_);
}

int SignalWatch::Pending() {
  if (seen_ || fd_ < 0) return seen_;
  struct signalfd_siginfo info;
  if (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
    seen_ = static_cast<int>(info.ssi_signo);
  return seen_;
}

int PendingStopSignal() {
  sigset_t pending;
  if (::sigpending(&pending) == 0) {
    for (int sig : {SIGTERM, SIGINT})
      if (::sigismember(&pending, sig) == 1) return sig;
  }
  return 0;
}

}  // namespace kpipe
