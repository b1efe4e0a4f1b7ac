// What every tool shares to run as a service (kpipe(7), RUNNING AS A
// SERVICE, METRICS): the --metrics flags, the Monitor they configure along
// with systemd's notify socket, and diagnostics that carry journald
// priorities when stderr is the journal.
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "kpipe/cli/flags.h"
#include "kpipe/cli/progress.h"
#include "kpipe/service/monitor.h"
#include "kpipe/status.h"
#include "kpipe/time/time.h"
#include "tools/common/durations.h"

namespace kpipe::tools {

// Diagnostics on stderr, one line each: "TOOL: error: …", "TOOL: warning: …",
// "TOOL: …". When stderr is the journal (JOURNAL_STREAM names its device
// and inode, systemd.exec(5)), each line starts with its sd-daemon(3)
// priority: <3> error, <4> warning, <6> anything else.
class Diag {
 public:
  explicit Diag(const char* tool) : tool_(tool), journal_(StderrIsJournal()) {}

  const char* tool() const { return tool_; }
  void Error(std::string_view msg) const { Line(fmt::format("error: {}", msg)); }
  void Warning(std::string_view msg) const { Line(fmt::format("warning: {}", msg)); }
  // A message of its own kind: "error: …" and "warning: …" keep theirs,
  // anything else is information. Each of several lines gets the prefix.
  void Line(std::string_view msg) const {
    const char* prio = msg.rfind("error: ", 0) == 0 ? "<3>" : msg.rfind("warning: ", 0) == 0 ? "<4>" : "<6>";
    std::string out;
    size_t pos = 0;
    do {
      size_t nl = msg.find('\n', pos);
      std::string_view part = msg.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
      fmt::format_to(std::back_inserter(out), "{}{}: {}\n", journal_ ? prio : "", tool_, part);
      pos = nl == std::string_view::npos ? msg.size() + 1 : nl + 1;
    } while (pos <= msg.size());
    std::fputs(out.c_str(), stderr);
  }
  // Text made elsewhere (usage errors): each line prefixed as an error.
  void Raw(std::string_view text) const {
    if (!journal_) {
      std::fwrite(text.data(), 1, text.size(), stderr);
      return;
    }
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
      fmt::print(stderr, "<3>{}", text.substr(pos, end - pos));
      pos = end;
    }
  }
  // For the library's callbacks: warnings, and lines of their own kind
  // (Line(): -v notes, kproduce's and kconsume's diagnostics).
  std::function<void(const std::string&)> warn() const {
    return [this](const std::string& m) { Warning(m); };
  }
  std::function<void(const std::string&)> line() const {
    return [this](const std::string& m) { Line(m); };
  }

  // JOURNAL_STREAM is "DEVICE:INODE" of the journal's stream socket; it is
  // inherited by children, so it counts only when stderr is that socket.
  static bool StderrIsJournal() {
    const char* js = std::getenv("JOURNAL_STREAM");
    struct stat st;
    if (!js || ::fstat(2, &st) != 0) return false;
    unsigned long long dev = 0, ino = 0;
    if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
    return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
  }

 private:
  const char* tool_;
  bool journal_;
};

struct ServiceFlags {
  std::string metrics, metrics_every;
  std::vector<std::string> labels;
};

inline void AddServiceFlags(cli::Command* cmd, ServiceFlags* f) {
  cmd->Option({"--metrics", "FILE", "Write Prometheus metrics to FILE (atomically) periodically and at exit",
               cli::Complete::kFile},
              &f->metrics);
  cmd->Option({"--metrics-every", "DUR", "With --metrics: rewrite FILE this often (default 10s)"},
              &f->metrics_every);
  cmd->Repeated({"--metrics-label", "NAME=VALUE", "With --metrics: add a label to every metric (repeatable)"},
                &f->labels);
}

// The Monitor for systemd's notify socket and --metrics; null when neither
// is there (nothing to do).
inline Result<std::unique_ptr<service::Monitor>> OpenMonitor(const ServiceFlags& f, const Diag& diag) {
  service::MonitorOptions m;
  m.tool = diag.tool();
  m.metrics_path = f.metrics;
  m.warn = diag.warn();
  if (f.metrics.empty() && (!f.metrics_every.empty() || !f.labels.empty()))
    return Status::Usage("--metrics-every and --metrics-label need --metrics FILE");
  KPIPE_RETURN_IF_ERROR(DurationFlag("--metrics-every", f.metrics_every, &m.metrics_every_ms, DurationIs::kPositive));
  for (const std::string& l : f.labels) {
    auto label = service::ParseLabel(l);
    if (!label.ok()) return Status::Usage("--metrics-label " + label.status().message());
    m.labels.push_back(std::move(*label));
  }
  auto monitor = std::make_unique<service::Monitor>(std::move(m));
  if (!monitor->active()) return std::unique_ptr<service::Monitor>();
  return monitor;
}

// What kwindow, kagg and kjoin hand their runner alike: the diagnostics
// (-v notes when `verbose`), the Monitor (kept alive by the caller for the
// run) and progress on a terminal.
template <typename RunOptions>
Result<std::unique_ptr<service::Monitor>> AttachService(const ServiceFlags& f, const Diag& diag, bool verbose,
                                                        RunOptions* o) {
  o->warn = diag.warn();
  if (verbose) o->info = diag.line();
  auto monitor = OpenMonitor(f, diag);
  if (!monitor.ok()) return monitor.status();
  o->monitor = monitor->get();
  o->progress = cli::Progress::StderrIsTty();
  return monitor;
}

}  // namespace kpipe::tools
