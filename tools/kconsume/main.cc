// kconsume: Kafka topics to JSON lines on stdout. See kconsume(1).
#include <charconv>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/cli/progress.h"
#include "kpipe/json/output.h"
#include "kpipe/kafka/consume.h"
#include "kpipe/io/signals.h"
#include "kpipe/time/time.h"
#include "tools/common/kafka_flags.h"
#include "tools/common/report.h"

namespace {

// The flags that the tool turns into typed options (Resolve).
struct Flags {
  std::string offset, from, until, isolation = "read_committed", max_delay, idle, time, time_unit;
  bool count_given = false;  // -c
};

kpipe::Status Resolve(const Flags& f, kpipe::ConsumeOptions* o) {
  using kpipe::ConsumeStart;
  using kpipe::Status;
  if (o->list && !o->lag_group.empty()) return Status::Usage("-L and --lag exclude each other");
  if (o->list || !o->lag_group.empty()) return Status::OK();
  if (o->topics.empty()) return Status::Usage("no topic given");
  if (!f.offset.empty() && !f.from.empty()) return Status::Usage("-o and --from exclude each other");
  if (o->exit_at_end && !f.until.empty())
    return Status::Usage("-e and --until exclude each other (-e is --until end)");
  if (f.isolation != "read_committed" && f.isolation != "read_uncommitted")
    return Status::Usage("--isolation: expected read_committed or read_uncommitted");
  o->read_committed = f.isolation == "read_committed";
  if (f.count_given && o->count < 1) return Status::Usage(fmt::format("-c {}: expected a positive count", o->count));
  int64_t now = kpipe::NowMs();
  const std::string& s = f.offset;
  if (!f.from.empty()) {
    auto t = kpipe::ParseTimePoint(f.from, now);
    if (!t.ok()) return Status::Usage("--from: " + t.status().message());
    o->start = {ConsumeStart::kTime, *t};
  } else if (s.empty()) {
    o->start = {ConsumeStart::kDefault, 0};
  } else if (s == "beginning" || s == "end") {
    o->start = {s == "end" ? ConsumeStart::kEnd : ConsumeStart::kBeginning, 0};
  } else if (s == "stored") {
    if (o->group.empty()) return Status::Usage("-o stored needs a consumer group (-G)");
    o->start = {ConsumeStart::kStored, 0};
  } else if (s[0] == '@') {
    auto t = kpipe::ParseTimePoint(s.substr(1), now);
    if (!t.ok()) return Status::Usage("-o " + t.status().message());
    o->start = {ConsumeStart::kTime, *t};
  } else {
    int64_t v;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size())
      return Status::Usage(fmt::format("-o {}: expected beginning, end, stored, N, -N or @TIME", s));
    o->start = v < 0 ? ConsumeStart{ConsumeStart::kTail, -v} : ConsumeStart{ConsumeStart::kOffset, v};
  }
  if (f.until == "end") {
    o->exit_at_end = true;
  } else if (!f.until.empty()) {
    auto t = kpipe::ParseTimePoint(f.until, now);
    if (!t.ok()) return Status::Usage("--until: " + t.status().message());
    o->until_ms = *t;
  }
  if (!o->format.empty() && o->envelope) return Status::Usage("--format and --envelope exclude each other");
  if (!o->watermarks) {
    if (!f.max_delay.empty() || !f.idle.empty() || !f.time.empty() || !f.time_unit.empty())
      return Status::Usage("--max-delay, --idle, --time and --time-unit need --watermarks");
    return Status::OK();
  }
  auto d = kpipe::ParseDuration(f.max_delay.empty() ? "0ms" : f.max_delay);
  if (!d.ok()) return Status::Usage("--max-delay: " + d.status().message());
  o->max_delay_ms = *d;
  if (!f.time_unit.empty()) {
    auto u = kpipe::ParseTimeUnit(f.time_unit);
    if (!u.ok()) return Status::Usage("--time-unit " + u.status().message());
    o->time_unit = *u;
  }
  if (!f.idle.empty()) {
    auto i = kpipe::ParseDuration(f.idle);
    if (!i.ok()) return Status::Usage("--idle: " + i.status().message());
    o->idle_ms = *i;
  }
  if (!f.time.empty()) {
    auto p = kpipe::json::FieldPath::Parse(f.time);
    if (!p.ok()) return p.status();
    o->time_path = std::move(*p);
  }
  if (o->no_control) return Status::Usage("--watermarks writes control records, which --no-control leaves out");
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;  // first: librdkafka's threads inherit the mask
  kpipe::ConsumeOptions opt;
  Flags f;
  bool quiet = false;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kconsume", "[OPTIONS] TOPIC[:PARTITIONS]...",
                          "Write the messages of Kafka topics as JSON lines on stdout.");
  cmd.Option({"-o,--offset", "OFFSET",
              "Start at beginning (default), end, stored, N, -N (N before end) or @TIME"},
             &f.offset);
  cmd.Option({"--from", "TIME", "Start at the first message at or after TIME"}, &f.from);
  cmd.Option({"--until", "TIME", "Stop before the first message at or after TIME, or at end"},
             &f.until);
  cmd.Switch({"-e,--exit", "", "Exit at the end offsets recorded at start"}, &opt.exit_at_end);
  cmd.Option({"-c,--count", "N", "Exit after N messages"}, &opt.count);
  cmd.Option({"-G,--group", "ID", "Consume as group ID and commit what was written"}, &opt.group);
  cmd.Option({"--isolation", "LEVEL", "read_committed (default) or read_uncommitted",
              Complete::kChoices, {"read_committed", "read_uncommitted"}},
             &f.isolation);
  cmd.Switch({"--envelope", "", "Write the envelope: topic, partition, offset, key, headers, value"},
             &opt.envelope);
  cmd.Option({"-f,--format", "FORMAT", "Write each message with a kcat-style format (%t %p %o %k %s %T %h)"},
             &opt.format);
  cmd.Option({"-L,--list", "TOPIC", "List topics and partitions with offsets as JSON lines", Complete::kNone,
              {}, /*optional_value=*/true},
             static_cast<std::string*>(nullptr));
  cmd.Option({"--lag", "GROUP", "List committed offset, end offset and lag of GROUP"}, &opt.lag_group);
  cmd.Switch({"--watermarks", "", "Emit watermark control records (and end with -e)"}, &opt.watermarks);
  cmd.Option({"--max-delay", "DURATION", "With --watermarks: allowed disorder of event times"},
             &f.max_delay);
  cmd.Option({"--idle", "DURATION", "With --watermarks: leave out partitions idle this long"}, &f.idle);
  cmd.Option({"--time", "PATH", "With --watermarks: event time field (default: message timestamp)"},
             &f.time);
  cmd.Option({"--time-unit", "UNIT", "With --time: unit of numeric times (s, ms, us, ns; default ms)",
              Complete::kChoices, {"s", "ms", "us", "ns"}},
             &f.time_unit);
  cmd.Switch({"--no-control", "", "Write no control records (with --envelope: no partitions records)"},
             &opt.no_control);
  kpipe::tools::AddKafkaFlags(&cmd, &opt.kafka);
  kpipe::tools::AddRegistryFlags(&cmd, &opt.kafka);
  kpipe::tools::ServiceFlags service;
  kpipe::tools::AddServiceFlags(&cmd, &service);
  cmd.Switch({"-q,--quiet", "", "Do not print the summary line at exit"}, &quiet);
  cmd.Positional("TOPIC", "Topics to read, optionally with partitions (orders:0,2)", &opt.topics,
                 Complete::kNone);

  kpipe::tools::Diag diag("kconsume");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  if (cmd.Given("--list")) {
    opt.list = true;
    std::string t = cmd.Value("--list");
    if (!t.empty()) opt.topics.insert(opt.topics.begin(), t);
  }

  kpipe::Output out(1, "stdout");
  kpipe::ConsumeStats stats;
  opt.progress = kpipe::cli::Progress::StderrIsTty();
  f.count_given = cmd.Given("--count");
  kpipe::Status st = Resolve(f, &opt);
  auto monitor = kpipe::tools::OpenMonitor(service, diag);
  if (st.ok()) st = monitor.status();
  if (st.ok()) {
    if (!opt.list && opt.lag_group.empty()) opt.monitor = monitor->get();
    st = kpipe::RunConsume(opt, &signals, diag.line(), &out, &stats);
  }
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  bool ran = st.ok() || st.Is(kpipe::Status::Code::kInterrupted) || stats.partitions > 0;
  if (!quiet && !opt.list && opt.lag_group.empty() && ran)
    diag.Line(fmt::format("{} ({}) from {}", kpipe::tools::Count(stats.messages, "message"),
                          kpipe::tools::Count(stats.bytes, "byte"), kpipe::tools::Count(stats.partitions, "partition")));
  return exit_code;
}
