// Exit statuses shared by every kpipe tool (see kpipe(7), EXIT STATUS).
#pragma once

#include "kpipe/status.h"

namespace kpipe {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // runtime failure: broker, I/O, delivery
inline constexpr int kExitUsage = 2;     // bad flags or arguments
inline constexpr int kExitDataErr = 65;  // bad input data (sysexits EX_DATAERR)
inline constexpr int kExitSigint = 130;
inline constexpr int kExitSigterm = 143;

// The exit status for the Status a tool's run ended with. A broken pipe is a
// success: the reader (`| head`) took what it wanted.
int ExitCodeFor(const Status& s);

}  // namespace kpipe
