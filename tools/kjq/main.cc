// kjq: a jq program over the data records of JSON lines, control records
// passed through in place. See kjq(1).
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/jq/run.h"
#include "kpipe/json/text.h"
#include "kpipe/io/signals.h"
#include "tools/common/report.h"
#include "tools/common/validate.h"

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;
  kpipe::JqOptions opt;
  std::vector<std::string> arg, argjson;
  std::string input;
  bool quiet = false;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kjq", "[OPTIONS] PROGRAM [INPUT]",
                          "Apply a jq program to each data record; control records pass through.");
  cmd.RepeatedPairs({"--arg", "NAME VALUE", "Set $NAME to the string VALUE (repeatable)"}, &arg);
  cmd.RepeatedPairs({"--argjson", "NAME JSON", "Set $NAME to the JSON value JSON (repeatable)"}, &argjson);
  cmd.Switch({"--envelope-program", "", "With envelope input: the program sees the whole envelope"},
             &opt.envelope_program);
  cmd.Option({"--output", "FILE", "Write records to FILE instead of stdout", Complete::kFile}, &opt.output);
  cmd.Option({"--dead-letter", "FILE", "Write bad lines and program errors to FILE and go on", Complete::kFile},
             &opt.dead_letter);
  std::string validate;
  kpipe::tools::AddValidateFlag(&cmd, &validate);
  int64_t threads = 0;  // not given: one per core
  cmd.Option({"--threads", "N", "Run the program on N threads (default: one per core, at most 8)"}, &threads);
  cmd.Switch({"-q,--quiet", "", "Do not print the summary line at exit"}, &quiet);
  cmd.Positionals("PROGRAM INPUT", "The jq program, then the input: a file, a FIFO or - (stdin, default)",
                  {{"PROGRAM", &opt.program}, {"INPUT", &input}});

  kpipe::tools::Diag diag("kjq");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;
  kpipe::Status st;
  if (!cmd.PositionalGiven("PROGRAM")) st = kpipe::Status::Usage("give a jq PROGRAM (and at most one INPUT)");
  if (st.ok() && cmd.Given("--threads") && (threads < 1 || threads > 64))
    st = kpipe::Status::Usage(fmt::format("--threads {}: N must be 1 to 64", threads));
  if (st.ok()) {
    auto schema = kpipe::tools::LoadSchema(validate);
    if (schema.ok()) opt.validate = *schema;
    else st = schema.status();
  }
  if (st.ok()) {
    opt.threads = static_cast<unsigned>(threads);
    if (!input.empty()) opt.input = input;
    // In the order of the command line: of a name given twice the first
    // value counts, as with jq.
    size_t a = 0, j = 0, values = 0;
    for (const std::string& name : cmd.Given()) {
      if ((name != "--arg" && name != "--argjson") || ++values % 2 == 1) continue;  // at a pair's second value
      if (name == "--arg" && a + 1 < arg.size()) {
        std::string json;
        kpipe::json::AppendQuoted(&json, arg[a + 1]);
        opt.args.emplace_back(arg[a], std::move(json));
        a += 2;
      } else if (name == "--argjson" && j + 1 < argjson.size()) {
        opt.args.emplace_back(argjson[j], argjson[j + 1]);
        j += 2;
      }
    }
  }
  kpipe::JqStats stats;
  if (st.ok()) st = kpipe::RunJq(opt, &signals, &stats);
  if (st.Is(kpipe::Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  exit_code = kpipe::tools::ReportStatus(diag, st);
  // halt_error's message is written as it is, maybe without a line end.
  if (!quiet && st.Is(kpipe::Status::Code::kHalted) && !st.message().empty() && st.message().back() != '\n')
    diag.Raw("\n");
  if (!quiet && !st.Is(kpipe::Status::Code::kUsage))
    diag.Line(fmt::format("{} in, {} out, {} control passed, {} dead-lettered",
                          kpipe::tools::Count(stats.in, "record"), stats.out, stats.control, stats.dead_lettered));
  return exit_code;
}
