#include "kpipe/cli/exit_codes.h"

#include <csignal>

namespace kpipe {

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
    case Status::Code::kBrokenPipe:
      return kExitOk;
    case Status::Code::kUsage:
      return kExitUsage;
    case Status::Code::kBadInput:
      return kExitDataErr;
    case Status::Code::kHalted:
      return s.exit_code();
    case Status::Code::kInterrupted:
      return s.signal() == SIGTERM ? kExitSigterm : kExitSigint;
    default:
      return kExitFailure;
  }
}

}  // namespace kpipe
