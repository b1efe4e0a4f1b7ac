// Command: one table of flags per tool, from which --help, the completions
// and the drift test's flag list are all produced.
//
// Each flag is defined once, by a FlagSpec bound to the Options field it
// fills; CLI11 does the parsing. The man pages are written by hand, and a test
// checks that they document exactly the flags of this table (see
// tests/cli/drift.sh); the completion files are generated from it
// (`TOOL --generate=bash|zsh|fish`) and a test fails when they are stale.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kpipe/status.h"

namespace kpipe::cli {

// What a shell should offer as the value of a flag.
enum class Complete { kNone, kFile, kDir, kChoices };

struct FlagSpec {
  std::string names;  // CLI11 form: "-k,--key" or "--envelope"
  std::string value;  // value name ("PATH"); empty for a switch
  std::string help;   // one line
  Complete complete = Complete::kNone;
  std::vector<std::string> choices;  // for Complete::kChoices
  bool optional_value = false;       // "-L [TOPIC]"
};

// What main() should do after parsing.
struct ParseOutcome {
  bool run = true;       // false: print the texts and exit with `exit_code`
  int exit_code = 0;
  std::string out;       // for stdout (--help, --version, --generate)
  std::string err;       // for stderr (usage errors)
};

class Command {
 public:
  // `synopsis` follows the tool name in "Usage:", e.g. "[OPTIONS] -t TOPIC [FILE...]".
  Command(std::string name, std::string synopsis, std::string about);

  void Switch(FlagSpec spec, bool* target);
  // A null `target` keeps the value inside; read it with Value().
  void Option(FlagSpec spec, std::string* target);
  void Option(FlagSpec spec, int64_t* target);
  // Repeatable; each occurrence takes one value.
  void Repeated(FlagSpec spec, std::vector<std::string>* target);
  // Repeatable; each occurrence takes two values (jq's --arg NAME VALUE),
  // appended to `target` one after the other.
  void RepeatedPairs(FlagSpec spec, std::vector<std::string>* target);
  // After parsing: the long names of the options given, one per value they
  // took (two for each of RepeatedPairs), in the order of the command line:
  // which of two repeatable options came first.
  std::vector<std::string> Given() const;
  void Positional(std::string name, std::string help, std::vector<std::string>* target,
                  Complete complete = Complete::kFile);
  // Positionals of one value each, in order (kjq's PROGRAM [INPUT]): a
  // value is taken as it is, where a list positional reads "[a,b]" as two.
  // `name` and `help` are for --help and the completions.
  void Positionals(std::string name, std::string help, std::vector<std::pair<std::string, std::string*>> slots,
                   Complete complete = Complete::kFile);

  // Shell code that completes the words that are not flags, in place of
  // file names (kadmin's subcommands, and topic and group names asked of
  // the broker): `bash` sets COMPREPLY (cur and prev are set); `zsh_spec` is
  // the last spec of _arguments, and `zsh_after` runs after it with $state
  // set (_arguments -C); `fish` is appended as it is.
  struct WordCompletion {
    std::string bash, zsh_spec, zsh_after, fish;
  };
  void CompleteWords(WordCompletion words) { words_ = std::move(words); }
  // The names of the flags that take a value, short and long ("-b", "--brokers").
  std::vector<std::string> ValueFlags() const;

  ParseOutcome Parse(int argc, char** argv);
  // True when the flag named by its long name ("--list") was given.
  bool Given(const std::string& long_name) const;
  // Whether the positional `slot` (a name given to Positionals) was given,
  // even as an empty argument.
  bool PositionalGiven(const std::string& slot) const;
  // The value given to an option (empty when none).
  std::string Value(const std::string& long_name) const;

  std::string Help() const;
  std::string Completion(const std::string& shell) const;  // bash, zsh, fish
  // Every flag name, one per line (the drift test's reference list).
  std::string FlagList() const;
  const std::string& name() const { return name_; }

 private:
  struct Entry {
    FlagSpec spec;
    std::string short_name, long_name;  // "-k", "--key" (either may be empty)
    CLI::Option* opt;
    bool repeatable;
    bool empty_ok = false;  // an empty value means something (jq's --arg NAME "")
  };
  void Record(const FlagSpec& spec, CLI::Option* opt);

  std::string name_, synopsis_, about_;
  std::string generate_;
  std::string positional_name_, positional_help_;
  Complete positional_complete_ = Complete::kNone;
  WordCompletion words_;
  CLI::App app_;
  std::vector<Entry> entries_;
  std::deque<std::string> owned_;
  bool help_ = false, version_ = false;
};

}  // namespace kpipe::cli
