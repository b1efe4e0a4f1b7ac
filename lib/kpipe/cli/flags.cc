#include "kpipe/cli/flags.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "kpipe/cli/exit_codes.h"

namespace kpipe::cli {

namespace {

void SplitNames(const std::string& names, std::string* s, std::string* l) {
  size_t start = 0;
  while (start <= names.size()) {
    size_t comma = names.find(',', start);
    std::string n = names.substr(start, comma == std::string::npos ? comma : comma - start);
    if (n.rfind("--", 0) == 0) *l = n;
    else if (n.rfind("-", 0) == 0) *s = n;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

std::string ZshEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
    if (c == '\'') {
      out += "'\\''";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Command::Command(std::string name, std::string synopsis, std::string about)
    : name_(std::move(name)), synopsis_(std::move(synopsis)), about_(std::move(about)),
      app_(about_, name_) {
  app_.set_help_flag();
  app_.allow_windows_style_options(false);
  Switch({"-h,--help", "", "Print this help and exit"}, &help_);
  Switch({"-V,--version", "", "Print the kpipe and librdkafka versions and exit"}, &version_);
  // Hidden: regenerates completions/ and the drift test's flag list.
  app_.add_option("--generate", generate_)->group("");
}

void Command::Record(const FlagSpec& spec, CLI::Option* opt) {
  Entry e{spec, "", "", opt, false};
  SplitNames(spec.names, &e.short_name, &e.long_name);
  entries_.push_back(std::move(e));
}

void Command::Switch(FlagSpec spec, bool* target) {
  Record(spec, app_.add_flag(spec.names, *target, spec.help));
}

void Command::Option(FlagSpec spec, std::string* target) {
  if (!target) target = &owned_.emplace_back();
  CLI::Option* o = app_.add_option(spec.names, *target, spec.help);
  if (spec.optional_value) o->expected(0, 1);
  Record(spec, o);
}

void Command::Option(FlagSpec spec, int64_t* target) {
  Record(spec, app_.add_option(spec.names, *target, spec.help));
}

void Command::Repeated(FlagSpec spec, std::vector<std::string>* target) {
  CLI::Option* o = app_.add_option(spec.names, *target, spec.help);
  o->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  Record(spec, o);
  entries_.back().repeatable = true;
}

void Command::RepeatedPairs(FlagSpec spec, std::vector<std::string>* target) {
  CLI::Option* o = app_.add_option(spec.names, *target, spec.help);
  o->type_size(2)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  Record(spec, o);
  entries_.back().repeatable = true;
  entries_.back().empty_ok = true;
}

std::vector<std::string> Command::Given() const {
  std::vector<std::string> names;
  for (const CLI::Option* o : app_.parse_order()) names.push_back(o->get_name());
  return names;
}

void Command::Positional(std::string name, std::string help, std::vector<std::string>* target,
                         Complete complete) {
  positional_name_ = name;
  positional_help_ = help;
  positional_complete_ = complete;
  app_.add_option(name, *target, help);
}

void Command::Positionals(std::string name, std::string help,
                          std::vector<std::pair<std::string, std::string*>> slots, Complete complete) {
  positional_name_ = name;
  positional_help_ = help;
  positional_complete_ = complete;
  for (auto& [slot, target] : slots) app_.add_option(slot, *target, help);
}

bool Command::Given(const std::string& long_name) const {
  for (const Entry& e : entries_)
    if (e.long_name == long_name) return e.opt->count() > 0;
  return false;
}

bool Command::PositionalGiven(const std::string& slot) const { return app_.get_option(slot)->count() > 0; }

std::string Command::Value(const std::string& long_name) const {
  for (const Entry& e : entries_)
    if (e.long_name == long_name && !e.opt->results().empty()) return e.opt->results().front();
  return "";
}

namespace {

// CLI11's messages for the commonest mistakes, said as the tools say the
// others ("--max-late x: expected a number"); any other as it is.
std::string Reworded(const CLI::App& app, const std::string& what) {
  auto starts = [&](std::string_view p) { return what.rfind(p, 0) == 0; };
  if (starts("Could not convert: ")) {  // "Could not convert: --max-late = x"
    std::string rest = what.substr(19);
    size_t eq = rest.find(" = ");
    if (eq != std::string::npos) {
      std::string name = rest.substr(0, eq);
      const CLI::Option* opt = app.get_option_no_throw(name);
      bool integer = opt && opt->get_type_name() == "INT";
      return fmt::format("{} {}: expected {}", name, rest.substr(eq + 3), integer ? "an integer" : "a number");
    }
  }
  size_t colon = what.find(": ");
  if (colon != std::string::npos && starts("-")) {
    std::string name = what.substr(0, colon), rest = what.substr(colon + 2);
    if (rest.rfind("At Most 1 required but received ", 0) == 0)  // a value option given twice
      return fmt::format("{} given {} times: give it once", name, rest.substr(32));
    if (size_t req = rest.find(" required "); req != std::string::npos && rest.find(" missing") != std::string::npos)
      return rest.compare(0, req, "1") == 0 ? fmt::format("{} needs a value", name)
                                            : fmt::format("{} needs {} values", name, rest.substr(0, req));
  }
  return what;
}

}  // namespace

ParseOutcome Command::Parse(int argc, char** argv) {
  ParseOutcome r;
  auto empty_value = [&](const Entry& e) {
    r.run = false;
    r.exit_code = kExitUsage;
    r.err = fmt::format("{}: error: {}: empty value (expected {})\nTry '{} --help' for more information.\n", name_,
                        e.long_name.empty() ? e.short_name : e.long_name, e.spec.value, name_);
    return r;
  };
  // "--ttl=" (an unset variable after the '='): CLI11 would take the next
  // word as its value.
  for (int i = 1; i < argc; i++) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (a.size() < 4 || a.substr(0, 2) != "--" || a.back() != '=') continue;
    for (const Entry& e : entries_)
      if (e.long_name == a.substr(0, a.size() - 1) && !e.spec.value.empty() && !e.empty_ok) return empty_value(e);
  }
  try {
    app_.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    r.run = false;
    r.exit_code = kExitUsage;
    r.err = fmt::format("{}: error: {}\nTry '{} --help' for more information.\n", name_, Reworded(app_, e.what()), name_);
    return r;
  }
  // An empty value is no value: --ttl "" would otherwise read as --ttl not
  // given (an unset shell variable, a template's empty field).
  for (const Entry& e : entries_) {
    if (e.spec.value.empty() || e.spec.optional_value || e.empty_ok) continue;
    for (const std::string& v : e.opt->results())
      if (v.empty()) return empty_value(e);
  }
  if (help_) {
    r.run = false;
    r.out = Help();
  } else if (version_) {
    r.run = false;
    r.out = fmt::format("{} (kpipe) {}\nlibrdkafka {}\n", name_, KPIPE_VERSION, rd_kafka_version_str());
  } else if (!generate_.empty()) {
    r.run = false;
    if (generate_ == "bash" || generate_ == "zsh" || generate_ == "fish") {
      r.out = Completion(generate_);
    } else if (generate_ == "flags") {
      r.out = FlagList();
    } else {
      r.exit_code = kExitUsage;
      r.err = fmt::format("{}: --generate: expected bash, zsh, fish or flags\n", name_);
    }
  }
  return r;
}

std::string Command::Help() const {
  std::string h = fmt::format("Usage: {} {}\n{}\n\nOptions:\n", name_, synopsis_, about_);
  for (const Entry& e : entries_) {
    std::string left = e.short_name.empty() ? "    " : e.short_name;
    if (!e.short_name.empty() && !e.long_name.empty()) left += ", ";
    left += e.long_name;
    if (!e.spec.value.empty())
      left += e.spec.optional_value ? " [" + e.spec.value + "]" : " " + e.spec.value;
    if (left.size() < 28) {
      h += fmt::format("  {:<28}{}\n", left, e.spec.help);
    } else {
      h += fmt::format("  {}\n  {:<28}{}\n", left, "", e.spec.help);
    }
  }
  h += fmt::format("\nSee {}(1) for details and examples; exit statuses in kpipe(7).\n", name_);
  return h;
}

std::vector<std::string> Command::ValueFlags() const {
  std::vector<std::string> names;
  for (const Entry& e : entries_) {
    if (e.spec.value.empty() || e.spec.optional_value) continue;
    if (!e.short_name.empty()) names.push_back(e.short_name);
    if (!e.long_name.empty()) names.push_back(e.long_name);
  }
  return names;
}

std::string Command::FlagList() const {
  std::string out;
  for (const Entry& e : entries_) {
    if (!e.short_name.empty()) out += e.short_name + "\n";
    if (!e.long_name.empty()) out += e.long_name + "\n";
  }
  return out;
}

std::string Command::Completion(const std::string& shell) const {
  std::string out;
  if (shell == "bash") {
    std::string fn = "_" + name_;
    std::string all, file_opts, dir_opts, value_opts;
    out += fmt::format("# bash completion for {} (generated by `{} --generate=bash`)\n", name_, name_);
    out += fmt::format("{}() {{\n  local cur prev\n  cur=\"${{COMP_WORDS[COMP_CWORD]}}\"\n", fn);
    out += "  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n  case \"$prev\" in\n";
    for (const Entry& e : entries_) {
      for (const std::string& n : {e.short_name, e.long_name}) {
        if (n.empty()) continue;
        all += (all.empty() ? "" : " ") + n;
      }
      if (e.spec.value.empty() || e.spec.optional_value) continue;
      std::string pat = e.short_name.empty() ? e.long_name
                        : e.long_name.empty() ? e.short_name
                                              : e.short_name + "|" + e.long_name;
      std::string action;
      switch (e.spec.complete) {
        case Complete::kFile: action = "COMPREPLY=($(compgen -f -- \"$cur\"))"; break;
        case Complete::kDir: action = "COMPREPLY=($(compgen -d -- \"$cur\"))"; break;
        case Complete::kChoices: {
          std::string words;
          for (const auto& c : e.spec.choices) words += (words.empty() ? "" : " ") + c;
          action = fmt::format("COMPREPLY=($(compgen -W '{}' -- \"$cur\"))", words);
          break;
        }
        case Complete::kNone: action = "COMPREPLY=()"; break;
      }
      out += fmt::format("    {}) {}; return ;;\n", pat, action);
    }
    out += "  esac\n";
    out += fmt::format("  if [[ \"$cur\" == -* ]]; then\n    COMPREPLY=($(compgen -W '{}' -- \"$cur\"))\n", all);
    out += words_.bash.empty() ? "  else\n    COMPREPLY=($(compgen -f -- \"$cur\"))\n  fi\n}\n"
                               : "  else\n" + words_.bash + "  fi\n}\n";
    out += fmt::format("complete -o filenames -F {} {}\n", fn, name_);
  } else if (shell == "zsh") {
    out += fmt::format("#compdef {}\n# zsh completion for {} (generated by `{} --generate=zsh`)\n\n", name_, name_, name_);
    if (!words_.zsh_after.empty()) out += "local context state state_descr line\n";
    out += words_.zsh_after.empty() ? "_arguments -s -S \\\n" : "_arguments -C -s -S \\\n";
    for (const Entry& e : entries_) {
      std::string action;
      if (!e.spec.value.empty()) {
        std::string what;
        switch (e.spec.complete) {
          case Complete::kFile: what = "_files"; break;
          case Complete::kDir: what = "_files -/"; break;
          case Complete::kChoices: {
            what = "(";
            for (const auto& c : e.spec.choices) what += (what.size() > 1 ? " " : "") + c;
            what += ")";
            break;
          }
          case Complete::kNone: what = " "; break;
        }
        action = fmt::format("{}{}:{}", e.spec.optional_value ? "::" : ":", e.spec.value, what);
      }
      std::string rep = e.repeatable ? "*" : "";
      std::string help = ZshEscape(e.spec.help);
      if (!e.short_name.empty() && !e.long_name.empty()) {
        out += fmt::format("  '{}({} {})'{{{},{}}}'[{}]{}' \\\n", rep, e.short_name, e.long_name,
                           e.short_name, e.long_name, help, action);
      } else {
        std::string n = e.short_name.empty() ? e.long_name : e.short_name;
        out += fmt::format("  '{}{}[{}]{}' \\\n", rep, n, help, action);
      }
    }
    std::string pos = positional_complete_ == Complete::kFile ? "_files" : " ";
    if (words_.zsh_spec.empty())
      out += fmt::format("  '*:{}:{}'\n", positional_name_.empty() ? "arg" : positional_name_, pos);
    else
      out += "  " + words_.zsh_spec + "\n" + words_.zsh_after;
  } else if (shell == "fish") {
    out += fmt::format("# fish completion for {} (generated by `{} --generate=fish`)\n", name_, name_);
    for (const Entry& e : entries_) {
      std::string line = "complete -c " + name_;
      if (!e.short_name.empty()) line += " -s " + e.short_name.substr(1);
      if (!e.long_name.empty()) line += " -l " + e.long_name.substr(2);
      if (!e.spec.value.empty()) {
        switch (e.spec.complete) {
          case Complete::kFile: line += " -r -F"; break;
          case Complete::kDir: line += " -r -a '(__fish_complete_directories)'"; break;
          case Complete::kChoices: {
            std::string words;
            for (const auto& c : e.spec.choices) words += (words.empty() ? "" : " ") + c;
            line += " -x -a " + ShellQuote(words);
            break;
          }
          case Complete::kNone: line += e.spec.optional_value ? " -f" : " -x"; break;
        }
      }
      line += " -d " + ShellQuote(e.spec.help);
      out += line + "\n";
    }
    out += words_.fish;
  }
  return out;
}

}  // namespace kpipe::cli
