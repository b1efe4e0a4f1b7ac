// kadmin group ... and kconsume --lag (admin.h).
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/admin_call.h"
#include "kpipe/kafka/client.h"

namespace kpipe::admin {
namespace {

using TopicPartition = std::pair<std::string, int32_t>;
using Committed = std::map<TopicPartition, int64_t>;

std::string StateName(rd_kafka_consumer_group_state_t s) {
  switch (s) {
    case RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE: return "PreparingRebalance";
    case RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE: return "CompletingRebalance";
    case RD_KAFKA_CONSUMER_GROUP_STATE_STABLE: return "Stable";
    case RD_KAFKA_CONSUMER_GROUP_STATE_DEAD: return "Dead";
    case RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY: return "Empty";
    default: return "Unknown";
  }
}

// The offsets `group` has committed, through the admin API.
Result<Committed> CommittedOffsets(rd_kafka_t* rk, const std::string& group, int timeout_ms) {
  rd_kafka_ListConsumerGroupOffsets_t* req = rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, timeout_ms, "list consumer group offsets",
                [&](auto* o, auto* q) { rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q); });
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(
      rd_kafka_event_ListConsumerGroupOffsets_result(ev->get()), &n);
  Committed committed;
  for (size_t g = 0; g < n; g++) {
    if (const rd_kafka_error_t* ge = rd_kafka_group_result_error(groups[g]))
      return Status::Kafka(fmt::format("group '{}': {}", group, rd_kafka_error_string(ge)));
    const rd_kafka_topic_partition_list_t* pl = rd_kafka_group_result_partitions(groups[g]);
    for (int i = 0; pl && i < pl->cnt; i++)
      if (pl->elems[i].offset >= 0) committed[{pl->elems[i].topic, pl->elems[i].partition}] = pl->elems[i].offset;
  }
  return committed;
}

// GroupLag's rows for every partition of `names`.
// The member that owns each assigned partition: its instance id (static
// membership), else its member id.
using Owners = std::map<std::pair<std::string, int32_t>, std::string>;

Status WriteLag(rd_kafka_t* rk, const std::string& group, const Committed& committed,
                const std::vector<std::string>& names, int timeout_ms, const Owners* owners, json::RowWriter* out) {
  std::vector<PartitionRef> refs;
  for (const std::string& t : names) {
    auto ps = TopicPartitions(rk, t, timeout_ms);
    if (!ps.ok()) return ps.status();
    std::vector<int32_t> sorted = *ps;
    std::sort(sorted.begin(), sorted.end());
    for (int32_t p : sorted) refs.push_back({t, p});
  }
  auto marks = QueryWatermarks(rk, refs, timeout_ms);
  if (!marks.ok()) return marks.status();
  for (size_t i = 0; i < refs.size(); i++) {
    int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
    auto it = committed.find({refs[i].topic, refs[i].partition});
    json::Row row;
    row.Str("group", group).Str("topic", refs[i].topic).Int("partition", refs[i].partition);
    if (it != committed.end())
      row.Int("committed", it->second).Int("end", hi).Int("lag", std::max<int64_t>(0, hi - it->second));
    else
      row.Null("committed").Int("end", hi).Int("lag", hi - lo);
    if (owners) {
      auto o = owners->find({refs[i].topic, refs[i].partition});
      row.StrOrNull("member", o == owners->end() ? nullptr : o->second.c_str());
    }
    KPIPE_RETURN_IF_ERROR(out->Add(row));
  }
  return Status::OK();
}

std::vector<std::string> CommittedTopics(const Committed& committed) {
  std::vector<std::string> names;
  for (const auto& [tp, off] : committed)
    if (names.empty() || names.back() != tp.first) names.push_back(tp.first);
  return names;
}

// DescribeConsumerGroups of one group: the event that owns the description.
struct GroupDescription {
  Event event;
  const rd_kafka_ConsumerGroupDescription_t* desc = nullptr;
};
Result<GroupDescription> Describe(rd_kafka_t* rk, const std::string& group, int timeout_ms,
                                  bool* answered = nullptr) {
  const char* name = group.c_str();
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS, timeout_ms, "describe consumer groups",
                [&](auto* o, auto* q) { rd_kafka_DescribeConsumerGroups(rk, &name, 1, o, q); });
  if (!ev.ok()) return ev.status();
  if (answered) *answered = true;
  size_t n;
  const rd_kafka_ConsumerGroupDescription_t** ds = rd_kafka_DescribeConsumerGroups_result_groups(
      rd_kafka_event_DescribeConsumerGroups_result(ev->get()), &n);
  if (n != 1) return Status::Kafka(fmt::format("describe consumer groups: no answer for group '{}'", group));
  if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(ds[0]))
    return Status::Kafka(fmt::format("group '{}': {}", group, rd_kafka_error_string(e)));
  return GroupDescription{std::move(*ev), ds[0]};
}

Owners OwnersOf(const rd_kafka_ConsumerGroupDescription_t* desc) {
  Owners owners;
  size_t members = rd_kafka_ConsumerGroupDescription_member_count(desc);
  for (size_t i = 0; i < members; i++) {
    const rd_kafka_MemberDescription_t* m = rd_kafka_ConsumerGroupDescription_member(desc, i);
    const rd_kafka_topic_partition_list_t* pl =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    const char* instance = rd_kafka_MemberDescription_group_instance_id(m);
    std::string who = instance && *instance ? instance : rd_kafka_MemberDescription_consumer_id(m);
    for (int j = 0; pl && j < pl->cnt; j++) owners[{pl->elems[j].topic, pl->elems[j].partition}] = who;
  }
  return owners;
}

}  // namespace

Status ListGroups(rd_kafka_t* rk, int timeout_ms, json::RowWriter* out) {
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, timeout_ms, "list consumer groups",
                [&](auto* o, auto* q) { rd_kafka_ListConsumerGroups(rk, o, q); });
  if (!ev.ok()) return ev.status();
  const rd_kafka_ListConsumerGroups_result_t* res = rd_kafka_event_ListConsumerGroups_result(ev->get());
  size_t nerr;
  const rd_kafka_error_t** errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
  if (nerr > 0) return Status::Kafka(fmt::format("list consumer groups: {}", rd_kafka_error_string(errs[0])));
  size_t n;
  const rd_kafka_ConsumerGroupListing_t** gs = rd_kafka_ListConsumerGroups_result_valid(res, &n);
  std::vector<const rd_kafka_ConsumerGroupListing_t*> sorted(gs, gs + n);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) {
    return std::string_view(rd_kafka_ConsumerGroupListing_group_id(a)) < rd_kafka_ConsumerGroupListing_group_id(b);
  });
  for (const rd_kafka_ConsumerGroupListing_t* g : sorted)
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("group", rd_kafka_ConsumerGroupListing_group_id(g))
                                       .Str("state", StateName(rd_kafka_ConsumerGroupListing_state(g)))
                                       .Bool("simple", rd_kafka_ConsumerGroupListing_is_simple_consumer_group(g))));
  return out->Flush();
}

Status GroupLag(rd_kafka_t* rk, const std::string& group, const std::vector<std::string>& topics,
                int timeout_ms, json::RowWriter* out) {
  auto committed = CommittedOffsets(rk, group, timeout_ms);
  if (!committed.ok()) return committed.status();
  auto d = Describe(rk, group, timeout_ms);
  if (!d.ok()) return d.status();
  Owners owners = OwnersOf(d->desc);
  // A partition the group never committed is unread, not absent.
  KPIPE_RETURN_IF_ERROR(WriteLag(rk, group, *committed, topics.empty() ? CommittedTopics(*committed) : topics,
                                 timeout_ms, &owners, out));
  return out->Flush();
}

Status DescribeGroups(rd_kafka_t* rk, const std::vector<std::string>& groups, int timeout_ms,
                      json::RowWriter* out) {
  // Every group that exists is described; each one that does not, or that
  // the broker would not describe, is named.
  Failures failures;
  for (const std::string& group : groups) {
    bool answered = false;  // else the call failed as a whole, as it would for the next group
    auto d = Describe(rk, group, timeout_ms, &answered);
    if (!d.ok() && !answered) {
      failures.Add(d.status().message());  // after the failures before it
      return failures.status();
    }
    if (!d.ok()) {
      failures.Add(d.status().message());
      continue;
    }
    auto committed = CommittedOffsets(rk, group, timeout_ms);
    if (!committed.ok()) {
      failures.Add(committed.status().message());
      return failures.status();
    }
    const rd_kafka_ConsumerGroupDescription_t* desc = d->desc;
    size_t members = rd_kafka_ConsumerGroupDescription_member_count(desc);
    rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(desc);
    if (members == 0 && committed->empty() && state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD) {
      failures.Add(fmt::format("group '{}' does not exist", group), /*not_found=*/true);
      continue;
    }
    const rd_kafka_Node_t* coord = rd_kafka_ConsumerGroupDescription_coordinator(desc);
    json::Row head;
    head.Str("group", group).Str("state", StateName(state));
    head.Str("assignor", rd_kafka_ConsumerGroupDescription_partition_assignor(desc));
    head.IntOrNull("coordinator", coord ? rd_kafka_Node_id(coord) : -1);
    head.Int("members", static_cast<int64_t>(members));
    KPIPE_RETURN_IF_ERROR(out->Add(head));
    std::set<std::string> topics;
    for (const std::string& t : CommittedTopics(*committed)) topics.insert(t);
    for (size_t i = 0; i < members; i++) {
      const rd_kafka_MemberDescription_t* m = rd_kafka_ConsumerGroupDescription_member(desc, i);
      const rd_kafka_topic_partition_list_t* pl =
          rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
      std::vector<TopicPartition> assigned;
      for (int j = 0; pl && j < pl->cnt; j++) assigned.emplace_back(pl->elems[j].topic, pl->elems[j].partition);
      std::sort(assigned.begin(), assigned.end());
      std::vector<std::string> names;
      for (const auto& [t, p] : assigned) {
        names.push_back(fmt::format("{}:{}", t, p));
        topics.insert(t);
      }
      const char* instance = rd_kafka_MemberDescription_group_instance_id(m);
      KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                         .Str("group", group)
                                         .Str("member_id", rd_kafka_MemberDescription_consumer_id(m))
                                         .Str("client_id", rd_kafka_MemberDescription_client_id(m))
                                         .Str("host", rd_kafka_MemberDescription_host(m))
                                         .StrOrNull("instance_id", instance && *instance ? instance : nullptr)
                                         .Strs("partitions", names)));
    }
    Owners owners = OwnersOf(desc);
    KPIPE_RETURN_IF_ERROR(WriteLag(rk, group, *committed, std::vector<std::string>(topics.begin(), topics.end()),
                                   timeout_ms, &owners, out));
  }
  KPIPE_RETURN_IF_ERROR(out->Flush());
  return failures.status();
}

Status SeekGroup(rd_kafka_t* rk, const std::string& group, SeekTarget target,
                 const std::vector<TopicSelection>& topics, bool dry_run, int timeout_ms,
                 json::RowWriter* out) {
  auto d = Describe(rk, group, timeout_ms);
  if (!d.ok()) return d.status();
  size_t members = rd_kafka_ConsumerGroupDescription_member_count(d->desc);
  if (members > 0)
    return Status::Kafka(fmt::format("group '{}' has {} active member{} (state {}): stop {} before a seek",
                                     group, members, members == 1 ? "" : "s",
                                     StateName(rd_kafka_ConsumerGroupDescription_state(d->desc)),
                                     members == 1 ? "it" : "them"));
  auto committed = CommittedOffsets(rk, group, timeout_ms);
  if (!committed.ok()) return committed.status();
  std::vector<PartitionRef> refs;
  if (topics.empty()) {
    if (committed->empty() && rd_kafka_ConsumerGroupDescription_state(d->desc) == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD)
      return Status::NotFound(
          fmt::format("group '{}' does not exist: name the topics to give it committed offsets", group));
    if (committed->empty())
      return Status::Usage(fmt::format("group '{}' has no committed offsets: name the topics to seek", group));
    for (const auto& [tp, off] : *committed) refs.push_back({tp.first, tp.second});
  } else {
    auto selected = SelectedPartitions(rk, topics, timeout_ms);
    if (!selected.ok()) return selected.status();
    refs = std::move(*selected);
  }
  auto marks = QueryWatermarks(rk, refs, timeout_ms);
  if (!marks.ok()) return marks.status();
  PartitionList to(rd_kafka_topic_partition_list_new(static_cast<int>(refs.size())));
  for (size_t i = 0; i < refs.size(); i++) {
    int64_t lo = (*marks)[i].low, hi = (*marks)[i].high, off = lo;
    switch (target.kind) {
      case SeekTarget::kEarliest: off = lo; break;
      case SeekTarget::kLatest: off = hi; break;
      case SeekTarget::kOffset: off = std::clamp(target.value, lo, hi); break;
      case SeekTarget::kBeforeEnd: off = std::max(lo, hi - target.value); break;
      case SeekTarget::kTime: off = target.value; break;
    }
    rd_kafka_topic_partition_list_add(to.get(), refs[i].topic.c_str(), refs[i].partition)->offset = off;
  }
  if (target.kind == SeekTarget::kTime) {
    rd_kafka_resp_err_t e = OffsetsForTimes(rk, to.get(), timeout_ms);
    if (e) return KafkaStatus(e, "look up offsets by time");
    for (int i = 0; i < to->cnt; i++) {
      if (to->elems[i].err)
        return KafkaStatus(to->elems[i].err, fmt::format("{}:{}: offset by time", refs[i].topic, refs[i].partition));
      if (to->elems[i].offset < 0) to->elems[i].offset = (*marks)[i].high;  // nothing at or after: the end
    }
  }
  // The broker commits each partition on its own: the rows of those it
  // moved are written, those it refused named.
  Failures failures;
  std::set<std::pair<std::string, int32_t>> refused;
  if (!dry_run && to->cnt > 0) {
    rd_kafka_AlterConsumerGroupOffsets_t* req = rd_kafka_AlterConsumerGroupOffsets_new(group.c_str(), to.get());
    auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS, timeout_ms, "alter consumer group offsets",
                  [&](auto* o, auto* q) { rd_kafka_AlterConsumerGroupOffsets(rk, &req, 1, o, q); });
    rd_kafka_AlterConsumerGroupOffsets_destroy(req);
    if (!ev.ok()) return ev.status();
    size_t n;
    const rd_kafka_group_result_t** gs = rd_kafka_AlterConsumerGroupOffsets_result_groups(
        rd_kafka_event_AlterConsumerGroupOffsets_result(ev->get()), &n);
    for (size_t g = 0; g < n; g++) {
      if (const rd_kafka_error_t* ge = rd_kafka_group_result_error(gs[g]))
        return Status::Kafka(fmt::format("group '{}': {}", group, rd_kafka_error_string(ge)));
      const rd_kafka_topic_partition_list_t* pl = rd_kafka_group_result_partitions(gs[g]);
      for (int i = 0; pl && i < pl->cnt; i++) {
        if (!pl->elems[i].err) continue;
        refused.emplace(pl->elems[i].topic, pl->elems[i].partition);
        failures.Add(fmt::format("{}:{}: {}", pl->elems[i].topic, pl->elems[i].partition,
                                 rd_kafka_err2str(pl->elems[i].err)));
      }
    }
  }
  for (int i = 0; i < to->cnt; i++) {
    if (refused.count({refs[i].topic, refs[i].partition})) continue;
    auto it = committed->find({refs[i].topic, refs[i].partition});
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("group", group)
                                       .Str("topic", refs[i].topic)
                                       .Int("partition", refs[i].partition)
                                       .IntOrNull("committed", it == committed->end() ? -1 : it->second)
                                       .Int("to", to->elems[i].offset)));
  }
  KPIPE_RETURN_IF_ERROR(out->Flush());
  return failures.status();
}

Status DeleteGroups(rd_kafka_t* rk, const std::vector<std::string>& groups, int timeout_ms,
                    json::RowWriter* out) {
  std::vector<rd_kafka_DeleteGroup_t*> reqs;
  for (const std::string& g : groups) reqs.push_back(rd_kafka_DeleteGroup_new(g.c_str()));
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DELETEGROUPS, timeout_ms, "delete groups",
                [&](auto* o, auto* q) { rd_kafka_DeleteGroups(rk, reqs.data(), reqs.size(), o, q); });
  rd_kafka_DeleteGroup_destroy_array(reqs.data(), reqs.size());
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_group_result_t** rs =
      rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev->get()), &n);
  std::vector<Answer> answers;
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_error_t* e = rd_kafka_group_result_error(rs[i]);
    answers.push_back({rd_kafka_group_result_name(rs[i]), e ? rd_kafka_error_code(e) : RD_KAFKA_RESP_ERR_NO_ERROR,
                       e ? rd_kafka_error_string(e) : ""});
  }
  Outcome how{"group", "deleted", RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND, nullptr, RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND};
  return WriteAnswers(answers, how, [](const Answer& a) {
    return a.err == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND ? fmt::format("group '{}' does not exist", a.name)
                                                         : fmt::format("group '{}': {}", a.name, a.message);
  }, out);
}

}  // namespace kpipe::admin
