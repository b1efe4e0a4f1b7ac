// kadmin: topics, consumer groups, the cluster and ACLs through the Kafka
// Admin API, as JSON lines or a table. See kadmin(1).
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstdint>
#include <functional>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kpipe/cli/exit_codes.h"
#include "kpipe/cli/flags.h"
#include "kpipe/io/signals.h"
#include "kpipe/json/output.h"
#include "kpipe/json/rows.h"
#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/client.h"
#include "kpipe/time/time.h"
#include "tools/common/durations.h"
#include "tools/common/kafka_flags.h"
#include "tools/common/report.h"

namespace {

using kpipe::Result;
using kpipe::Status;
namespace admin = kpipe::admin;

// The subcommands, in the order --help and the completions list them.
const std::vector<std::pair<std::string, std::vector<std::string>>> kVerbs = {
    {"topic", {"list", "describe", "create", "delete", "add-partitions", "config", "trim"}},
    {"group", {"list", "describe", "seek", "delete"}},
    {"cluster", {}},
    {"acl", {"list", "create", "delete"}},
};

struct Flags {
  std::vector<std::string> words;
  std::string output, timeout = "30s";
  int64_t partitions = -1, replicas = -1, num = -1;
  std::vector<std::string> configs, deletes;
  bool if_not_exists = false, if_exists = false, internal = false, all = false, dry_run = false;
  std::string before, to;
  std::string principal, host, operation, topic, group, pattern;
  bool allow = false, deny = false, cluster = false;
};

std::string Join(const std::vector<std::string>& words, const char* sep) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

std::vector<std::string> Subjects() {
  std::vector<std::string> s;
  for (const auto& [subject, verbs] : kVerbs) s.push_back(subject);
  return s;
}

// Which subcommands each flag of a subcommand belongs to.
const std::map<std::string, std::vector<std::string>> kFlagUse = {
    {"--partitions", {"topic create"}},
    {"--replicas", {"topic create"}},
    {"--topic-config", {"topic create"}},
    {"--if-not-exists", {"topic create"}},
    {"--if-exists", {"topic delete"}},
    {"--internal", {"topic list"}},
    {"--all", {"topic describe", "topic config"}},
    {"--delete", {"topic config"}},
    {"--num", {"topic add-partitions"}},
    {"--before", {"topic trim"}},
    {"--dry-run", {"topic create", "topic trim", "group seek"}},
    {"--to", {"group seek"}},
    {"--principal", {"acl list", "acl create", "acl delete"}},
    {"--host", {"acl list", "acl create", "acl delete"}},
    {"--operation", {"acl list", "acl create", "acl delete"}},
    {"--allow", {"acl list", "acl create", "acl delete"}},
    {"--deny", {"acl list", "acl create", "acl delete"}},
    {"--topic", {"acl list", "acl create", "acl delete"}},
    {"--group", {"acl list", "acl create", "acl delete"}},
    {"--cluster", {"acl list", "acl create", "acl delete"}},
    {"--pattern", {"acl list", "acl create", "acl delete"}},
};

Status ParseInt(const std::string& flag, const std::string& text, int64_t* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (ec != std::errc() || p != text.data() + text.size())
    return Status::Usage(fmt::format("{} {}: expected a number", flag, text));
  return Status::OK();
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "orders" or "orders:0,2".
Status ParseSelection(const std::string& arg, admin::TopicSelection* sel) {
  size_t colon = arg.find(':');
  sel->topic = arg.substr(0, colon);
  if (sel->topic.empty()) return Status::Usage(fmt::format("{}: no topic name", arg));
  if (colon == std::string::npos) return Status::OK();
  std::string_view list = std::string_view(arg).substr(colon + 1);
  while (true) {
    size_t comma = list.find(',');
    std::string_view n = list.substr(0, comma);
    int32_t p;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), p);
    if (n.empty() || ec != std::errc() || end != n.data() + n.size() || p < 0)
      return Status::Usage(fmt::format("{}: expected TOPIC or TOPIC:P[,P...]", arg));
    sel->partitions.push_back(p);
    if (comma == std::string_view::npos) break;
    list = list.substr(comma + 1);
  }
  return Status::OK();
}

Status ParseProperty(const std::string& flag, const std::string& kv, kpipe::Properties* out) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return Status::Usage(fmt::format("{} {}: expected KEY=VALUE", flag, kv));
  out->emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  return Status::OK();
}

// A time as --to and --before take it: @TIME, or RFC 3339, "now", "-1h".
Status ParseTime(const std::string& flag, std::string text, int64_t* out) {
  std::string time = !text.empty() && text[0] == '@' ? text.substr(1) : text;
  auto t = kpipe::ParseTimePoint(time, kpipe::NowMs());
  if (!t.ok()) return Status::Usage(fmt::format("{} {}: {}", flag, text, t.status().message()));
  *out = *t;
  return Status::OK();
}

Status ParseSeekTarget(const std::string& s, admin::SeekTarget* t) {
  using T = admin::SeekTarget;
  if (s == "earliest" || s == "beginning") *t = {T::kEarliest, 0};
  else if (s == "latest" || s == "end") *t = {T::kLatest, 0};
  else if (AllDigits(s)) { t->kind = T::kOffset; return ParseInt("--to", s, &t->value); }
  else if (s[0] == '-' && AllDigits(s.substr(1))) { t->kind = T::kBeforeEnd; return ParseInt("--to", s.substr(1), &t->value); }
  else { t->kind = T::kTime; return ParseTime("--to", s, &t->value); }
  return Status::OK();
}

Status ParseTrimPoint(const std::string& s, admin::TrimPoint* t) {
  using T = admin::TrimPoint;
  if (s.empty()) return Status::Usage("topic trim needs --before OFFSET, --before @TIME or --before end");
  if (s == "end") *t = {T::kEnd, 0};
  else if (AllDigits(s)) { t->kind = T::kOffset; return ParseInt("--before", s, &t->value); }
  else if (s[0] == '-' && AllDigits(s.substr(1)))
    return Status::Usage(fmt::format("--before {}: an offset is 0 or more (a time before now needs a unit: -1h)", s));
  else { t->kind = T::kTime; return ParseTime("--before", s, &t->value); }
  return Status::OK();
}

template <typename E>
Status ParseName(const std::string& flag, const std::string& text, const std::vector<std::pair<std::string, E>>& names,
                 E* out) {
  std::string choices;
  for (const auto& [n, v] : names) {
    if (n == text) {
      *out = v;
      return Status::OK();
    }
    choices += (choices.empty() ? "" : ", ") + n;
  }
  return Status::Usage(fmt::format("{} {}: expected one of {}", flag, text, choices));
}

const std::vector<std::pair<std::string, rd_kafka_AclOperation_t>> kOperations = {
    {"all", RD_KAFKA_ACL_OPERATION_ALL},
    {"read", RD_KAFKA_ACL_OPERATION_READ},
    {"write", RD_KAFKA_ACL_OPERATION_WRITE},
    {"create", RD_KAFKA_ACL_OPERATION_CREATE},
    {"delete", RD_KAFKA_ACL_OPERATION_DELETE},
    {"alter", RD_KAFKA_ACL_OPERATION_ALTER},
    {"describe", RD_KAFKA_ACL_OPERATION_DESCRIBE},
    {"cluster-action", RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION},
    {"describe-configs", RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS},
    {"alter-configs", RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS},
    {"idempotent-write", RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE},
};
const std::vector<std::pair<std::string, rd_kafka_ResourcePatternType_t>> kPatterns = {
    {"literal", RD_KAFKA_RESOURCE_PATTERN_LITERAL},
    {"prefixed", RD_KAFKA_RESOURCE_PATTERN_PREFIXED},
    {"match", RD_KAFKA_RESOURCE_PATTERN_MATCH},
    {"any", RD_KAFKA_RESOURCE_PATTERN_ANY},
};

// The ACL (create) or filter (list, delete) that the acl flags describe.
Status ResolveAcl(const Flags& f, bool create, admin::Acl* acl) {
  int resources = !f.topic.empty() + !f.group.empty() + f.cluster;
  if (resources > 1) return Status::Usage("--topic, --group and --cluster exclude each other");
  if (f.allow && f.deny) return Status::Usage("--allow and --deny exclude each other");
  if (!f.topic.empty()) acl->resource_type = RD_KAFKA_RESOURCE_TOPIC, acl->resource = f.topic;
  if (!f.group.empty()) acl->resource_type = RD_KAFKA_RESOURCE_GROUP, acl->resource = f.group;
  if (f.cluster) acl->resource_type = RD_KAFKA_RESOURCE_BROKER, acl->resource = "kafka-cluster";
  acl->principal = f.principal;
  acl->host = f.host;
  if (!f.operation.empty()) KPIPE_RETURN_IF_ERROR(ParseName("--operation", f.operation, kOperations, &acl->operation));
  if (!f.pattern.empty()) KPIPE_RETURN_IF_ERROR(ParseName("--pattern", f.pattern, kPatterns, &acl->pattern));
  if (f.allow) acl->permission = RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
  if (f.deny) acl->permission = RD_KAFKA_ACL_PERMISSION_TYPE_DENY;
  if (!create) return Status::OK();
  // A binding names everything; what a user leaves out takes kafka-acls.sh's defaults.
  if (resources == 0) return Status::Usage("acl create needs --topic NAME, --group NAME or --cluster");
  if (f.principal.empty()) return Status::Usage("acl create needs --principal (User:NAME)");
  if (f.operation.empty()) return Status::Usage("acl create needs --operation");
  if (acl->host.empty()) acl->host = "*";
  if (f.pattern.empty()) acl->pattern = RD_KAFKA_RESOURCE_PATTERN_LITERAL;
  if (acl->pattern != RD_KAFKA_RESOURCE_PATTERN_LITERAL && acl->pattern != RD_KAFKA_RESOURCE_PATTERN_PREFIXED)
    return Status::Usage("acl create: --pattern must be literal or prefixed");
  if (!f.deny) acl->permission = RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
  return Status::OK();
}

// What a subcommand does once connected, with every flag and argument
// checked and typed before.
using Action = std::function<Status(rd_kafka_t* rk, int timeout_ms, kpipe::json::RowWriter* out)>;

// Binds a subcommand's typed arguments to `call`, an admin:: function
// called as call(rk, args..., timeout_ms, out).
template <typename F, typename... A>
Action Bind(F call, A... args) {
  return [=](rd_kafka_t* rk, int timeout_ms, kpipe::json::RowWriter* out) { return call(rk, args..., timeout_ms, out); };
}

// Checks the arguments and the flags of the subcommand (CheckWords has
// checked the words) and returns what it does.
Result<Action> Resolve(const Flags& f, const kpipe::cli::Command& cmd) {
  const std::string& subject = f.words[0];
  std::string verb = f.words.size() > 1 ? f.words[1] : "";
  std::vector<std::string> args(f.words.begin() + std::min<size_t>(2, f.words.size()), f.words.end());
  if (subject == "cluster") {
    if ((!verb.empty() && verb != "describe") || f.words.size() > 2) return Status::Usage("cluster takes no arguments");
    return Bind(admin::DescribeCluster);
  }
  std::string name = subject + " " + verb;
  auto want = [&](size_t min, size_t max, const char* what) -> Status {
    if (args.size() < min || args.size() > max)
      return Status::Usage(fmt::format("{} takes {}", name, what));
    return Status::OK();
  };
  if (subject == "topic") {
    if (verb == "list") {
      KPIPE_RETURN_IF_ERROR(want(0, 0, "no arguments"));
      return Bind(admin::ListTopics, f.internal);
    }
    if (verb == "describe") return Bind(admin::DescribeTopics, args, f.all);
    if (verb == "create") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "TOPIC..."));
      if (cmd.Given("--partitions") && (f.partitions < 1 || f.partitions > admin::kMaxPartitions))
        return Status::Usage(fmt::format("-p must be a partition count from 1 to {}", admin::kMaxPartitions));
      if (cmd.Given("--replicas") && (f.replicas < 1 || f.replicas > INT16_MAX))
        return Status::Usage(fmt::format("-r must be a replication factor from 1 to {}", INT16_MAX));
      kpipe::Properties configs;
      for (const std::string& c : f.configs) KPIPE_RETURN_IF_ERROR(ParseProperty("-c", c, &configs));
      std::vector<admin::NewTopic> topics;
      for (const std::string& t : args)
        topics.push_back({t, static_cast<int>(f.partitions), static_cast<int>(f.replicas), configs});
      return Bind(admin::CreateTopics, topics, f.if_not_exists, f.dry_run);
    }
    if (verb == "delete") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "TOPIC..."));
      return Bind(admin::DeleteTopics, args, f.if_exists);
    }
    if (verb == "add-partitions") {
      KPIPE_RETURN_IF_ERROR(want(1, 1, "one TOPIC"));
      if (f.num < 1 || f.num > admin::kMaxPartitions)
        return Status::Usage(fmt::format("topic add-partitions needs -n N, N from 1 to {}", admin::kMaxPartitions));
      return Bind(admin::AddPartitions, args[0], static_cast<int>(f.num));
    }
    if (verb == "config") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "TOPIC [KEY=VALUE...]"));
      kpipe::Properties set;
      for (size_t i = 1; i < args.size(); i++) KPIPE_RETURN_IF_ERROR(ParseProperty("topic config", args[i], &set));
      if (set.empty() && f.deletes.empty()) return Bind(admin::TopicConfigs, args[0], f.all);
      if (f.all) return Status::Usage("--all shows configs; it does not go with changes");
      for (const std::string& d : f.deletes)
        for (const auto& [k, v] : set)
          if (k == d) return Status::Usage(fmt::format("topic config: {} is both set and deleted", d));
      return Bind(admin::AlterTopicConfigs, args[0], set, f.deletes);
    }
    if (verb == "trim") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "TOPIC[:P,...]..."));
      admin::TrimPoint point;
      KPIPE_RETURN_IF_ERROR(ParseTrimPoint(f.before, &point));
      std::vector<admin::TopicSelection> parts(args.size());
      for (size_t i = 0; i < args.size(); i++) KPIPE_RETURN_IF_ERROR(ParseSelection(args[i], &parts[i]));
      return Bind(admin::TrimPartitions, parts, point, f.dry_run);
    }
  } else if (subject == "group") {
    if (verb == "list") {
      KPIPE_RETURN_IF_ERROR(want(0, 0, "no arguments"));
      return Bind(admin::ListGroups);
    }
    if (verb == "describe") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "GROUP..."));
      return Bind(admin::DescribeGroups, args);
    }
    if (verb == "seek") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "GROUP [TOPIC[:P,...]...]"));
      if (f.to.empty()) return Status::Usage("group seek needs --to earliest|latest|OFFSET|-N|TIME");
      admin::SeekTarget target;
      KPIPE_RETURN_IF_ERROR(ParseSeekTarget(f.to, &target));
      std::vector<admin::TopicSelection> topics(args.size() - 1);
      for (size_t i = 1; i < args.size(); i++) KPIPE_RETURN_IF_ERROR(ParseSelection(args[i], &topics[i - 1]));
      return Bind(admin::SeekGroup, args[0], target, topics, f.dry_run);
    }
    if (verb == "delete") {
      KPIPE_RETURN_IF_ERROR(want(1, SIZE_MAX, "GROUP..."));
      return Bind(admin::DeleteGroups, args);
    }
  } else if (subject == "acl") {
    KPIPE_RETURN_IF_ERROR(want(0, 0, "no arguments (the ACL is given by flags)"));
    admin::Acl acl;
    KPIPE_RETURN_IF_ERROR(ResolveAcl(f, verb == "create", &acl));
    if (verb == "list") return Bind(admin::ListAcls, acl);
    if (verb == "create") return Bind(admin::CreateAcl, acl);
    if (verb == "delete") return Bind(admin::DeleteAcls, acl);
  }
  return Status::Internal("unreachable: " + name);
}

// The subject and verb are known words, and every flag of a subcommand
// belongs to this one. Done before connecting, so usage errors are quick.
Status CheckWords(const Flags& f, const kpipe::cli::Command& cmd) {
  std::string all = Join(Subjects(), ", ");
  if (f.words.empty()) return Status::Usage(fmt::format("no subcommand given: expected {}", all));
  const std::string& subject = f.words[0];
  auto it = std::find_if(kVerbs.begin(), kVerbs.end(), [&](auto& v) { return v.first == subject; });
  if (it == kVerbs.end()) return Status::Usage(fmt::format("unknown subcommand '{}': expected {}", subject, all));
  std::string name = subject;
  if (!it->second.empty()) {
    std::string verbs = Join(it->second, ", ");
    if (f.words.size() < 2) return Status::Usage(fmt::format("{}: expected {}", subject, verbs));
    if (std::find(it->second.begin(), it->second.end(), f.words[1]) == it->second.end())
      return Status::Usage(fmt::format("unknown subcommand '{} {}': expected {}", subject, f.words[1], verbs));
    name += " " + f.words[1];
  }
  for (const auto& [flag, uses] : kFlagUse) {
    if (!cmd.Given(flag) || std::find(uses.begin(), uses.end(), name) != uses.end()) continue;
    return Status::Usage(fmt::format("{} goes with {}, not with {}", flag, Join(uses, ", "), name));
  }
  return Status::OK();
}

// Completion of the words: subcommands, then topic and group names asked
// of the broker that the environment and config files name.
kpipe::cli::Command::WordCompletion Words(const kpipe::cli::Command& cmd) {
  std::string subjects = Join(Subjects(), " "), valued = Join(cmd.ValueFlags(), "|");
  const char* topics = "kadmin topic list -o json 2>/dev/null | sed -n 's/^{\"topic\":\"\\([^\"]*\\)\".*/\\1/p'";
  const char* groups = "kadmin group list -o json 2>/dev/null | sed -n 's/^{\"group\":\"\\([^\"]*\\)\".*/\\1/p'";
  kpipe::cli::Command::WordCompletion w;
  w.bash = fmt::format(
      "    local i w n=0 skip=0 subject= verb=\n"
      "    for ((i=1; i<COMP_CWORD; i++)); do\n"
      "      w=${{COMP_WORDS[i]}}\n"
      "      if ((skip)); then skip=0; continue; fi\n"
      "      case $w in\n"
      "        {}) skip=1; continue ;;\n"
      "        -*) continue ;;\n"
      "      esac\n"
      "      n=$((n+1)); ((n==1)) && subject=$w; ((n==2)) && verb=$w\n"
      "    done\n"
      "    case $n in\n"
      "      0) COMPREPLY=($(compgen -W '{}' -- \"$cur\")) ;;\n"
      "      1) case $subject in\n",
      valued, subjects);
  for (const auto& [s, verbs] : kVerbs)
    if (!verbs.empty()) w.bash += fmt::format("           {}) COMPREPLY=($(compgen -W '{}' -- \"$cur\")) ;;\n", s, Join(verbs, " "));
  w.bash += fmt::format(
      "         esac ;;\n"
      "      *) case $subject/$verb in\n"
      "           topic/list|topic/create) COMPREPLY=() ;;\n"
      "           topic/*) COMPREPLY=($(compgen -W \"$({})\" -- \"$cur\")) ;;\n"
      "           group/list) COMPREPLY=() ;;\n"
      "           group/*) COMPREPLY=($(compgen -W \"$({})\" -- \"$cur\")) ;;\n"
      "         esac ;;\n"
      "    esac\n",
      topics, groups);
  w.zsh_spec = "'*::word:->words'";
  w.zsh_after = fmt::format(
      "case $state in\n"
      "  words)\n"
      "    case $CURRENT in\n"
      "      1) compadd {} ;;\n"
      "      2) case $words[1] in\n",
      subjects);
  for (const auto& [s, verbs] : kVerbs)
    if (!verbs.empty()) w.zsh_after += fmt::format("           {}) compadd {} ;;\n", s, Join(verbs, " "));
  w.zsh_after += fmt::format(
      "         esac ;;\n"
      "      *) case $words[1]/$words[2] in\n"
      "           topic/list|topic/create|group/list) ;;\n"
      "           topic/*) compadd ${{(f)\"$({})\"}} ;;\n"
      "           group/*) compadd ${{(f)\"$({})\"}} ;;\n"
      "         esac ;;\n"
      "    esac ;;\n"
      "esac\n",
      topics, groups);
  w.fish = fmt::format("complete -c kadmin -n __fish_use_subcommand -x -a '{}'\n", subjects);
  for (const auto& [s, verbs] : kVerbs) {
    if (verbs.empty()) continue;
    std::string vs = Join(verbs, " ");
    w.fish += fmt::format("complete -c kadmin -n '__fish_seen_subcommand_from {0}; and not __fish_seen_subcommand_from {1}' -x -a '{1}'\n", s, vs);
  }
  w.fish +=
      "complete -c kadmin -n '__fish_seen_subcommand_from topic; and __fish_seen_subcommand_from describe delete "
      "add-partitions config trim' -x -a '(kadmin topic list -o json 2>/dev/null | string replace -rf "
      "\\'^\\\\{\"topic\":\"([^\"]*)\".*\\' \\'$1\\')'\n"
      "complete -c kadmin -n '__fish_seen_subcommand_from group; and __fish_seen_subcommand_from describe seek "
      "delete' -x -a '(kadmin group list -o json 2>/dev/null | string replace -rf "
      "\\'^\\\\{\"group\":\"([^\"]*)\".*\\' \\'$1\\')'\n";
  return w;
}

}  // namespace

int main(int argc, char** argv) {
  kpipe::SignalWatch signals;  // first: librdkafka's threads inherit the mask
  Flags f;
  kpipe::KafkaFlags kafka;
  using kpipe::cli::Complete;
  kpipe::cli::Command cmd("kadmin", "[OPTIONS] topic|group|cluster|acl [SUBCOMMAND] [ARGS...]",
                          "Manage Kafka topics, consumer groups and ACLs; describe the cluster.");
  cmd.Option({"-o,--output", "FORMAT", "json (JSON lines) or table; default: table on a terminal, else json",
              Complete::kChoices, {"json", "table"}},
             &f.output);
  cmd.Option({"--timeout", "DURATION", "Longest wait for the broker's answer (default 30s)"}, &f.timeout);
  cmd.Option({"-p,--partitions", "N", "topic create: partitions (default: the broker's num.partitions)"},
             &f.partitions);
  cmd.Option({"-r,--replicas", "N", "topic create: replication factor (default: the broker's)"}, &f.replicas);
  cmd.Repeated({"-c,--topic-config", "KEY=VALUE", "topic create: a topic config (repeatable)"}, &f.configs);
  cmd.Switch({"--if-not-exists", "", "topic create: an existing topic is not an error"}, &f.if_not_exists);
  cmd.Switch({"--if-exists", "", "topic delete: a missing topic is not an error"}, &f.if_exists);
  cmd.Switch({"--internal", "", "topic list: internal topics too (__consumer_offsets ...)"}, &f.internal);
  cmd.Switch({"--all", "", "topic describe, config: every config, defaults too"}, &f.all);
  cmd.Repeated({"--delete", "KEY", "topic config: remove a config, back to its default (repeatable)"},
               &f.deletes);
  cmd.Option({"-n,--num", "N", "topic add-partitions: how many partitions to add"}, &f.num);
  cmd.Option({"--before", "OFFSET|@TIME|end", "topic trim: delete the records before this point"}, &f.before);
  cmd.Switch({"--dry-run", "", "topic create, trim, group seek: show what would be done, change nothing"},
             &f.dry_run);
  cmd.Option({"--to", "WHERE", "group seek: earliest, latest, OFFSET, -N (N before the end) or TIME"}, &f.to);
  cmd.Option({"--principal", "PRINCIPAL", "acl: the principal (User:alice)"}, &f.principal);
  cmd.Option({"--host", "HOST", "acl: the client host (create: default *)"}, &f.host);
  cmd.Option({"--operation", "OP", "acl: read, write, create, delete, alter, describe, all, ...",
              Complete::kChoices,
              {"all", "read", "write", "create", "delete", "alter", "describe", "cluster-action",
               "describe-configs", "alter-configs", "idempotent-write"}},
             &f.operation);
  cmd.Switch({"--allow", "", "acl: allow (the default of create)"}, &f.allow);
  cmd.Switch({"--deny", "", "acl: deny"}, &f.deny);
  cmd.Option({"--topic", "NAME", "acl: the topic resource"}, &f.topic);
  cmd.Option({"--group", "NAME", "acl: the consumer group resource"}, &f.group);
  cmd.Switch({"--cluster", "", "acl: the cluster resource"}, &f.cluster);
  cmd.Option({"--pattern", "TYPE", "acl: literal (create's default), prefixed; list, delete: also match, any",
              Complete::kChoices, {"literal", "prefixed", "match", "any"}},
             &f.pattern);
  kpipe::tools::AddKafkaFlags(&cmd, &kafka);
  cmd.Positional("WORDS", "The subcommand and its arguments (topic create NAME...)", &f.words, Complete::kNone);
  cmd.CompleteWords(Words(cmd));

  kpipe::tools::Diag diag("kadmin");
  int exit_code;
  if (!kpipe::tools::ShouldRun(cmd.Parse(argc, argv), diag, &exit_code)) return exit_code;

  Status st = CheckWords(f, cmd);
  kpipe::json::RowFormat format = isatty(1) ? kpipe::json::RowFormat::kTable : kpipe::json::RowFormat::kJson;
  if (st.ok() && !f.output.empty()) {
    if (f.output == "json") format = kpipe::json::RowFormat::kJson;
    else if (f.output == "table") format = kpipe::json::RowFormat::kTable;
    else st = Status::Usage(fmt::format("-o {}: expected json or table", f.output));
  }
  Result<Action> action = st.ok() ? Resolve(f, cmd) : Result<Action>(st);
  if (!action.ok()) st = action.status();
  int64_t timeout_ms = 30000;
  if (st.ok()) st = kpipe::tools::DurationFlag("--timeout", f.timeout, &timeout_ms, kpipe::tools::DurationIs::kPositive);
  // librdkafka takes admin timeouts of at most an hour.
  if (st.ok() && timeout_ms > 3600000) st = Status::Usage(fmt::format("--timeout {}: at most 1h", f.timeout));
  kpipe::KafkaHandle rk;
  kpipe::ClientEvents events;
  if (st.ok()) {
    // A consumer handle: the offsets it asks for are the partitions' real
    // ends (read_uncommitted), as kconsume -L shows them.
    auto props = kpipe::ResolveProperties(kafka, {{"isolation.level", "read_uncommitted"}});
    if (!props.ok()) st = props.status();
    if (st.ok()) {
      auto c = kpipe::Connect(RD_KAFKA_CONSUMER, *props, &events, kafka.verbose ? diag.line() : nullptr,
                              "client configuration", static_cast<int>(std::min<int64_t>(timeout_ms, 10000)));
      if (c.ok()) rk = std::move(*c);
      else st = c.status();
    }
  }
  kpipe::Output out(1, "stdout");
  kpipe::json::RowWriter rows(&out, format);
  if (st.ok()) st = (*action)(rk.get(), static_cast<int>(timeout_ms), &rows);
  if (st.Is(Status::Code::kBrokenPipe)) return kpipe::kExitOk;  // `| head`: quiet
  if (!st.ok()) (void)rows.Flush();  // what succeeded before the failure
  return kpipe::tools::ReportStatus(diag, st);
}
