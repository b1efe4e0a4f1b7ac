// kwindow: event-time windowed aggregation of JSON lines. See kwindow(1).
#include <string>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/stream/runner.h"
#include "kpipe/io/signals.h"
#include "kpipe/window/operator.h"
#include "tools/common/event_flags.h"
#include "tools/common/members.h"
#include "tools/common/report.h"

namespace {

kpipe::Status Run(const kpipe::tools::EventFlags& f,
                  const std::string& tumble, const std::string& hop, const std::string& slide,
                  const std::string& session, const std::string& lateness, const std::string& late,
                  const std::string& time_format, int64_t max_late, const kpipe::tools::Diag& diag, kpipe::SignalWatch* signals,
                  kpipe::RunStats* stats) {
  using kpipe::Status;
  kpipe::RunnerOptions r;
  kpipe::WindowOptions w;
  KPIPE_RETURN_IF_ERROR(kpipe::tools::Resolve(f, &r, &w.emit));
  KPIPE_RETURN_IF_ERROR(kpipe::tools::ResolveKafkaIo(f.kio, "kwindow", &r, /*can_scale=*/true));
  int kinds = !tumble.empty() + !hop.empty() + !session.empty();
  if (kinds != 1) return Status::Usage("give exactly one of --tumble, --hop (with --slide) or --session");
  if (!slide.empty() && hop.empty()) return Status::Usage("--slide needs --hop");
  if (!hop.empty() && slide.empty()) return Status::Usage("--hop needs --slide");
  auto duration = [](const char* flag, const std::string& text, int64_t* out) {
    return kpipe::tools::DurationFlag(flag, text, out, kpipe::tools::DurationIs::kPositive);
  };
  if (!tumble.empty()) {
    w.kind = kpipe::WindowOptions::Kind::kTumble;
    KPIPE_RETURN_IF_ERROR(duration("--tumble", tumble, &w.size));
  } else if (!hop.empty()) {
    w.kind = kpipe::WindowOptions::Kind::kHop;
    KPIPE_RETURN_IF_ERROR(duration("--hop", hop, &w.size));
    KPIPE_RETURN_IF_ERROR(duration("--slide", slide, &w.slide));
    if (w.slide > w.size)
      return Status::Usage(fmt::format(
          "--slide {} ms is longer than --hop {} ms: records between windows would be dropped", w.slide, w.size));
    int64_t per_record = kpipe::WindowAssigner::WindowsPerRecord(w.size, w.slide);
    if (per_record > kpipe::WindowAssigner::kMaxWindowsPerRecord)
      return Status::Usage(fmt::format(
          "--hop {} ms with --slide {} ms puts each record into {} windows; at most {} are allowed "
          "(a longer slide, or a shorter hop)",
          w.size, w.slide, per_record, kpipe::WindowAssigner::kMaxWindowsPerRecord));
  } else {
    w.kind = kpipe::WindowOptions::Kind::kSession;
    KPIPE_RETURN_IF_ERROR(duration("--session", session, &w.gap));
  }
  KPIPE_RETURN_IF_ERROR(kpipe::tools::DurationFlag("--lateness", lateness, &w.lateness));
  if (time_format != "ms" && time_format != "rfc3339")
    return Status::Usage(fmt::format("--time-format {}: expected ms or rfc3339", time_format));
  w.rfc3339 = r.rfc3339 = time_format == "rfc3339";
  r.late = late;
  r.max_late = max_late;
  r.inputs[0].time_required = true;
  auto by = kpipe::tools::ParseByFlags(f.by);
  if (!by.ok()) return by.status();
  auto specs = kpipe::tools::ParseAggFlags(f.aggs);
  if (!specs.ok()) return specs.status();
  std::vector<std::string> fixed = {"window_start", "window_end"};
  if (w.kind == kpipe::WindowOptions::Kind::kSession && (f.emit == "changes" || f.emit.rfind("every:", 0) == 0))
    fixed.push_back("retract");
  KPIPE_RETURN_IF_ERROR(kpipe::tools::CheckColumns(fixed, *by, *specs));
  r.fingerprint = kpipe::tools::Fingerprint(
      "kwindow", f,
      {"--tumble " + tumble, "--hop " + hop, "--slide " + slide, "--session " + session,
       "--lateness " + lateness, "--time-format " + time_format});
  auto monitor = kpipe::tools::AttachService(f.service, diag, f.kio.kafka.verbose, &r);
  if (!monitor.ok()) return monitor.status();
  // Checked once here: every instance of a member is made the same way.
  auto first = kpipe::WindowOperator::Make(w, *by, kpipe::agg::AggSet(*specs));
  if (!first.ok()) return first.status();
  auto op = kpipe::tools::MemberOperator(r, "kwindow", *by, [w, by = *by, specs = *specs] {
    return std::move(kpipe::WindowOperator::Make(w, by, kpipe::agg::AggSet(specs)).value());
  });
  if (!op.ok()) return op.status();
  std::unique_ptr<kpipe::Operator> owned(*op);
  return kpipe::RunOperator(r, owned.get(), signals, stats);
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;
  kpipe::tools::EventFlags f;
  std::string tumble, hop, slide, session, lateness, late, time_format = "ms";
  int64_t max_late = -1;
  kpipe::cli::Command cmd("kwindow", "[OPTIONS] [INPUT]",
                          "Aggregate JSON lines per event-time window and group key.");
  cmd.Option({"--tumble", "DUR", "Tumbling windows of DUR"}, &tumble);
  cmd.Option({"--hop", "DUR", "Hopping windows of size DUR (with --slide)"}, &hop);
  cmd.Option({"--slide", "DUR", "Start a hopping window every DUR"}, &slide);
  cmd.Option({"--session", "DUR", "Session windows per key, closed after a gap of DUR"}, &session);
  kpipe::tools::AddGroupFlags(&cmd, &f);
  kpipe::tools::AddTimeFlags(&cmd, &f);
  cmd.Option({"--time-format", "FORMAT", "Output times as epoch ms (default) or rfc3339 strings",
              kpipe::cli::Complete::kChoices, {"ms", "rfc3339"}},
             &time_format);
  cmd.Option({"--lateness", "DUR", "Allowed lateness L: keep windows open DUR past the watermark"},
             &lateness);
  cmd.Option({"--late", "DEST", "Write late records to DEST (a file or kafka:TOPIC)", kpipe::cli::Complete::kFile}, &late);
  cmd.Option({"--max-late", "N", "Stop with status 65 after more than N late records"}, &max_late);
  kpipe::tools::AddOutputFlags(&cmd, &f, "When to write rows: final (default), changes, every:DUR");
  kpipe::tools::AddStateFlags(&cmd, &f);
  kpipe::tools::AddKafkaIoFlags(&cmd, &f.kio);
  kpipe::tools::AddMemberFlags(&cmd, &f.kio);
  kpipe::tools::AddServiceFlags(&cmd, &f.service);

  kpipe::tools::Diag diag("kwindow");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  kpipe::RunStats stats;
  kpipe::Status st = kpipe::tools::CheckMaxLate(cmd.Given("--max-late"), max_late);
  if (st.ok()) st = Run(f, tumble, hop, slide, session, lateness, late, time_format, max_late, diag, &signals, &stats);
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  kpipe::tools::PrintSummary(diag, f, st, stats, !late.empty());
  return exit_code;
}
