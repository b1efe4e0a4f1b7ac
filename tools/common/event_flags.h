// The flags kwindow and kagg share (kwindow(1), kagg(1)): group key,
// aggregates, event time, watermark, emit mode, destinations. Each is
// defined once here and turned into library options by Resolve().
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "kpipe/agg/aggregate.h"
#include "kpipe/cli/flags.h"
#include "kpipe/kafka/config.h"
#include "kpipe/stream/exactly_once.h"
#include "kpipe/stream/runner.h"
#include "kpipe/time/time.h"
#include "tools/common/kafka_flags.h"
#include "tools/common/report.h"
#include "tools/common/schema_flags.h"
#include "tools/common/service.h"
#include "tools/common/validate.h"

namespace kpipe::tools {

// Kafka inputs and destinations (kwindow, kagg, kjoin): the library's
// struct, and the formats of rows to --output kafka: as given.
struct KafkaIoFlags : KafkaIo {
  SchemaFlags formats;
};

inline void AddKafkaIoFlags(cli::Command* cmd, KafkaIoFlags* k) {
  AddKafkaFlags(cmd, &k->kafka);
  AddRegistryFlags(cmd, &k->kafka);
  cmd->Option({"-G,--group", "ID", "Consumer group of a kafka: input (kwindow, kagg: a member, without --state)"},
              &k->group);
  cmd->Option({"--from", "TIME", "Start a kafka: input at the first record at or after TIME"}, &k->from);
  cmd->Option({"--until", "TIME", "Stop a kafka: input at TIME, or at its end offsets at start with 'end'"},
              &k->until);
  cmd->Switch({"--exactly-once", "", "Kafka to Kafka in transactions tied to the checkpoints (needs -G)"},
              &k->exactly_once);
  AddSchemaFlags(cmd, &k->formats, "rows to --output kafka:", "of those rows");
}

// --checkpoint-every and --dump-state against --state and -G: without
// --state, -G makes a group member, which commits every --checkpoint-every.
inline Status CheckpointFlags(const std::string& state, bool dump_state, const std::string& group,
                              const std::string& checkpoint_every) {
  if (state.empty() && (dump_state || (group.empty() && !checkpoint_every.empty())))
    return Status::Usage("--checkpoint-every and --dump-state need --state DIR (--checkpoint-every: or -G)");
  return Status::OK();
}

// Checks the Kafka flags against the inputs and destinations (set first).
// `can_scale`: -G on a kafka: input without --state makes this process a
// member of the group (RunnerOptions::members).
inline Status ResolveKafkaIo(const KafkaIoFlags& k, const char* tool, RunnerOptions* r, bool can_scale = false) {
  r->tool = tool;
  r->kafka_io = static_cast<const KafkaIo&>(k);
  if ((!k.formats.value.format.empty() || !k.formats.key.format.empty()) && !IsKafka(r->output))
    return Status::Usage("--value-format and --key-format need --output kafka:TOPIC");
  std::string out_topic = IsKafka(r->output) ? r->output.substr(6) : "";
  KPIPE_RETURN_IF_ERROR(ResolveFormat(k.formats.value, "value", out_topic, &r->kafka_io.value_format));
  KPIPE_RETURN_IF_ERROR(ResolveFormat(k.formats.key, "key", out_topic, &r->kafka_io.key_format));
  KPIPE_RETURN_IF_ERROR(NeedRegistry(k.kafka, r->kafka_io.value_format || r->kafka_io.key_format));
  bool kafka_in = false;
  for (const InputOptions& in : r->inputs) kafka_in |= IsKafka(in.name);
  // With --state, -G is one process reading every partition, unless
  // --instance or --changelog make a member: DIR is then its local copy.
  r->members = can_scale && kafka_in && !k.group.empty() &&
               (r->state_dir.empty() || !k.instance.empty() || !k.changelog.empty());
  if (r->members)
    for (InputOptions& in : r->inputs) in.key = true;  // the message key, for the rule of members
  // KPIPE_INSTANCE: a member's --instance when none is given (the unit
  // template sets it for each of kpipe@NAME:1, :2 ...).
  if (r->members && k.instance.empty())
    if (const char* e = std::getenv("KPIPE_INSTANCE"); e && *e) r->kafka_io.instance = e;
  if (r->members && !r->state_dir.empty()) {
    if (r->dump_state)
      return Status::Usage("--dump-state is for a single process's checkpoints; a member's state is in its "
                           "changelog topic");
    r->member_copy_dir = r->state_dir;
    r->state_dir.clear();
    // With none given, a member with a local copy is named by the host and
    // the directory: a restart on it comes back as the same member.
    if (r->kafka_io.instance.empty()) {
      char host[256] = "";
      ::gethostname(host, sizeof host - 1);
      std::error_code ec;
      std::filesystem::path abs = std::filesystem::absolute(r->member_copy_dir, ec);
      std::string dir = (ec ? std::filesystem::path(r->member_copy_dir) : abs).lexically_normal().string();
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      r->kafka_io.instance = fmt::format("{}:{}", host, dir);
    }
  }
  if (!r->members && (!k.instance.empty() || !k.changelog.empty()))
    return Status::Usage("--instance and --changelog are for group members: -G with a kafka: input");
  if (k.exactly_once) {
    if (!kafka_in || !IsKafka(r->output))
      return Status::Usage("--exactly-once needs a kafka: input and --output kafka:TOPIC "
                           "(from file to file, --state alone is exactly-once)");
    if (r->state_dir.empty() && !r->members) return Status::Usage("--exactly-once needs --state DIR");
    if (k.group.empty()) return Status::Usage("--exactly-once needs a consumer group (-G)");
  }
  if (!kafka_in && (!k.group.empty() || !k.from.empty() || !k.until.empty()))
    return Status::Usage("-G, --from and --until need a kafka: input");
  // Checked before connecting: a bad time is a usage error, broker or not.
  if (!k.from.empty()) {
    auto t = ParseTimePoint(k.from, NowMs());
    if (!t.ok()) return Status::Usage("--from: " + t.status().message());
  }
  if (!k.until.empty() && k.until != "end") {
    auto t = ParseTimePoint(k.until, NowMs());
    if (!t.ok()) return Status::Usage("--until: " + t.status().message());
  }
  return Status::OK();
}

// --threads N (kwindow, kagg, kjoin): 1, or 2 and more for a second thread
// that parses input ahead (RunnerOptions::threads). The default, 2 where
// there are 2 cores or more, is what pays on the machines measured
// (bench/window_bench.sh, bench/join_bench.sh).
inline int64_t DefaultThreads() { return std::thread::hardware_concurrency() >= 2 ? 2 : 1; }

inline void AddThreadsFlag(cli::Command* cmd, int64_t* threads) {
  cmd->Option({"--threads", "N", "1: one thread; 2 (the default with 2 cores or more): parse input on a second thread"},
              threads);
}

inline Status ThreadsFlag(int64_t threads, RunnerOptions* r) {
  if (threads < 1 || threads > 1024) return Status::Usage(fmt::format("--threads {}: expected 1 or more", threads));
  r->threads = static_cast<int>(threads);
  return Status::OK();
}

struct EventFlags {
  KafkaIoFlags kio;
  int64_t threads = DefaultThreads();
  ServiceFlags service;
  std::vector<std::string> by, aggs, input;
  std::string time, time_unit = "ms", max_delay, idle, emit = "final", output, dead_letter, validate;
  std::string state, checkpoint_every;
  bool watermarks = false, no_control = false, quiet = false, dump_state = false;
};

inline void AddStateFlags(cli::Command* cmd, EventFlags* f) {
  AddThreadsFlag(cmd, &f->threads);
  cmd->Option({"--state", "DIR", "Keep checkpoints in DIR and resume from the last one", cli::Complete::kDir},
              &f->state);
  cmd->Option({"--checkpoint-every", "DUR", "With --state: checkpoint this often; a group member: commit (default 10s)"},
              &f->checkpoint_every);
  cmd->Switch({"--dump-state", "", "With --state: print the last checkpoint's rows and exit"},
              &f->dump_state);
}

// The options that shape a tool's state, in a readable form: a checkpoint
// made with other ones is refused.
inline std::string Fingerprint(const std::string& tool, const EventFlags& f,
                               const std::vector<std::string>& more) {
  std::string s = tool;
  for (const std::string& m : more) s += " " + m;
  for (const std::string& b : f.by) s += " --by " + b;
  for (const std::string& a : f.aggs) s += " -a " + a;
  if (!f.time.empty()) s += " --time " + f.time + " --time-unit " + f.time_unit;
  if (!f.max_delay.empty()) s += " --max-delay " + f.max_delay;
  s += " --emit " + f.emit;
  return s;
}

inline void AddGroupFlags(cli::Command* cmd, EventFlags* f) {
  cmd->Repeated({"--by", "PATH", "Group by these fields (PATH[,PATH...], NAME=PATH renames; repeatable)"},
                &f->by);
  cmd->Repeated({"-a,--agg", "SPEC", "Aggregate [NAME=]FN[:PATH[:ARG]] (repeatable, comma-separated)"},
                &f->aggs);
}

inline void AddTimeFlags(cli::Command* cmd, EventFlags* f) {
  cmd->Option({"--time", "PATH", "Event time from this field (epoch number or RFC 3339 string)"}, &f->time);
  cmd->Option({"--time-unit", "UNIT", "Unit of numeric event times (default ms)", cli::Complete::kChoices,
               {"s", "ms", "us", "ns"}},
              &f->time_unit);
  cmd->Option({"--max-delay", "DUR", "Bounded out-of-orderness D of the watermark (default 0)"},
              &f->max_delay);
  cmd->Option({"--idle", "DUR", "Leave envelope partitions quiet this long out of the watermark"},
              &f->idle);
}

inline void AddOutputFlags(cli::Command* cmd, EventFlags* f, const char* emit_help) {
  cmd->Option({"--emit", "MODE", emit_help, cli::Complete::kChoices, {"final", "changes", "every:"}},
              &f->emit);
  cmd->Option({"--output", "DEST", "Write rows to DEST (a file, or kafka:TOPIC keyed by group) instead of stdout", cli::Complete::kFile},
              &f->output);
  cmd->Option({"--dead-letter", "DEST", "Write bad lines to DEST (a file or kafka:TOPIC) and go on", cli::Complete::kFile},
              &f->dead_letter);
  AddValidateFlag(cmd, &f->validate);
  cmd->Switch({"--watermarks", "", "Write watermark control records even when the input has none"},
              &f->watermarks);
  cmd->Switch({"--no-control", "", "Write no control records (for readers that are not kpipe tools)"},
              &f->no_control);
  cmd->Switch({"-q,--quiet", "", "Do not print the summary line at exit"}, &f->quiet);
  cmd->Positional("INPUT", "Input file, FIFO, kafka:TOPIC[,TOPIC...] or - for stdin (default)", &f->input);
}

// Parses --emit: final, changes or every:DUR (`*every_ms` gets DUR).
inline Result<EmitMode> ParseEmit(std::string_view text, int64_t* every_ms) {
  *every_ms = 0;
  if (text == "final") return EmitMode::kFinal;
  if (text == "changes") return EmitMode::kChanges;
  if (text.rfind("every:", 0) == 0) {
    auto d = ParseDuration(text.substr(6));
    if (!d.ok()) return Status::Usage(fmt::format("--emit {}: {}", text, d.status().message()));
    if (*d <= 0) return Status::Usage(fmt::format("--emit {}: the period must be positive", text));
    *every_ms = *d;
    return EmitMode::kEvery;
  }
  return Status::Usage(fmt::format("--emit {}: expected final, changes or every:DUR", text));
}

// --by ARGS as a group key.
inline Result<agg::GroupKey> ParseByFlags(const std::vector<std::string>& args) {
  auto by = agg::GroupKey::Parse(args);
  if (!by.ok()) return Status::Usage("--by " + by.status().message());
  return by;
}

// -a SPECS as aggregates: at least one, with names of their own.
inline Result<std::vector<agg::AggSpec>> ParseAggFlags(const std::vector<std::string>& args) {
  auto specs = agg::ParseAggSpecs(args);
  if (!specs.ok()) return Status::Usage("-a " + specs.status().message());
  if (specs->empty()) return Status::Usage("no aggregate given: use -a, as in -a count");
  for (size_t i = 0; i < specs->size(); i++)
    for (size_t j = 0; j < i; j++)
      if ((*specs)[i].name == (*specs)[j].name)
        return Status::Usage(fmt::format("two aggregates are named '{}'; rename one with NAME=", (*specs)[i].name));
  return specs;
}

// --max-late N (kwindow, kjoin), when given: N >= 0 (its default, -1, is
// no limit).
inline Status CheckMaxLate(bool given, int64_t n) {
  if (given && n < 0) return Status::Usage(fmt::format("--max-late {}: N must be >= 0", n));
  return Status::OK();
}

// Each column of a row has a name of its own: `fixed` (kwindow's
// window_start, window_end), then --by's fields, then the aggregates.
inline Status CheckColumns(const std::vector<std::string>& fixed, const agg::GroupKey& by,
                           const std::vector<agg::AggSpec>& specs) {
  std::vector<std::pair<std::string, std::string>> seen;  // name, what made it
  for (const std::string& n : fixed) seen.emplace_back(n, "the window");
  for (const std::string& n : by.names()) seen.emplace_back(n, "--by");
  for (const agg::AggSpec& s : specs) seen.emplace_back(s.name, "-a");
  for (size_t i = 0; i < seen.size(); i++)
    for (size_t j = 0; j < i; j++)
      if (seen[i].first == seen[j].first)
        return Status::Usage(fmt::format("two columns are named '{}' ({} and {}); rename one with NAME=",
                                         seen[i].first, seen[j].second, seen[i].second));
  return Status::OK();
}

// Fills the runner's options from the shared flags.
inline Status Resolve(const EventFlags& f, RunnerOptions* r, EmitMode* emit) {
  if (f.input.size() > 1) return Status::Usage("only one INPUT may be given");
  if (!f.input.empty()) r->inputs[0].name = f.input[0];
  r->output = f.output;
  r->dead_letter = f.dead_letter;
  auto schema = LoadSchema(f.validate);
  if (!schema.ok()) return schema.status();
  r->inputs[0].validate = *schema;
  if (!f.time.empty()) {
    auto p = json::FieldPath::Parse(f.time);
    if (!p.ok()) return Status::Usage(fmt::format("--time {}: {}", f.time, p.status().message()));
    r->inputs[0].time_path = *p;
  }
  auto unit = ParseTimeUnit(f.time_unit);
  if (!unit.ok()) return Status::Usage("--time-unit " + unit.status().message());
  r->time_unit = *unit;
  KPIPE_RETURN_IF_ERROR(DurationFlag("--max-delay", f.max_delay, &r->max_delay));
  KPIPE_RETURN_IF_ERROR(DurationFlag("--idle", f.idle, &r->idle_ms));
  auto mode = ParseEmit(f.emit, &r->every_ms);
  if (!mode.ok()) return mode.status();
  *emit = *mode;
  r->watermarks = f.watermarks;
  r->no_control = f.no_control;
  r->state_dir = f.state;
  KPIPE_RETURN_IF_ERROR(CheckpointFlags(f.state, f.dump_state, f.kio.group, f.checkpoint_every));
  KPIPE_RETURN_IF_ERROR(DurationFlag("--checkpoint-every", f.checkpoint_every, &r->checkpoint_every_ms));
  r->dump_state = f.dump_state;
  KPIPE_RETURN_IF_ERROR(ThreadsFlag(f.threads, r));
  if (f.watermarks && f.no_control) return Status::Usage("--watermarks and --no-control contradict each other");
  return Status::OK();
}

// `late_kept`: --late DEST was given; otherwise late records were dropped,
// and the line says so.
inline void PrintSummary(const Diag& diag, const EventFlags& f, const Status& st, const RunStats& s,
                         bool late_kept) {
  if (f.quiet || f.dump_state || st.Is(Status::Code::kUsage)) return;
  diag.Line(fmt::format("{} in, {} out, {} late, {} dead-lettered{}", Count(s.in, "record"), Count(s.out, "row"),
                        s.late, s.dead_lettered, LateDropped(s.late, late_kept)));
}

}  // namespace kpipe::tools
