// Group members (kwindow, kagg; kpipe(7), SCALING): their flags, and the
// operator a member runs: one instance of the tool's per partition, under
// the rule that keeps a group on one partition.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/agg/aggregate.h"
#include "kpipe/cli/flags.h"
#include "kpipe/json/text.h"
#include "kpipe/status.h"
#include "kpipe/stream/partitioned.h"
#include "kpipe/stream/runner.h"
#include "tools/common/event_flags.h"

namespace kpipe::tools {

inline void AddMemberFlags(cli::Command* cmd, KafkaIoFlags* k) {
  cmd->Option({"--instance", "NAME", "With -G: this member's stable name in the group (group.instance.id)"},
              &k->instance);
  cmd->Option({"--changelog", "TOPIC", "With -G: the topic of the members' state (default GROUP-TOOL-changelog)"},
              &k->changelog);
}

// The rule: a record's message key is its group, either as kpipe keys its
// own rows ({"user":"u1"}) or, with one --by field, that field's value
// (u1, or its JSON text "u1"). A record that breaks it is bad input.
inline PartitionedOperator::Check MessageKeyCheck(agg::GroupKey by, std::string group) {
  struct Scratch {
    agg::GroupKey by;
    std::string group, values, fields, quoted;
  };
  auto s = std::make_shared<Scratch>();
  s->by = std::move(by);
  s->group = std::move(group);
  return [s](const RecordIn& r) -> Status {
    s->by.Extract(r.value, &s->values);
    std::string_view key = r.key;  // the envelope's, unescaped by the parse
    if (!r.has_key)
      return Status::BadInput(fmt::format(
          "the record has no message key; with -G {} each group is read by one member, so the message key must "
          "be the group ({}) (kpipe(7), SCALING)", s->group, s->values));
    if (s->by.size() == 1 && json::KeyNamesValue(key, s->values)) return Status::OK();
    s->fields.assign(1, '{');
    s->by.AppendFields(&s->fields, s->values);
    s->fields.push_back('}');
    if (key == s->fields) return Status::OK();
    s->quoted.clear();
    json::AppendQuoted(&s->quoted, key);
    return Status::BadInput(fmt::format(
        "the message key {} is not the record's group {}; with -G {} each group is read by one member, so the "
        "message key must be the group (kpipe(7), SCALING)", s->quoted, s->fields, s->group));
  };
}

// The operator of the run: `make()`'s, or for a group member one of them
// per partition. `tool` and `by` name what a member needs.
template <typename Make>
Result<Operator*> MemberOperator(const RunnerOptions& r, const char* tool, const agg::GroupKey& by, Make make) {
  if (!r.members) return make().release();
  if (by.empty())
    return Status::Usage(fmt::format(
        "-G {} on a kafka: input splits the partitions among the group's members, and each group must stay on "
        "one: {} needs --by, the fields of the message key (kpipe(7), SCALING)", r.kafka_io.group, tool));
  return new PartitionedOperator([make] { return std::unique_ptr<Operator>(make()); }, r.max_delay,
                                 MessageKeyCheck(by, r.kafka_io.group));
}

}  // namespace kpipe::tools
