#include "kpipe/kafka/listing.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kpipe/json/text.h"
#include "kpipe/kafka/client.h"

namespace kpipe {

Status ListPartitions(rd_kafka_t* rk, const std::vector<std::string>& names, int timeout_ms, Output* out) {
  // One topic: a request for it alone; several or none: every topic's.
  auto md = FetchMetadata(rk, names.size() == 1 ? names[0] : "", timeout_ms);
  if (!md.ok()) return md.status();
  std::vector<const rd_kafka_metadata_topic*> topics;
  for (int i = 0; i < (*md)->topic_cnt; i++) {
    const rd_kafka_metadata_topic* t = &(*md)->topics[i];
    if (!names.empty() && std::find(names.begin(), names.end(), t->topic) == names.end()) continue;
    if (names.empty() && t->topic[0] == '_' && t->topic[1] == '_') continue;  // internal
    if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
      return Status::NotFound(fmt::format("topic '{}' does not exist", t->topic));
    topics.push_back(t);
  }
  for (const std::string& name : names)
    if (std::none_of(topics.begin(), topics.end(), [&](auto* t) { return name == t->topic; }))
      return Status::NotFound(fmt::format("topic '{}' does not exist", name));
  std::sort(topics.begin(), topics.end(),
            [](auto* a, auto* b) { return std::string_view(a->topic) < b->topic; });
  // Every partition's offsets in one lookup per end.
  std::vector<std::pair<const rd_kafka_metadata_topic*, const rd_kafka_metadata_partition*>> rows;
  std::vector<PartitionRef> refs;
  for (const rd_kafka_metadata_topic* t : topics) {
    std::vector<const rd_kafka_metadata_partition*> ps;
    for (int p = 0; p < t->partition_cnt; p++) ps.push_back(&t->partitions[p]);
    std::sort(ps.begin(), ps.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (const rd_kafka_metadata_partition* p : ps) {
      rows.emplace_back(t, p);
      refs.push_back({t->topic, p->id});
    }
  }
  auto marks = QueryWatermarks(rk, refs, timeout_ms);
  if (!marks.ok()) return marks.status();
  for (size_t i = 0; i < rows.size(); i++) {
    const auto& [t, p] = rows[i];
    int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
    std::string* b = out->buffer();
    b->append("{\"topic\":");
    json::AppendQuoted(b, t->topic);
    fmt::format_to(std::back_inserter(*b), ",\"partition\":{},\"leader\":{},\"replicas\":[{}],\"isr\":[{}]",
                   p->id, p->leader, fmt::join(p->replicas, p->replicas + p->replica_cnt, ","),
                   fmt::join(p->isrs, p->isrs + p->isr_cnt, ","));
    fmt::format_to(std::back_inserter(*b), ",\"low\":{},\"high\":{},\"messages\":{}}}\n", lo, hi, hi - lo);
    KPIPE_RETURN_IF_ERROR(out->Commit());
  }
  return out->Flush();
}

Status ListGroupLag(rd_kafka_t* rk, const std::string& group,
                    const std::vector<std::string>& topics, int timeout_ms, Output* out) {
  // The group's committed offsets, through the admin API.
  rd_kafka_ListConsumerGroupOffsets_t* req =
      rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), nullptr);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* aopt =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  char err[256];
  rd_kafka_AdminOptions_set_request_timeout(aopt, timeout_ms, err, sizeof err);
  rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, aopt, q);
  rd_kafka_ListConsumerGroupOffsets_destroy(req);
  rd_kafka_AdminOptions_destroy(aopt);
  std::unique_ptr<rd_kafka_event_t, KafkaDeleter> ev(rd_kafka_queue_poll(q, timeout_ms + 5000));
  rd_kafka_queue_destroy(q);
  if (!ev) return Status::Kafka("list consumer group offsets: timed out");
  if (rd_kafka_event_error(ev.get()))
    return Status::Kafka(fmt::format("list consumer group offsets: {}", rd_kafka_event_error_string(ev.get())));
  const rd_kafka_ListConsumerGroupOffsets_result_t* res =
      rd_kafka_event_ListConsumerGroupOffsets_result(ev.get());
  size_t ngroups;
  const rd_kafka_group_result_t** groups = rd_kafka_ListConsumerGroupOffsets_result_groups(res, &ngroups);
  std::map<std::pair<std::string, int32_t>, int64_t> committed;
  for (size_t g = 0; g < ngroups; g++) {
    if (const rd_kafka_error_t* ge = rd_kafka_group_result_error(groups[g]))
      return Status::Kafka(fmt::format("group '{}': {}", group, rd_kafka_error_string(ge)));
    const rd_kafka_topic_partition_list_t* pl = rd_kafka_group_result_partitions(groups[g]);
    for (int i = 0; pl && i < pl->cnt; i++)
      committed[{pl->elems[i].topic, pl->elems[i].partition}] = pl->elems[i].offset;
  }
  // Every partition of the topics named, else of the topics the group has
  // committed in: a partition it never committed is unread, not absent.
  std::vector<std::string> names = topics;
  if (names.empty())
    for (const auto& [k, v] : committed)
      if (names.empty() || names.back() != k.first) names.push_back(k.first);
  std::vector<std::pair<std::string, int32_t>> rows;
  for (const std::string& t : names) {
    auto ps = TopicPartitions(rk, t, timeout_ms);
    if (!ps.ok()) return ps.status();
    std::vector<int32_t> sorted = *ps;
    std::sort(sorted.begin(), sorted.end());
    for (int32_t p : sorted) rows.emplace_back(t, p);
  }
  std::vector<PartitionRef> refs;
  for (const auto& [topic, p] : rows) refs.push_back({topic, p});
  auto marks = QueryWatermarks(rk, refs, timeout_ms);
  if (!marks.ok()) return marks.status();
  for (size_t i = 0; i < rows.size(); i++) {
    const auto& [topic, p] = rows[i];
    int64_t lo = (*marks)[i].low, hi = (*marks)[i].high;
    auto it = committed.find({topic, p});
    int64_t c = it == committed.end() ? -1 : it->second;
    std::string* b = out->buffer();
    b->append("{\"group\":");
    json::AppendQuoted(b, group);
    b->append(",\"topic\":");
    json::AppendQuoted(b, topic);
    if (c >= 0)
      fmt::format_to(std::back_inserter(*b), ",\"partition\":{},\"committed\":{},\"end\":{},\"lag\":{}}}\n",
                     p, c, hi, std::max<int64_t>(0, hi - c));
    else
      fmt::format_to(std::back_inserter(*b), ",\"partition\":{},\"committed\":null,\"end\":{},\"lag\":{}}}\n",
                     p, hi, hi - lo);
    KPIPE_RETURN_IF_ERROR(out->Commit());
  }
  return out->Flush();
}

}  // namespace kpipe
