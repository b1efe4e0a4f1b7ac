// kjoin: joins two streams of JSON lines by key and event time. See kjoin(1).
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/join/operator.h"
#include "kpipe/stream/partitioned.h"
#include "kpipe/stream/runner.h"
#include "kpipe/io/signals.h"
#include "kpipe/time/time.h"
#include "tools/common/event_flags.h"
#include "tools/common/members.h"
#include "tools/common/report.h"
#include "tools/common/validate.h"

namespace {

struct Flags {
  std::vector<std::string> on, inputs;
  std::string within, between, type = "inner", retain, time, left_time, right_time, time_unit = "ms",
                               max_delay, lateness, idle, late, output, dead_letter, validate, state,
                               checkpoint_every;
  bool table = false, as_of = false, merge = false, watermarks = false, no_control = false,
       quiet = false, dump_state = false;
  int64_t max_late = -1;
  bool max_late_given = false;
  kpipe::tools::KafkaIoFlags kio;
  kpipe::tools::ServiceFlags service;
  int64_t threads = kpipe::tools::DefaultThreads();
};

kpipe::Status Duration(const char* flag, const std::string& text, int64_t* out, bool allow_negative = false) {
  using kpipe::tools::DurationIs;
  return kpipe::tools::DurationFlag(flag, text, out, allow_negative ? DurationIs::kSigned : DurationIs::kNonNegative);
}

kpipe::Status Path(const char* flag, const std::string& text, std::optional<kpipe::json::FieldPath>* out) {
  if (text.empty()) return kpipe::Status::OK();
  auto p = kpipe::json::FieldPath::Parse(text);
  if (!p.ok()) return kpipe::Status::Usage(fmt::format("{} {}: {}", flag, text, p.status().message()));
  *out = *p;
  return kpipe::Status::OK();
}

// The runner's options (two inputs) and the join's.
kpipe::Status Resolve(const Flags& f, kpipe::RunnerOptions* r, kpipe::JoinSpec* o) {
  using kpipe::Status;
  if (f.inputs.size() != 2) return Status::Usage("give two inputs: LEFT RIGHT");
  r->tool = "kjoin";
  r->object_key = false;  // rows to Kafka are keyed by the join key
  r->inputs.assign(2, kpipe::InputOptions{});
  for (int s = 0; s < 2; s++) {
    r->inputs[s].name = f.inputs[s];
    r->inputs[s].role = s == 0 ? "left" : "right";
    r->inputs[s].spans = true;
  }
  if (f.on.empty()) return Status::Usage("--on PATH is required");
  for (const std::string& arg : f.on) {
    std::string_view rest = arg;
    for (;;) {
      size_t c = rest.find(',');
      std::string_view one = rest.substr(0, c);
      size_t eq = one.find('=');
      std::string_view l = one.substr(0, eq), r = eq == std::string_view::npos ? one : one.substr(eq + 1);
      for (int s = 0; s < 2; s++) {
        auto p = kpipe::json::FieldPath::Parse(s == 0 ? l : r);
        if (!p.ok()) return Status::Usage(fmt::format("--on {}: {}", one, p.status().message()));
        o->keys[s].push_back(*p);
      }
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
  }
  o->as_of = f.as_of;
  o->table = f.table || f.as_of;
  auto type = kpipe::ParseJoinType(f.type);
  if (!type.ok()) return Status::Usage("--type " + type.status().message());
  o->type = *type;
  if (o->table) {
    if (!f.within.empty() || !f.between.empty())
      return Status::Usage("--within and --between are for interval joins, not --table or --as-of");
    if (o->type != kpipe::JoinType::kInner && o->type != kpipe::JoinType::kLeft)
      return Status::Usage("a table join is --type inner or left");
    if (!f.lateness.empty()) return Status::Usage("--lateness is for interval joins");
  } else {
    if (f.within.empty() == f.between.empty())
      return Status::Usage("give one of --within DUR or --between LO,HI (or --table)");
    if (!f.within.empty()) {
      int64_t d = 0;
      KPIPE_RETURN_IF_ERROR(Duration("--within", f.within, &d));
      o->lo = -d;
      o->hi = d;
    } else {
      size_t c = f.between.find(',');
      if (c == std::string::npos || c == 0 || c + 1 == f.between.size() ||
          f.between.find(',', c + 1) != std::string::npos)
        return Status::Usage(fmt::format("--between {}: expected LO,HI (two durations)", f.between));
      KPIPE_RETURN_IF_ERROR(Duration("--between", f.between.substr(0, c), &o->lo, true));
      KPIPE_RETURN_IF_ERROR(Duration("--between", f.between.substr(c + 1), &o->hi, true));
      if (o->lo > o->hi) return Status::Usage(fmt::format("--between {}: LO is after HI", f.between));
    }
  }
  if (!f.retain.empty() && !f.as_of) return Status::Usage("--retain needs --as-of");
  KPIPE_RETURN_IF_ERROR(Duration("--retain", f.retain, &o->retain));
  std::optional<kpipe::json::FieldPath> time;
  KPIPE_RETURN_IF_ERROR(Path("--time", f.time, &time));
  r->inputs[0].time_path = r->inputs[1].time_path = time;
  KPIPE_RETURN_IF_ERROR(Path("--left-time", f.left_time, &r->inputs[0].time_path));
  KPIPE_RETURN_IF_ERROR(Path("--right-time", f.right_time, &r->inputs[1].time_path));
  // A table join without --as-of needs no event time; a table is read to
  // its end before LEFT starts, and its tombstones take their envelope's time.
  for (auto& in : r->inputs) in.time_required = !o->table || o->as_of;
  r->inputs[1].first = o->table;
  r->inputs[1].null_value_timestamp = o->table;
  auto unit = kpipe::ParseTimeUnit(f.time_unit);
  if (!unit.ok()) return Status::Usage("--time-unit " + unit.status().message());
  r->time_unit = *unit;
  KPIPE_RETURN_IF_ERROR(Duration("--max-delay", f.max_delay, &r->max_delay));
  KPIPE_RETURN_IF_ERROR(Duration("--lateness", f.lateness, &o->lateness));
  KPIPE_RETURN_IF_ERROR(Duration("--idle", f.idle, &r->idle_ms));
  r->late = f.late;
  KPIPE_RETURN_IF_ERROR(kpipe::tools::CheckMaxLate(f.max_late_given, f.max_late));
  r->max_late = f.max_late;
  r->output = f.output;
  r->dead_letter = f.dead_letter;
  auto schema = kpipe::tools::LoadSchema(f.validate);
  if (!schema.ok()) return schema.status();
  r->inputs[0].validate = r->inputs[1].validate = *schema;
  o->merge = f.merge;
  r->watermarks = f.watermarks;
  r->no_control = f.no_control;
  if (f.watermarks && f.no_control) return Status::Usage("--watermarks and --no-control contradict each other");
  r->state_dir = f.state;
  KPIPE_RETURN_IF_ERROR(kpipe::tools::CheckpointFlags(f.state, f.dump_state, f.kio.group, f.checkpoint_every));
  KPIPE_RETURN_IF_ERROR(Duration("--checkpoint-every", f.checkpoint_every, &r->checkpoint_every_ms));
  r->dump_state = f.dump_state;
  // The options that shape the state: a checkpoint made with others is refused.
  r->fingerprint = "kjoin";
  for (const std::string& on : f.on) r->fingerprint += " --on " + on;
  r->fingerprint += " --within " + f.within + " --between " + f.between + " --type " + f.type +
                    (f.table ? " --table" : "") + (f.as_of ? " --as-of" : "") + " --retain " + f.retain +
                    " --time " + f.time + " --left-time " + f.left_time + " --right-time " + f.right_time +
                    " --time-unit " + f.time_unit + " --max-delay " + f.max_delay + " --lateness " + f.lateness +
                    (f.merge ? " --merge" : "");
  KPIPE_RETURN_IF_ERROR(kpipe::tools::ThreadsFlag(f.threads, r));
  KPIPE_RETURN_IF_ERROR(kpipe::tools::ResolveKafkaIo(f.kio, "kjoin", r, /*can_scale=*/true));
  if (!r->members) return Status::OK();
  // A member (kpipe(7), SCALING): partition p of LEFT joins partition p of RIGHT.
  if (!kpipe::IsKafka(f.inputs[0]) || !kpipe::IsKafka(f.inputs[1]))
    return Status::Usage(fmt::format("-G {} on a kafka: input makes kjoin a member of the group, which splits "
                                     "partitions: both inputs must be kafka:, co-partitioned (or give --state DIR "
                                     "to run one process)", f.kio.group));
  if (o->table)
    return Status::Usage(fmt::format("-G {}: members run interval joins; a table join (--table, --as-of) runs in "
                                     "one process (give --state DIR)", f.kio.group));
  o->member_group = f.kio.group;
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;
  Flags f;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kjoin", "[OPTIONS] LEFT RIGHT",
                          "Join two streams of JSON lines by key and event time.");
  cmd.Repeated({"--on", "PATH", "Join key: PATH on both sides or LPATH=RPATH (repeatable: composite key)"},
               &f.on);
  cmd.Option({"--within", "DUR", "Interval join: pair records at most DUR apart"}, &f.within);
  cmd.Option({"--between", "LO,HI", "Interval join: pair when lt + LO <= rt <= lt + HI"}, &f.between);
  cmd.Option({"--type", "TYPE", "inner (default), left, right or full", Complete::kChoices,
              {"inner", "left", "right", "full"}},
             &f.type);
  cmd.Switch({"--table", "", "RIGHT is a table: the latest record per key"}, &f.table);
  cmd.Switch({"--as-of", "", "RIGHT is a versioned table: join the version current at the left time"},
             &f.as_of);
  cmd.Option({"--retain", "DUR", "With --as-of: versions older than W - DUR may be dropped"}, &f.retain);
  cmd.Option({"--time", "PATH", "Event time from this field on both sides"}, &f.time);
  cmd.Option({"--left-time", "PATH", "Event time of LEFT records (overrides --time)"}, &f.left_time);
  cmd.Option({"--right-time", "PATH", "Event time of RIGHT records (overrides --time)"}, &f.right_time);
  cmd.Option({"--time-unit", "UNIT", "Unit of numeric event times (default ms)", Complete::kChoices,
              {"s", "ms", "us", "ns"}},
             &f.time_unit);
  cmd.Option({"--max-delay", "DUR", "Bounded out-of-orderness D of each side's watermark"}, &f.max_delay);
  cmd.Option({"--lateness", "DUR", "Allowed lateness L: keep records DUR longer"}, &f.lateness);
  cmd.Option({"--idle", "DUR", "Leave a side or partition quiet this long out of the watermark"}, &f.idle);
  cmd.Option({"--late", "DEST", "Append late records to DEST (a file or kafka:TOPIC)", Complete::kFile}, &f.late);
  cmd.Option({"--max-late", "N", "Stop with status 65 after more than N late records"}, &f.max_late);
  cmd.Switch({"--merge", "", "Write one object: left members, then right members not on the left"},
             &f.merge);
  cmd.Option({"--output", "DEST", "Write rows to DEST (a file, or kafka:TOPIC keyed by join key) instead of stdout", Complete::kFile}, &f.output);
  cmd.Option({"--dead-letter", "DEST", "Write bad lines to DEST (a file or kafka:TOPIC) and go on", Complete::kFile},
             &f.dead_letter);
  kpipe::tools::AddValidateFlag(&cmd, &f.validate);
  cmd.Switch({"--watermarks", "", "Write watermark control records even when the inputs have none"},
             &f.watermarks);
  cmd.Switch({"--no-control", "", "Write no control records (for readers that are not kpipe tools)"},
             &f.no_control);
  cmd.Option({"--state", "DIR", "Keep checkpoints in DIR and resume from the last one", Complete::kDir},
             &f.state);
  cmd.Option({"--checkpoint-every", "DUR", "With --state: checkpoint this often; a group member: commit (default 10s)"},
             &f.checkpoint_every);
  cmd.Switch({"--dump-state", "", "With --state: print the last checkpoint's records and exit"},
             &f.dump_state);
  cmd.Switch({"-q,--quiet", "", "Do not print the summary line at exit"}, &f.quiet);
  kpipe::tools::AddThreadsFlag(&cmd, &f.threads);
  kpipe::tools::AddKafkaIoFlags(&cmd, &f.kio);
  kpipe::tools::AddMemberFlags(&cmd, &f.kio);
  kpipe::tools::AddServiceFlags(&cmd, &f.service);
  cmd.Positional("LEFT RIGHT", "The two inputs: files, FIFOs, kafka:TOPIC[,TOPIC...], or - (stdin) for one of them",
                 &f.inputs);

  kpipe::tools::Diag diag("kjoin");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  kpipe::RunnerOptions opt;
  kpipe::JoinSpec spec;
  kpipe::RunStats stats;
  stats.in_by_input.assign(2, 0);  // the summary names both, whatever happens
  f.max_late_given = cmd.Given("--max-late");
  kpipe::Status st = Resolve(f, &opt, &spec);
  std::unique_ptr<kpipe::service::Monitor> monitor;
  if (st.ok()) {
    auto m = kpipe::tools::AttachService(f.service, diag, f.kio.kafka.verbose, &opt);
    if (m.ok()) monitor = std::move(*m);
    else st = m.status();
  }
  if (st.ok()) {
    std::unique_ptr<kpipe::Operator> op;
    if (opt.members) {
      // One join per partition number, with each side's watermark there.
      op = std::make_unique<kpipe::PartitionedOperator>(
          [spec] { return std::make_unique<kpipe::JoinOperator>(spec); }, opt.max_delay, nullptr, 2);
    } else {
      op = std::make_unique<kpipe::JoinOperator>(std::move(spec));
    }
    st = kpipe::RunOperator(opt, op.get(), &signals, &stats);
  }
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  if (!f.quiet && !f.dump_state && !st.Is(kpipe::Status::Code::kUsage))
    diag.Line(fmt::format("{} left in, {} right in, {} out, {} late, {} dead-lettered{}", stats.in_by_input[0],
                          stats.in_by_input[1], kpipe::tools::Count(stats.out, "row"), stats.late, stats.dead_lettered,
                          kpipe::tools::LateDropped(stats.late, !f.late.empty())));
  return exit_code;
}
