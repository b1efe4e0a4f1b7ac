#include "kpipe/io/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <initializer_list>

namespace kpipe {

SignalWatch::SignalWatch() {
  // Standard input, output or error closed at start (`tool <&-`): its number
  // is held by /dev/null opened the other way, so that reading or writing it
  // still fails as on a closed descriptor, and the signal descriptor made
  // below does not take the number and get read as the input.
  for (int fd = 0; fd <= 2; fd++) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int held = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (held >= 0 && held != fd) {
      ::dup2(held, fd);
      ::close(held);
    }
  }
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
