// kagg: running group-by aggregation of JSON lines, without windows. See kagg(1).
#include <string>

#include "kpipe/agg/group.h"
#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/stream/runner.h"
#include "kpipe/io/signals.h"
#include "tools/common/event_flags.h"
#include "tools/common/members.h"
#include "tools/common/report.h"

namespace {

// SIZE: bytes, or with K, M or G (powers of 1024).
kpipe::Status ParseSize(const std::string& text, int64_t* out) {
  size_t end = 0;
  int64_t n = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9' && n < (int64_t{1} << 50))
    n = n * 10 + (text[end++] - '0');
  std::string unit = text.substr(end);
  int shift = unit.empty() ? 0 : unit == "K" || unit == "k" ? 10 : unit == "M" || unit == "m" ? 20
            : unit == "G" || unit == "g" ? 30 : -1;
  if (end == 0 || shift < 0 || n <= 0)
    return kpipe::Status::Usage(fmt::format("--memory-budget {}: expected a size like 512K, 64M or 2G", text));
  *out = n << shift;
  return kpipe::Status::OK();
}

kpipe::Status Run(const kpipe::tools::EventFlags& f, const std::string& ttl, const std::string& budget,
                  const kpipe::tools::Diag& diag, kpipe::SignalWatch* signals, kpipe::RunStats* stats) {
  using kpipe::Status;
  kpipe::RunnerOptions r;
  kpipe::GroupOptions g;
  KPIPE_RETURN_IF_ERROR(kpipe::tools::Resolve(f, &r, &g.emit));
  KPIPE_RETURN_IF_ERROR(kpipe::tools::ResolveKafkaIo(f.kio, "kagg", &r, /*can_scale=*/true));
  r.inputs[0].time_required = false;
  if (!budget.empty()) {
    if (!ttl.empty()) return Status::Usage("--memory-budget and --ttl cannot be combined in this release");
    if (f.state.empty()) return Status::Usage("--memory-budget needs --state DIR (where the rest of the keys live)");
    if (r.members)
      return Status::Usage("--memory-budget is for a single process (-G with --state, no --instance); a member "
                           "keeps its keys in memory");
    KPIPE_RETURN_IF_ERROR(ParseSize(budget, &r.memory_budget));
  }
  if (!ttl.empty()) {
    KPIPE_RETURN_IF_ERROR(kpipe::tools::DurationFlag("--ttl", ttl, &g.ttl, kpipe::tools::DurationIs::kPositive));
    r.inputs[0].time_required = true;  // the watermark needs event time
  }
  auto by = kpipe::tools::ParseByFlags(f.by);
  if (!by.ok()) return by.status();
  auto specs = kpipe::tools::ParseAggFlags(f.aggs);
  if (!specs.ok()) return specs.status();
  KPIPE_RETURN_IF_ERROR(kpipe::tools::CheckColumns({}, *by, *specs));
  r.fingerprint = kpipe::tools::Fingerprint("kagg", f, {"--ttl " + ttl});
  auto monitor = kpipe::tools::AttachService(f.service, diag, f.kio.kafka.verbose, &r);
  if (!monitor.ok()) return monitor.status();
  // Never freed: the process ends after the run, and the system takes back
  // a table of millions of keys at once, where freeing it key by key took
  // a sixth of the run (bench/keys_bench.sh).
  auto op = kpipe::tools::MemberOperator(r, "kagg", *by, [g, by = *by, specs = *specs] {
    return std::make_unique<kpipe::GroupOperator>(g, by, kpipe::agg::AggSet(specs));
  });
  if (!op.ok()) return op.status();
  return kpipe::RunOperator(r, *op, signals, stats);
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;
  kpipe::tools::EventFlags f;
  std::string ttl, budget;
  kpipe::cli::Command cmd("kagg", "[OPTIONS] [INPUT]",
                          "Aggregate JSON lines per group key, as a running table.");
  kpipe::tools::AddGroupFlags(&cmd, &f);
  kpipe::tools::AddTimeFlags(&cmd, &f);
  cmd.Option({"--ttl", "DUR", "Forget a key DUR of event time after its last record"}, &ttl);
  kpipe::tools::AddOutputFlags(&cmd, &f,
                               "When to write rows: final (default), changes, every:DUR");
  kpipe::tools::AddStateFlags(&cmd, &f);
  cmd.Option({"--memory-budget", "SIZE", "With --state: keep about SIZE of keys in memory, the rest in DIR"}, &budget);
  kpipe::tools::AddKafkaIoFlags(&cmd, &f.kio);
  kpipe::tools::AddMemberFlags(&cmd, &f.kio);
  kpipe::tools::AddServiceFlags(&cmd, &f.service);

  kpipe::tools::Diag diag("kagg");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  kpipe::RunStats stats;
  kpipe::Status st = Run(f, ttl, budget, diag, &signals, &stats);
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  kpipe::tools::PrintSummary(diag, f, st, stats, /*late_kept=*/false);  // kagg has no windows to be late for
  return exit_code;
}
