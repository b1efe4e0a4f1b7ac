// The Kafka Admin API as kadmin(1) uses it: topics, consumer groups, the
// cluster and ACLs, each call writing its answer as rows (json/rows.h).
// kconsume -L and --lag are ListPartitions and GroupLag, so that both tools
// print the same rows from one implementation.
//
// Every function takes a connected client (`rk`, a producer handle) and
// `timeout_ms`, the longest it waits for one answer. Kafka errors come back
// as Status::Kafka with the broker's own message; a topic or group that does
// not exist as Status::NotFound. A call that changes several things (topics,
// groups) does all it can, writes a row for each success, and then returns
// an error that names every failure. Not thread-safe: one call at a time
// per client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/json/rows.h"
#include "kpipe/kafka/config.h"
#include "kpipe/status.h"

namespace kpipe::admin {

class Failures;  // admin_call.h

// A topic and some of its partitions (all of them when `partitions` is empty).
// The most partitions a topic can have (librdkafka's bound).
inline constexpr int64_t kMaxPartitions = 100000;

struct TopicSelection {
  std::string topic;
  std::vector<int32_t> partitions;
};

// ---- topics (admin_topics.cc) ----

// {"topic","partitions","replicas","internal"} per topic, by name; internal
// topics (__consumer_offsets, ...) only with `internal`.
Status ListTopics(rd_kafka_t* rk, bool internal, int timeout_ms, json::RowWriter* out);

// kconsume -L: one row per partition of `topics` (every non-internal topic
// when empty), by topic then partition:
// {"topic","partition","leader","replicas","isr","low","high","messages"}.
// NotFound for a topic that does not exist, or, with `missing`, that one is
// added there and the others listed; `found`, when given, gets the names of
// the topics listed, in order.
Status ListPartitions(rd_kafka_t* rk, const std::vector<std::string>& topics, int timeout_ms,
                      json::RowWriter* out, Failures* missing = nullptr, std::vector<std::string>* found = nullptr);

// The configs of `topic` as {"topic","config","value","source"}, by name:
// those set on the topic or the broker (source not DEFAULT_CONFIG), or all
// of them with `all`. Sensitive values are null.
Status TopicConfigs(rd_kafka_t* rk, const std::string& topic, bool all, int timeout_ms,
                    json::RowWriter* out);

// ListPartitions, then the TopicConfigs (set ones, or `all`) of each topic.
Status DescribeTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, bool all_configs,
                      int timeout_ms, json::RowWriter* out);

struct NewTopic {
  std::string name;
  int partitions = -1;  // -1: the broker's num.partitions
  int replicas = -1;    // -1: the broker's default.replication.factor
  Properties configs;   // topic configs (retention.ms=...)
};
// {"topic","status"} per topic, status "created", or "exists" when
// `if_not_exists` lets an existing topic pass. With `validate_only` the
// broker checks the request and creates nothing (status "valid").
Status CreateTopics(rd_kafka_t* rk, const std::vector<NewTopic>& topics, bool if_not_exists,
                    bool validate_only, int timeout_ms, json::RowWriter* out);

// {"topic","status"} per topic: "deleted", or "absent" when `if_exists`
// lets a missing topic pass.
// Creates topic `t` unless it exists; `*partitions` gets its partition
// count either way (a topic another process created meanwhile counts as
// existing).
Status EnsureTopic(rd_kafka_t* rk, const NewTopic& t, int timeout_ms, int* partitions);
Status DeleteTopics(rd_kafka_t* rk, const std::vector<std::string>& topics, bool if_exists,
                    int timeout_ms, json::RowWriter* out);

// Adds `count` partitions to `topic`: {"topic","partitions_before","partitions"}.
Status AddPartitions(rd_kafka_t* rk, const std::string& topic, int count, int timeout_ms,
                     json::RowWriter* out);

// Sets `set` and removes `remove` (back to the broker's default) among the
// configs of `topic`; the others set on the topic are kept.
// {"topic","config","value","action"} per change, action "set" or "delete".
// librdkafka 2.0.2 has no incremental AlterConfigs, so this reads the
// topic's dynamic configs and writes them back whole: a change made by
// someone else between the two requests is lost.
Status AlterTopicConfigs(rd_kafka_t* rk, const std::string& topic, const Properties& set,
                         const std::vector<std::string>& remove, int timeout_ms, json::RowWriter* out);

// Where `trim` cuts a partition: before an offset, before the first record
// at or after a time, or at the end (every record).
struct TrimPoint {
  enum Kind { kOffset, kTime, kEnd } kind = kEnd;
  int64_t value = 0;
};
// Deletes the records before the point (DeleteRecords) in each partition:
// {"topic","partition","low_before","low"}; with `dry_run`, low is where it
// would cut and nothing is deleted. A partition that does not exist, or
// whose end is before the offset, is an error naming it, and the others
// are trimmed all the same (their rows written, then the joined errors).
Status TrimPartitions(rd_kafka_t* rk, const std::vector<TopicSelection>& parts, TrimPoint point,
                      bool dry_run, int timeout_ms, json::RowWriter* out);

// ---- consumer groups (admin_groups.cc) ----

// {"group","state","simple"} per group, by name.
Status ListGroups(rd_kafka_t* rk, int timeout_ms, json::RowWriter* out);

// kconsume --lag: {"group","topic","partition","committed","end","lag"} per
// partition of `topics`, else of every topic the group has committed
// offsets in; committed null (and the lag every record the partition holds)
// where the group has none.
Status GroupLag(rd_kafka_t* rk, const std::string& group, const std::vector<std::string>& topics,
                int timeout_ms, json::RowWriter* out);

// Per group: {"group","state","assignor","coordinator","members"}, then per
// member {"group","member_id","client_id","host","instance_id","partitions"}
// (partitions as "topic:P"), then GroupLag's rows over the topics the group
// has committed or been assigned. NotFound for a group that has neither
// members nor committed offsets.
Status DescribeGroups(rd_kafka_t* rk, const std::vector<std::string>& groups, int timeout_ms,
                      json::RowWriter* out);

// Where `seek` moves a group's offsets, per partition.
struct SeekTarget {
  enum Kind { kEarliest, kLatest, kTime, kOffset, kBeforeEnd } kind = kEarliest;
  int64_t value = 0;  // the time (ms), the offset, or N of "N before the end"
};
// Moves the committed offsets of `group` in `topics` (when empty: the
// partitions it has committed) to `target`, clamped to each partition's
// [low, high]: {"group","topic","partition","committed","to"}. Refused
// unless the group has no members. With `dry_run`, the plan only.
Status SeekGroup(rd_kafka_t* rk, const std::string& group, SeekTarget target,
                 const std::vector<TopicSelection>& topics, bool dry_run, int timeout_ms,
                 json::RowWriter* out);

// {"group","status":"deleted"} per group; the broker refuses a group with
// members.
Status DeleteGroups(rd_kafka_t* rk, const std::vector<std::string>& groups, int timeout_ms,
                    json::RowWriter* out);

// ---- the cluster and ACLs (admin_cluster.cc) ----

// {"cluster_id","broker","host","port","controller"} per broker, by id.
Status DescribeCluster(rd_kafka_t* rk, int timeout_ms, json::RowWriter* out);

// An ACL binding, or a filter of them (ANY / empty strings match all).
struct Acl {
  rd_kafka_ResourceType_t resource_type = RD_KAFKA_RESOURCE_ANY;
  std::string resource;  // topic or group name, "kafka-cluster" for the cluster
  rd_kafka_ResourcePatternType_t pattern = RD_KAFKA_RESOURCE_PATTERN_ANY;
  std::string principal;  // "User:alice"
  std::string host;       // "*" for any host
  rd_kafka_AclOperation_t operation = RD_KAFKA_ACL_OPERATION_ANY;
  rd_kafka_AclPermissionType_t permission = RD_KAFKA_ACL_PERMISSION_TYPE_ANY;
};
// Rows {"principal","host","operation","permission","resource_type",
// "resource","pattern"}, names lower-case as kafka-acls.sh spells them.
Status ListAcls(rd_kafka_t* rk, const Acl& filter, int timeout_ms, json::RowWriter* out);
// REQUIRES: every field of `acl` is specific (no ANY, no MATCH).
Status CreateAcl(rd_kafka_t* rk, const Acl& acl, int timeout_ms, json::RowWriter* out);
// The rows of the bindings deleted.
Status DeleteAcls(rd_kafka_t* rk, const Acl& filter, int timeout_ms, json::RowWriter* out);

}  // namespace kpipe::admin
