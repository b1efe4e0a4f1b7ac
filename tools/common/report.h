// What every tool's main() does around its run: print --help/--version or a
// usage error after parsing, and turn the run's Status into stderr lines and
// an exit status (kpipe(7), EXIT STATUS). Only tools/ print and exit; the
// library returns Status.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/status.h"
#include "tools/common/service.h"

namespace kpipe::tools {

// Prints what parsing produced. Returns true when the tool should run;
// otherwise stores the exit status in `*exit_code`.
inline bool ShouldRun(const cli::ParseOutcome& parsed, const Diag& diag, int* exit_code) {
  if (parsed.run) return true;
  std::fputs(parsed.out.c_str(), stdout);
  diag.Raw(parsed.err);
  *exit_code = parsed.exit_code;
  return false;
}

// Reports a failed run on stderr ("TOOL: error: ...", plus the --help hint
// for usage errors) and returns the exit status. A broken pipe (`| head`)
// and a signal after a clean shutdown print nothing.
inline int ReportStatus(const Diag& diag, const Status& st) {
  if (st.Is(Status::Code::kHalted)) {  // the program's own words, as they are
    if (!st.message().empty()) diag.Raw(st.message());
    return ExitCodeFor(st);
  }
  if (!st.ok() && !st.Is(Status::Code::kInterrupted) && !st.Is(Status::Code::kBrokenPipe))
    diag.Error(st.message());
  if (st.Is(Status::Code::kUsage))
    diag.Raw(fmt::format("Try '{} --help' for more information.\n", diag.tool()));
  return ExitCodeFor(st);
}

// "1 row", "2 rows": a count and its noun for a summary line.
inline std::string Count(uint64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

// The end of a summary line when late records were dropped (no --late):
// "; N late records dropped (give --late DEST to keep them)", else "".
inline std::string LateDropped(uint64_t late, bool kept) {
  if (kept || late == 0) return "";
  return fmt::format("; {} dropped (give --late DEST to keep them)", Count(late, "late record"));
}

}  // namespace kpipe::tools
