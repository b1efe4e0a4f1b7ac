// kadmin topic ... and kconsume -L (admin.h).
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/admin_call.h"
#include "kpipe/kafka/client.h"

namespace kpipe::admin {
namespace {

bool IsInternal(const char* topic) { return topic[0] == '_' && topic[1] == '_'; }

// The topics of `md` named in `names` (every non-internal one when empty,
// or every one with `internal`), by name; NotFound for a name not there,
// or, with `missing`, that one is added there and left out.
Result<std::vector<const rd_kafka_metadata_topic*>> SelectTopics(const rd_kafka_metadata_t* md,
                                                                const std::vector<std::string>& names,
                                                                bool internal, Failures* missing = nullptr) {
  std::vector<const rd_kafka_metadata_topic*> topics;
  for (int i = 0; i < md->topic_cnt; i++) {
    const rd_kafka_metadata_topic* t = &md->topics[i];
    if (!names.empty() && std::find(names.begin(), names.end(), t->topic) == names.end()) continue;
    if (names.empty() && !internal && IsInternal(t->topic)) continue;
    if (t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;  // named below
    topics.push_back(t);
  }
  for (const std::string& name : names) {
    if (std::any_of(topics.begin(), topics.end(), [&](auto* t) { return name == t->topic; })) continue;
    std::string why = fmt::format("topic '{}' does not exist", name);
    if (!missing) return Status::NotFound(why);
    missing->Add(why, true);
  }
  std::sort(topics.begin(), topics.end(),
            [](auto* a, auto* b) { return std::string_view(a->topic) < b->topic; });
  return topics;
}

// One topic: a request for it alone; several or none: every topic's.
Result<Metadata> MetadataFor(rd_kafka_t* rk, const std::vector<std::string>& names, int timeout_ms) {
  return FetchMetadata(rk, names.size() == 1 ? names[0] : "", timeout_ms);
}

std::vector<int64_t> Ids(const int32_t* ids, int n) { return std::vector<int64_t>(ids, ids + n); }

std::string SourceName(rd_kafka_ConfigSource_t s) {
  std::string n = rd_kafka_ConfigSource_name(s);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  return n;
}

}  // namespace

Status ListTopics(rd_kafka_t* rk, bool internal, int timeout_ms, json::RowWriter* out) {
  auto md = FetchMetadata(rk, "", timeout_ms);
  if (!md.ok()) return md.status();
  auto topics = SelectTopics(md->get(), {}, internal);
  if (!topics.ok()) return topics.status();
  for (const rd_kafka_metadata_topic* t : *topics) {
    int replicas = t->partition_cnt > 0 ? t->partitions[0].replica_cnt : 0;
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("topic", t->topic)
                                       .Int("partitions", t->partition_cnt)
                                       .Int("replicas", replicas)
                                       .Bool("internal", IsInternal(t->topic))));
  }
  return out->Flush();
}

Status ListPartitions(rd_kafka_t* rk, const std::vector<std::string>& names, int timeout_ms,
                      json::RowWriter* out, Failures* missing, std::vector<std::string>* found) {
  auto md = MetadataFor(rk, names, timeout_ms);
  if (!md.ok()) return md.status();
  auto topics = SelectTopics(md->get(), names, false, missing);
  if (!topics.ok()) return topics.status();
  if (found)
    for (const rd_kafka_metadata_topic* t : *topics) found->push_back(t->topic);
  // Every partition's offsets in one lookup per end.
  std::vector<std::pair<const rd_kafka_metadata_topic*, const rd_kafka_metadata_partition*>> rows;
  std::vector<PartitionRef> refs;
  for (const rd_kafka_metadata_topic* t : *topics) {
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
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("topic", t->topic)
                                       .Int("partition", p->id)
                                       .Int("leader", p->leader)
                                       .Ints("replicas", Ids(p->replicas, p->replica_cnt))
                                       .Ints("isr", Ids(p->isrs, p->isr_cnt))
                                       .Int("low", lo)
                                       .Int("high", hi)
                                       .Int("messages", hi - lo)));
  }
  return out->Flush();
}

Status TopicConfigs(rd_kafka_t* rk, const std::string& topic, bool all, int timeout_ms,
                    json::RowWriter* out) {
  auto set = DescribeConfigs(rk, RD_KAFKA_RESOURCE_TOPIC, topic, timeout_ms, fmt::format("topic '{}'", topic));
  if (!set.ok()) return set.status();
  std::vector<const rd_kafka_ConfigEntry_t*> entries(set->entries, set->entries + set->count);
  std::sort(entries.begin(), entries.end(), [](auto* a, auto* b) {
    return std::string_view(rd_kafka_ConfigEntry_name(a)) < rd_kafka_ConfigEntry_name(b);
  });
  for (const rd_kafka_ConfigEntry_t* e : entries) {
    rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);
    if (!all && src == RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG) continue;
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("topic", topic)
                                       .Str("config", rd_kafka_ConfigEntry_name(e))
                                       .StrOrNull("value", rd_kafka_ConfigEntry_value(e))
                                       .Str("source", SourceName(src))));
  }
  return out->Flush();
}

Status DescribeTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, bool all_configs,
                      int timeout_ms, json::RowWriter* out) {
  // Every topic that exists is described; each one that does not is named.
  Failures missing;
  std::vector<std::string> names;
  KPIPE_RETURN_IF_ERROR(ListPartitions(rk, topics, timeout_ms, out, &missing, &names));
  for (const std::string& t : names) KPIPE_RETURN_IF_ERROR(TopicConfigs(rk, t, all_configs, timeout_ms, out));
  return missing.status();
}

Status CreateTopics(rd_kafka_t* rk, const std::vector<NewTopic>& topics, bool if_not_exists,
                    bool validate_only, int timeout_ms, json::RowWriter* out) {
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> reqs;
  auto destroy = [&] { rd_kafka_NewTopic_destroy_array(reqs.data(), reqs.size()); };
  for (const NewTopic& t : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replicas, err, sizeof err);
    if (!nt) {
      destroy();
      return Status::Usage(fmt::format("topic '{}': {}", t.name, err));
    }
    reqs.push_back(nt);
    for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  }
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, "create topics", [&](auto* o, auto* q) {
    if (validate_only) rd_kafka_AdminOptions_set_validate_only(o, 1, err, sizeof err);
    rd_kafka_CreateTopics(rk, reqs.data(), reqs.size(), o, q);
  });
  destroy();
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_topic_result_t** rs = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev->get()), &n);
  auto answers = TopicAnswers(rs, n);
  Outcome how{"topic", validate_only ? "valid" : "created", RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
              if_not_exists ? "exists" : nullptr, RD_KAFKA_RESP_ERR_NO_ERROR};
  return WriteAnswers(answers, how, [](const Answer& a) {
    return a.err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS
               ? fmt::format("topic '{}' already exists (give --if-not-exists to let it pass)", a.name)
               : fmt::format("topic '{}': {}", a.name, a.message);
  }, out);
}

Status EnsureTopic(rd_kafka_t* rk, const NewTopic& t, int timeout_ms, int* partitions) {
  auto ids = TopicPartitions(rk, t.name, timeout_ms);
  if (ids.ok()) {
    *partitions = static_cast<int>(ids->size());
    return Status::OK();
  }
  if (!ids.status().Is(Status::Code::kNotFound)) return ids.status();
  char err[512];
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replicas, err, sizeof err);
  if (!nt) return Status::Usage(fmt::format("topic '{}': {}", t.name, err));
  for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms, "create a topic",
                [&](auto* o, auto* q) { rd_kafka_CreateTopics(rk, &nt, 1, o, q); });
  rd_kafka_NewTopic_destroy(nt);
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_topic_result_t** rs = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev->get()), &n);
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(rs[i]);
    if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
      return Status::Kafka(fmt::format("create topic '{}': {}", t.name, rd_kafka_topic_result_error_string(rs[i])));
  }
  // Metadata may lag behind the creation for a moment.
  for (int tries = 0;; tries++) {
    auto now = TopicPartitions(rk, t.name, timeout_ms);
    if (now.ok() && !now->empty()) {
      *partitions = static_cast<int>(now->size());
      return Status::OK();
    }
    if (tries >= 50) return now.ok() ? Status::Kafka(fmt::format("topic '{}' has no partitions", t.name)) : now.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Status DeleteTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, bool if_exists,
                    int timeout_ms, json::RowWriter* out) {
  std::vector<rd_kafka_DeleteTopic_t*> reqs;
  for (const std::string& t : topics) reqs.push_back(rd_kafka_DeleteTopic_new(t.c_str()));
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout_ms, "delete topics",
                [&](auto* o, auto* q) { rd_kafka_DeleteTopics(rk, reqs.data(), reqs.size(), o, q); });
  rd_kafka_DeleteTopic_destroy_array(reqs.data(), reqs.size());
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_topic_result_t** rs = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev->get()), &n);
  auto answers = TopicAnswers(rs, n);
  Outcome how{"topic", "deleted", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, if_exists ? "absent" : nullptr,
              RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART};
  return WriteAnswers(answers, how, [](const Answer& a) {
    return a.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ? fmt::format("topic '{}' does not exist", a.name)
                                                            : fmt::format("topic '{}': {}", a.name, a.message);
  }, out);
}

Status AddPartitions(rd_kafka_t* rk, const std::string& topic, int count, int timeout_ms,
                     json::RowWriter* out) {
  auto before = TopicPartitions(rk, topic, timeout_ms);
  if (!before.ok()) return before.status();
  int64_t total = static_cast<int64_t>(before->size()) + count;
  if (total > kMaxPartitions)
    return Status::Usage(fmt::format("topic '{}' has {} partitions: {} more would be more than {}", topic,
                                     before->size(), count, kMaxPartitions));
  char err[512];
  rd_kafka_NewPartitions_t* np =
      rd_kafka_NewPartitions_new(topic.c_str(), static_cast<size_t>(total), err, sizeof err);
  if (!np) return Status::Usage(fmt::format("topic '{}': {}", topic, err));
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS, timeout_ms, "add partitions",
                [&](auto* o, auto* q) { rd_kafka_CreatePartitions(rk, &np, 1, o, q); });
  rd_kafka_NewPartitions_destroy(np);
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_topic_result_t** rs =
      rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev->get()), &n);
  for (size_t i = 0; i < n; i++)
    if (rd_kafka_topic_result_error(rs[i]))
      return Status::Kafka(fmt::format("topic '{}': {}", topic, rd_kafka_topic_result_error_string(rs[i])));
  KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                     .Str("topic", topic)
                                     .Int("partitions_before", static_cast<int64_t>(before->size()))
                                     .Int("partitions", total)));
  return out->Flush();
}

Status AlterTopicConfigs(rd_kafka_t* rk, const std::string& topic, const Properties& set,
                         const std::vector<std::string>& remove, int timeout_ms, json::RowWriter* out) {
  auto current = DescribeConfigs(rk, RD_KAFKA_RESOURCE_TOPIC, topic, timeout_ms, fmt::format("topic '{}'", topic));
  if (!current.ok()) return current.status();
  // What is set on the topic itself, changed as asked (the legacy
  // AlterConfigs replaces the topic's whole set).
  std::map<std::string, std::string> keep;
  for (size_t i = 0; i < current->count; i++) {
    const rd_kafka_ConfigEntry_t* e = current->entries[i];
    if (rd_kafka_ConfigEntry_source(e) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG) continue;
    if (const char* v = rd_kafka_ConfigEntry_value(e)) keep[rd_kafka_ConfigEntry_name(e)] = v;
  }
  for (const std::string& k : remove) {
    const rd_kafka_ConfigEntry_t* entry = nullptr;
    for (size_t i = 0; i < current->count && !entry; i++)
      if (k == rd_kafka_ConfigEntry_name(current->entries[i])) entry = current->entries[i];
    if (!entry) return Status::Kafka(fmt::format("topic '{}' has no config '{}'", topic, k));
    // Nothing to delete: said, as a change that would not be made.
    if (rd_kafka_ConfigEntry_source(entry) != RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
      return Status::Kafka(fmt::format("topic '{}' does not set '{}' itself (its value comes from {}): nothing to delete",
                                       topic, k, SourceName(rd_kafka_ConfigEntry_source(entry))));
    keep.erase(k);
  }
  for (const auto& [k, v] : set) keep[k] = v;
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
  for (const auto& [k, v] : keep) rd_kafka_ConfigResource_set_config(res, k.c_str(), v.c_str());
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_ALTERCONFIGS, timeout_ms, "alter configs",
                [&](auto* o, auto* q) { rd_kafka_AlterConfigs(rk, &res, 1, o, q); });
  rd_kafka_ConfigResource_destroy(res);
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_ConfigResource_t** rs =
      rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev->get()), &n);
  for (size_t i = 0; i < n; i++)
    if (rd_kafka_ConfigResource_error(rs[i]))
      return Status::Kafka(fmt::format("topic '{}': {}", topic, rd_kafka_ConfigResource_error_string(rs[i])));
  for (const auto& [k, v] : set)
    KPIPE_RETURN_IF_ERROR(
        out->Add(json::Row().Str("topic", topic).Str("config", k).Str("value", v).Str("action", "set")));
  std::set<std::string_view> deleted;  // a key given twice is one change
  for (const std::string& k : remove)
    if (deleted.insert(k).second)
      KPIPE_RETURN_IF_ERROR(
          out->Add(json::Row().Str("topic", topic).Str("config", k).Null("value").Str("action", "delete")));
  return out->Flush();
}

Status TrimPartitions(rd_kafka_t* rk, const std::vector<TopicSelection>& parts, TrimPoint point,
                      bool dry_run, int timeout_ms, json::RowWriter* out) {
  // Over several partitions it does what it can: a row for each one
  // trimmed, every failure named (kadmin(1), EXIT STATUS).
  Failures failures;
  auto selected = SelectedPartitions(rk, parts, timeout_ms, &failures);
  if (!selected.ok()) return selected.status();
  auto all_marks = QueryWatermarks(rk, *selected, timeout_ms);
  if (!all_marks.ok()) return all_marks.status();
  // A topic whose cleanup.policy lacks delete refuses DeleteRecords (the
  // broker says only "policy violation"): named here, also in a dry run.
  // (Configs this user may not read leave it to the broker.)
  std::map<std::string, bool> deletable;
  for (const PartitionRef& r : *selected) {
    if (deletable.count(r.topic)) continue;
    auto set = DescribeConfigs(rk, RD_KAFKA_RESOURCE_TOPIC, r.topic, timeout_ms, fmt::format("topic '{}'", r.topic));
    bool yes = true;
    for (size_t i = 0; set.ok() && i < set->count; i++) {
      const char* value = rd_kafka_ConfigEntry_value(set->entries[i]);
      if (std::string_view(rd_kafka_ConfigEntry_name(set->entries[i])) == "cleanup.policy" && value)
        yes = std::string_view(value).find("delete") != std::string_view::npos;
    }
    deletable[r.topic] = yes;
    if (!yes)
      failures.Add(fmt::format("topic '{}' has cleanup.policy=compact: records can be deleted only from a topic "
                               "whose cleanup.policy holds delete",
                               r.topic));
  }
  // The partitions that can be cut, their watermarks, and where to.
  std::vector<PartitionRef> refs;
  std::vector<Watermarks> marks;
  for (size_t i = 0; i < selected->size(); i++) {
    const PartitionRef& r = (*selected)[i];
    const Watermarks& m = (*all_marks)[i];
    if (!deletable[r.topic]) continue;
    if (point.kind == TrimPoint::kOffset && point.value > m.high) {
      failures.Add(fmt::format("{}:{}: offset {} is past the end ({})", r.topic, r.partition, point.value, m.high));
      continue;
    }
    refs.push_back(r);
    marks.push_back(m);
  }
  PartitionList cut(rd_kafka_topic_partition_list_new(static_cast<int>(refs.size())));
  for (size_t i = 0; i < refs.size(); i++) {
    int64_t to = marks[i].high;
    if (point.kind == TrimPoint::kOffset) to = std::max(point.value, marks[i].low);
    if (point.kind == TrimPoint::kTime) to = point.value;  // looked up below
    rd_kafka_topic_partition_list_add(cut.get(), refs[i].topic.c_str(), refs[i].partition)->offset = to;
  }
  std::vector<int64_t> lows(refs.size(), -1);  // -1: not trimmed (a failure)
  if (point.kind == TrimPoint::kTime && !refs.empty()) {
    rd_kafka_resp_err_t e = OffsetsForTimes(rk, cut.get(), timeout_ms);
    // An error of some partitions is theirs alone (named below); one of
    // the call fails the whole trim.
    bool theirs = false;
    for (int i = 0; i < cut->cnt; i++) theirs |= cut->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e && !theirs) return KafkaStatus(e, "look up offsets by time");
  }
  for (size_t i = 0; i < refs.size(); i++) {
    rd_kafka_topic_partition_t* tp = &cut->elems[i];
    if (point.kind == TrimPoint::kTime) {
      if (tp->err) {
        failures.Add(fmt::format("{}:{}: offset by time: {}", tp->topic, tp->partition, rd_kafka_err2str(tp->err)));
        continue;  // lows[i] stays -1: left out of the request below
      }
      // No record at or after the time: every record is before it.
      if (tp->offset < 0) tp->offset = marks[i].high;
      tp->offset = std::max(tp->offset, marks[i].low);
    }
    lows[i] = tp->offset;
  }
  if (!dry_run) {
    PartitionList ask(rd_kafka_topic_partition_list_new(static_cast<int>(refs.size())));
    for (size_t i = 0; i < refs.size(); i++)
      if (lows[i] >= 0)
        rd_kafka_topic_partition_list_add(ask.get(), refs[i].topic.c_str(), refs[i].partition)->offset = lows[i];
    if (ask->cnt > 0) {
      rd_kafka_DeleteRecords_t* req = rd_kafka_DeleteRecords_new(ask.get());
      auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DELETERECORDS, timeout_ms, "delete records",
                    [&](auto* o, auto* q) { rd_kafka_DeleteRecords(rk, &req, 1, o, q); });
      rd_kafka_DeleteRecords_destroy(req);
      if (!ev.ok()) return ev.status();
      const rd_kafka_topic_partition_list_t* res =
          rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev->get()));
      for (int i = 0; res && i < res->cnt; i++) {
        const rd_kafka_topic_partition_t* tp = &res->elems[i];
        for (size_t j = 0; j < refs.size(); j++) {
          if (refs[j].topic != tp->topic || refs[j].partition != tp->partition) continue;
          if (tp->err) {
            failures.Add(fmt::format("{}:{}: {}", tp->topic, tp->partition, rd_kafka_err2str(tp->err)));
            lows[j] = -1;
          } else {
            lows[j] = tp->offset;
          }
        }
      }
    }
  }
  for (size_t i = 0; i < refs.size(); i++) {
    if (lows[i] < 0) continue;
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row()
                                       .Str("topic", refs[i].topic)
                                       .Int("partition", refs[i].partition)
                                       .Int("low_before", marks[i].low)
                                       .Int("low", lows[i])));
  }
  KPIPE_RETURN_IF_ERROR(out->Flush());
  return failures.status();
}

}  // namespace kpipe::admin
