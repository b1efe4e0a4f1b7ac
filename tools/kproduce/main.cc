// kproduce: JSON lines (files or stdin) to a Kafka topic. See kproduce(1).
#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/cli/progress.h"
#include "kpipe/kafka/produce.h"
#include "kpipe/io/signals.h"
#include "tools/common/kafka_flags.h"
#include "tools/common/report.h"
#include "tools/common/schema_flags.h"
#include "tools/common/validate.h"

namespace {

// The checks of the flags against each other, and -H NAME=VALUE.
kpipe::Status Resolve(const std::vector<std::string>& headers, kpipe::ProduceOptions* o) {
  using kpipe::Status;
  if (o->topic.empty() && !(o->envelope && o->keep_topic))
    return Status::Usage("-t TOPIC is required (or --envelope --keep-topic)");
  if (o->raw && (o->envelope || !o->key_path.empty() || !o->timestamp_path.empty()))
    return Status::Usage("--raw cannot be combined with --envelope, --key or --timestamp");
  if (o->envelope && (!o->key_path.empty() || !o->timestamp_path.empty()))
    return Status::Usage("--envelope carries key and timestamp; --key/--timestamp do not apply");
  if (o->keep_topic && !o->envelope) return Status::Usage("--keep-topic needs --envelope");
  if (o->txn_every < 0) return Status::Usage(fmt::format("--txn-every {}: must be >= 0", o->txn_every));
  if (o->rate < 0) return Status::Usage(fmt::format("--rate {}: must be >= 0", o->rate));
  if (!o->acks.empty() && o->acks != "all" && o->acks != "-1" && o->acks != "1" && o->acks != "0")
    return Status::Usage(fmt::format("--acks {}: expected all, 1 or 0", o->acks));
  if (o->txn_every > 0 && o->transactional_id.empty()) return Status::Usage("--txn-every needs --transactional-id");
  if (o->partition < -1 || o->partition > INT32_MAX)
    return Status::Usage(fmt::format("--partition {}: must be a partition number", o->partition));
  for (const std::string& h : headers) {
    size_t eq = h.find('=');
    if (eq == std::string::npos || eq == 0) return Status::Usage(fmt::format("--header {}: expected NAME=VALUE", h));
    o->headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
  }
  if (o->dry_run && !o->transactional_id.empty())
    return Status::Usage("--dry-run and --transactional-id exclude each other");
  if (o->dead_letter == "kafka:") return Status::Usage("--dead-letter kafka:TOPIC needs a topic");
  return Status::OK();
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;  // first: librdkafka's threads inherit the mask
  kpipe::ProduceOptions opt;
  std::vector<std::string> headers;
  bool quiet = false;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kproduce", "[OPTIONS] -t TOPIC [FILE...]",
                          "Produce each JSON line of FILEs (or stdin) as one Kafka message.");
  cmd.Option({"-t,--topic", "TOPIC", "Topic to produce to"}, &opt.topic);
  cmd.Option({"-k,--key", "PATH", "Message key from this field of the JSON value"}, &opt.key_path);
  cmd.Switch({"--envelope", "", "Read envelope lines (key, value, headers, partition, timestamp)"},
             &opt.envelope);
  cmd.Switch({"--keep-topic", "", "With --envelope: produce to each line's topic"}, &opt.keep_topic);
  cmd.Switch({"--raw", "", "Lines are opaque bytes: no JSON check"}, &opt.raw);
  cmd.Option({"-p,--partition", "N", "Produce to partition N (default: murmur2_random on the key)"},
             &opt.partition);
  cmd.Repeated({"-H,--header", "NAME=VALUE", "Add a header to every message (repeatable)"},
               &headers);
  cmd.Option({"--timestamp", "PATH", "Message timestamp from this field (epoch ms or RFC 3339)"},
             &opt.timestamp_path);
  cmd.Option({"-z,--compression", "CODEC", "Compression codec", Complete::kChoices,
              {"none", "gzip", "snappy", "lz4", "zstd"}},
             &opt.compression);
  cmd.Option({"--acks", "ACKS", "Acknowledgements: all (default), 1 or 0; 1 and 0 turn idempotence off",
              Complete::kChoices, {"all", "1", "0"}},
             &opt.acks);
  cmd.Option({"--rate", "N", "Produce at most N messages per second"}, &opt.rate);
  cmd.Option({"--transactional-id", "ID", "Produce the whole input in one transaction with this id"},
             &opt.transactional_id);
  cmd.Option({"--txn-every", "N", "With --transactional-id: commit every N messages"}, &opt.txn_every);
  cmd.Option({"--dead-letter", "DEST", "Write bad lines to DEST (FILE or kafka:TOPIC) and go on",
              Complete::kFile},
             &opt.dead_letter);
  std::string validate;
  kpipe::tools::AddValidateFlag(&cmd, &validate);
  cmd.Switch({"--dry-run", "", "Print each message as an envelope line instead of producing (no broker)"},
             &opt.dry_run);
  kpipe::tools::SchemaFlags formats;
  kpipe::tools::AddSchemaFlags(&cmd, &formats, "values", "of -k or envelopes");
  cmd.Switch({"--check-only", "", "Only ask the registry whether --schema/--key-schema may be registered"},
             &opt.check_only);
  kpipe::tools::AddKafkaFlags(&cmd, &opt.kafka);
  kpipe::tools::AddRegistryFlags(&cmd, &opt.kafka);
  kpipe::tools::ServiceFlags service;
  kpipe::tools::AddServiceFlags(&cmd, &service);
  cmd.Switch({"-q,--quiet", "", "Do not print the summary line at exit"}, &quiet);
  cmd.Positional("FILE", "Input files (default: stdin)", &opt.files);

  kpipe::tools::Diag diag("kproduce");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  opt.progress = kpipe::cli::Progress::StderrIsTty();

  kpipe::Output dry_out(1, "stdout");
  opt.dry_run_out = &dry_out;
  kpipe::ProduceStats stats;
  kpipe::Status st = Resolve(headers, &opt);
  if (st.ok() && cmd.Given("--partition") && opt.partition < 0)  // -1 is "not given"
    st = kpipe::Status::Usage(fmt::format("--partition {}: must be a partition number", opt.partition));
  if (st.ok()) st = kpipe::tools::ResolveFormat(formats.value, "value", opt.topic, &opt.value_format);
  if (st.ok()) st = kpipe::tools::ResolveFormat(formats.key, "key", opt.topic, &opt.key_format);
  if (st.ok() && opt.raw && (opt.value_format || opt.key_format))
    st = kpipe::Status::Usage("--raw lines are not JSON: --value-format and --key-format do not apply");
  if (st.ok()) st = kpipe::tools::NeedRegistry(opt.kafka, opt.value_format || opt.key_format);
  if (st.ok() && opt.key_format && opt.key_path.empty() && !opt.envelope)
    st = kpipe::Status::Usage("--key-format needs -k PATH or --envelope");
  if (st.ok() && opt.check_only && !(opt.value_format && !opt.value_format->schema_text.empty()) &&
      !(opt.key_format && !opt.key_format->schema_text.empty()))
    st = kpipe::Status::Usage("--check-only needs --schema or --key-schema");
  if (st.ok() && !validate.empty()) {
    if (opt.raw) st = kpipe::Status::Usage("--raw lines are not JSON: --validate does not apply");
    auto schema = kpipe::tools::LoadSchema(validate);
    if (st.ok() && !schema.ok()) st = schema.status();
    if (st.ok()) opt.validate = *schema;
  }
  auto monitor = kpipe::tools::OpenMonitor(service, diag);
  if (st.ok()) st = monitor.status();
  if (st.ok()) {
    opt.monitor = monitor->get();
    st = kpipe::RunProduce(opt, &signals, diag.line(), &stats);
  }
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  if (opt.check_only && st.ok() && !quiet) diag.Line("the schemas may be registered");
  if (!quiet && !st.Is(kpipe::Status::Code::kUsage) && (stats.lines > 0 || !opt.check_only)) {
    std::string txn =
        stats.transactions ? ", " + kpipe::tools::Count(stats.transactions, "transaction") : std::string();
    // Delivered, but not to a reader of committed messages.
    if (stats.aborted_messages)
      txn += fmt::format(", {} aborted ({})", kpipe::tools::Count(stats.aborted, "transaction"),
                         kpipe::tools::Count(stats.aborted_messages, "message"));
    diag.Line(fmt::format("{} in, {} {}, {} failed, {} dead-lettered{}", kpipe::tools::Count(stats.lines, "line"),
                          kpipe::tools::Count(stats.delivered, "message"), opt.dry_run ? "printed (dry run)" : "delivered", stats.failed,
                          stats.dead_lettered, txn));
  }
  return exit_code;
}
