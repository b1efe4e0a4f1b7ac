#include "kpipe/service/monitor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

#include "kpipe/time/time.h"

namespace kpipe::service {

namespace {

constexpr int64_t kStatusEveryMs = 5000;

int64_t MonoMs() { return MonotonicMicros() / 1000; }

// A label value in the text format: backslash, double quote and line feed
// escaped.
void AppendLabelValue(std::string* out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

class Writer {
 public:
  Writer(std::string* out, const std::string& tool,
         const std::vector<std::pair<std::string, std::string>>& labels)
      : out_(out) {
    common_ = "tool=\"";
    AppendLabelValue(&common_, tool);
    common_ += '"';
    for (const auto& [k, v] : labels) {
      common_ += fmt::format(",{}=\"", k);
      AppendLabelValue(&common_, v);
      common_ += '"';
    }
  }
  void Head(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(*out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <typename T>
  void Sample(std::string_view name, T value, std::string_view extra = {}) {
    fmt::format_to(std::back_inserter(*out_), "{}{{{}{}{}}} {}\n", name, common_, extra.empty() ? "" : ",",
                   extra, value);
  }
  template <typename T>
  void One(std::string_view name, std::string_view type, std::string_view help, T value) {
    Head(name, type, help);
    Sample(name, value);
  }

 private:
  std::string* out_;
  std::string common_;
};

bool ValidLabelName(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9') || n.rfind("__", 0) == 0) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

std::string FormatMetrics(const Snapshot& s, const std::string& tool,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          int64_t start_ms, int64_t now_ms) {
  std::string out;
  Writer w(&out, tool, labels);
  w.One("kpipe_records_in_total", "counter", "Records read, bad ones included.", s.records_in);
  w.One("kpipe_records_out_total", "counter", "Records or rows written to the output.", s.records_out);
  w.One("kpipe_records_late_total", "counter", "Records later than the allowed lateness.", s.records_late);
  w.One("kpipe_records_dead_letter_total", "counter", "Bad records sent to the dead-letter destination.",
        s.records_dead_letter);
  w.One("kpipe_bytes_in_total", "counter", "Bytes read: input lines, or Kafka keys and values.", s.bytes_in);
  if (s.watermark_ms != Snapshot::kNone)
    w.One("kpipe_watermark_lag_seconds", "gauge", "Processing time minus the event-time watermark.",
          static_cast<double>(now_ms - s.watermark_ms) / 1000.0);
  if (s.kafka_input) {
    w.Head("kpipe_consumer_lag_records", "gauge",
           "Records between the next offset to read and the end of the partition.");
    for (const PartitionLag& p : s.lag) {
      std::string extra = "topic=\"";
      AppendLabelValue(&extra, p.topic);
      extra += fmt::format("\",partition=\"{}\"", p.partition);
      w.Sample("kpipe_consumer_lag_records", p.records, extra);
    }
  }
  if (s.checkpoints && s.checkpoint_at_ms != Snapshot::kNone) {
    w.One("kpipe_checkpoint_duration_seconds", "gauge", "How long the last checkpoint took.",
          s.checkpoint_seconds);
    w.One("kpipe_checkpoint_age_seconds", "gauge", "Processing time since the last checkpoint ended.",
          static_cast<double>(std::max<int64_t>(now_ms - s.checkpoint_at_ms, 0)) / 1000.0);
  }
  if (s.transactions) {
    w.Head("kpipe_transactions_total", "counter", "Transactions ended, by result.");
    w.Sample("kpipe_transactions_total", s.transactions_committed, "result=\"committed\"");
    w.Sample("kpipe_transactions_total", s.transactions_aborted, "result=\"aborted\"");
  }
  if (s.member) {
    w.One("kpipe_member_partitions", "gauge", "Partitions this member of its consumer group owns.", s.lag.size());
    w.One("kpipe_member_rewinds_total", "counter",
          "Commits the group refused (a rebalance, a zombie), aborted and started over from the last one.",
          s.rewinds);
    w.One("kpipe_restore_records_read", "gauge", "Changelog records read by the restore under way (0: none).",
          s.restoring_read);
    auto per_partition = [&](const char* name, const char* help, auto value) {
      w.Head(name, "gauge", help);
      for (const Snapshot::Restore& r : s.restores) {
        std::string extra = "topic=\"";
        AppendLabelValue(&extra, r.topic);
        extra += fmt::format("\",partition=\"{}\"", r.partition);
        w.Sample(name, value(r), extra);
      }
    };
    per_partition("kpipe_restore_entries", "State entries an owned partition got back from the changelog.",
                  [](const Snapshot::Restore& r) { return r.entries; });
    per_partition("kpipe_restore_seconds", "How long the restore that brought an owned partition took.",
                  [](const Snapshot::Restore& r) { return r.seconds; });
  }
  w.One("kpipe_start_time_seconds", "gauge", "When the process started, in seconds since the epoch.",
        static_cast<double>(start_ms) / 1000.0);
  return out;
}

std::string StatusLine(const Snapshot& s, double in_per_s, int64_t now_ms) {
  std::string line = fmt::format("{} in ({:.0f}/s), {} out", s.records_in, in_per_s, s.records_out);
  if (s.records_late) line += fmt::format(", {} late", s.records_late);
  if (s.records_dead_letter) line += fmt::format(", {} dead-lettered", s.records_dead_letter);
  if (s.kafka_input && s.lag.empty()) {
    line += ", lag unknown";  // no partition assigned or fetched yet
  } else if (s.kafka_input) {
    int64_t lag = 0;
    for (const PartitionLag& p : s.lag) lag += std::max<int64_t>(p.records, 0);
    line += fmt::format(", lag {}", lag);
  }
  if (s.watermark_ms != Snapshot::kNone)
    line += fmt::format(", watermark {:.1f}s behind", static_cast<double>(now_ms - s.watermark_ms) / 1000.0);
  if (s.member) line += fmt::format(", {} partition{} owned", s.lag.size(), s.lag.size() == 1 ? "" : "s");
  if (s.restoring_partitions > 0)
    line = fmt::format("restoring {} partition{}: {} changelog records read; ", s.restoring_partitions,
                       s.restoring_partitions == 1 ? "" : "s", s.restoring_read) + line;
  return line;
}

Result<std::pair<std::string, std::string>> ParseLabel(const std::string& text) {
  size_t eq = text.find('=');
  std::string name = text.substr(0, eq);
  if (eq == std::string::npos || !ValidLabelName(name))
    return Status::Usage(fmt::format("{}: expected NAME=VALUE, NAME of letters, digits and _",
                                     text));
  if (name == "tool" || name == "topic" || name == "partition" || name == "result")
    return Status::Usage(fmt::format("{}: kpipe sets the label {} itself", text, name));
  return std::make_pair(name, text.substr(eq + 1));
}

Monitor::Monitor(MonitorOptions opt) : opt_(std::move(opt)), start_ms_(NowMs()) {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  notify_ = socket && *socket;
  uint64_t usec = 0;
  if (notify_ && sd_watchdog_enabled(/*unset_environment=*/0, &usec) > 0 && usec > 0)
    watchdog_ms_ = std::max<int64_t>(static_cast<int64_t>(usec / 2000), 1);
  auto shorter = [this](int64_t p) { period_ms_ = period_ms_ < 0 ? p : std::min(period_ms_, p); };
  // A loop that looks every half beat is never more than 3/4 of
  // WATCHDOG_USEC late with one.
  if (watchdog_ms_ > 0) shorter(std::max<int64_t>(watchdog_ms_ / 2, 1));
  if (notify_) shorter(kStatusEveryMs);
  if (!opt_.metrics_path.empty()) shorter(opt_.metrics_every_ms);
}

bool Monitor::Due() const { return next_due_ != INT64_MAX && MonoMs() >= next_due_; }

void Monitor::Notify(const std::string& state) {
  if (notify_) sd_notify(/*unset_environment=*/0, state.c_str());
}

void Monitor::Schedule() { next_due_ = std::min({next_watchdog_, next_status_, next_metrics_}); }

Status Monitor::Ready(const Snapshot& s) {
  if (ready_) return Status::OK();
  ready_ = true;
  int64_t mono = MonoMs(), now = NowMs();
  if (!opt_.metrics_path.empty()) {
    KPIPE_RETURN_IF_ERROR(WriteMetrics(s, now));
    next_metrics_ = mono + opt_.metrics_every_ms;
  }
  if (notify_) {
    status_in_ = s.records_in;
    status_at_ = mono;
    Notify("READY=1\nSTATUS=" + StatusLine(s, 0, now));
    next_status_ = mono + kStatusEveryMs;
    if (watchdog_ms_ > 0) {
      Notify("WATCHDOG=1");
      next_watchdog_ = mono + watchdog_ms_;
    }
  }
  Schedule();
  return Status::OK();
}

void Monitor::Tick(const Snapshot& s) {
  if (!ready_ || stopping_) return;
  int64_t mono = MonoMs(), now = NowMs();
  if (mono >= next_watchdog_) {
    Notify("WATCHDOG=1");
    next_watchdog_ = mono + watchdog_ms_;
  }
  if (mono >= next_status_) {
    double secs = static_cast<double>(std::max<int64_t>(mono - status_at_, 1)) / 1000.0;
    double rate = static_cast<double>(s.records_in - std::min(status_in_, s.records_in)) / secs;
    Notify("STATUS=" + StatusLine(s, rate, now));
    status_in_ = s.records_in;
    status_at_ = mono;
    next_status_ = mono + kStatusEveryMs;
  }
  if (mono >= next_metrics_) {
    Status st = WriteMetrics(s, now);
    if (!st.ok() && !metrics_failing_ && opt_.warn) opt_.warn(st.message());
    metrics_failing_ = !st.ok();
    next_metrics_ = mono + opt_.metrics_every_ms;
  }
  Schedule();
}

void Monitor::Stopping() {
  if (stopping_) return;
  stopping_ = true;
  Notify("STOPPING=1\nSTATUS=stopping: final checkpoint and flush");
  next_due_ = INT64_MAX;
}

Status Monitor::Finish(const Snapshot& s, Status run) {
  if (opt_.metrics_path.empty() || !ready_) return run;
  Status st = WriteMetrics(s, NowMs());
  return run.ok() ? st : run;
}

// Written next to FILE and renamed over it, so a reader sees the old file
// or the new one, never a part. Mode 0644 whatever the umask: a service
// with UMask=0077 still lets node_exporter read it.
Status Monitor::WriteMetrics(const Snapshot& s, int64_t now_ms) {
  std::string text = FormatMetrics(s, opt_.tool, opt_.labels, start_ms_, now_ms);
  const std::string& path = opt_.metrics_path;
  std::string tmp = path + ".tmp";
  auto fail = [&](const char* what) {
    Status st = Status::IOError(fmt::format("--metrics {}: {}: {}", path, what, std::strerror(errno)));
    ::unlink(tmp.c_str());
    return st;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(fmt::format("--metrics {}: {}", path, std::strerror(errno)));
  ::fchmod(fd, 0644);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      return fail("write");
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) return fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  return Status::OK();
}

}  // namespace kpipe::service
