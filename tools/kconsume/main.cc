// kconsume: Kafka topics to JSON lines on stdout. See kconsume(1).
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/cli/progress.h"
#include "kpipe/json/output.h"
#include "kpipe/kafka/consume.h"
#include "kpipe/io/signals.h"
#include "tools/common/kafka_flags.h"
#include "tools/common/report.h"

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;  // first: librdkafka's threads inherit the mask
  kpipe::ConsumeOptions opt;
  bool quiet = false;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kconsume", "[OPTIONS] TOPIC[:PARTITIONS]...",
                          "Write the messages of Kafka topics as JSON lines on stdout.");
  cmd.Option({"-o,--offset", "OFFSET",
              "Start at beginning (default), end, stored, N, -N (N before end) or @TIME"},
             &opt.offset);
  cmd.Option({"--from", "TIME", "Start at the first message at or after TIME"}, &opt.from);
  cmd.Option({"--until", "TIME", "Stop before the first message at or after TIME, or at end"},
             &opt.until);
  cmd.Switch({"-e,--exit", "", "Exit at the end offsets recorded at start"}, &opt.exit_at_end);
  cmd.Option({"-c,--count", "N", "Exit after N messages"}, &opt.count);
  cmd.Option({"-G,--group", "ID", "Consume as group ID and commit what was written"}, &opt.group);
  cmd.Option({"--isolation", "LEVEL", "read_committed (default) or read_uncommitted",
              Complete::kChoices, {"read_committed", "read_uncommitted"}},
             &opt.isolation);
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
             &opt.max_delay);
  cmd.Option({"--idle", "DURATION", "With --watermarks: leave out partitions idle this long"}, &opt.idle);
  cmd.Option({"--time", "PATH", "With --watermarks: event time field (default: message timestamp)"},
             &opt.time_path);
  cmd.Option({"--time-unit", "UNIT", "With --time: unit of numeric times (s, ms, us, ns; default ms)",
              Complete::kChoices, {"s", "ms", "us", "ns"}},
             &opt.time_unit);
  cmd.Switch({"--no-control", "", "Write no control records (with --envelope: no partitions records)"},
             &opt.no_control);
  kpipe::tools::AddKafkaFlags(&cmd, &opt.kafka);
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
  auto monitor = kpipe::tools::OpenMonitor(service, diag);
  kpipe::Status st = monitor.status();
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
