#include "kpipe/kafka/client.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

namespace kpipe {

namespace {

void LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* ev = static_cast<const ClientEvents*>(rd_kafka_opaque(rk));
  if (ev && ev->log) ev->log(level, fac, buf);
}

void DeliveryTrampoline(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<const ClientEvents*>(opaque)->delivery(msg);
}

void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<const ClientEvents*>(opaque)->rebalance(rk, err, parts);
}

}  // namespace

Result<KafkaConf> MakeConf(const Properties& props, const ClientEvents* events) {
  KafkaConf conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      return Status::Usage(fmt::format("Kafka property {}: {}", k, err));
  }
  rd_kafka_conf_set_opaque(conf.get(), const_cast<ClientEvents*>(events));
  rd_kafka_conf_set_log_cb(conf.get(), LogTrampoline);
  if (events && events->delivery) rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryTrampoline);
  if (events && events->rebalance) rd_kafka_conf_set_rebalance_cb(conf.get(), RebalanceTrampoline);
  return conf;
}

Result<KafkaHandle> CreateClient(rd_kafka_type_t type, KafkaConf conf) {
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (!rk) return Status::Usage(fmt::format("cannot create Kafka client: {}", err));
  conf.release();  // owned by rk now
  return KafkaHandle(rk);
}

Result<KafkaHandle> Connect(rd_kafka_type_t type, const Properties& props, ClientEvents* events,
                            const std::function<void(const std::string&)>& note, const char* what,
                            int timeout_ms) {
  if (note) {
    note(fmt::format("{}:\n{}", what, DescribeProperties(props)));
    events->log = [note](int level, const char* fac, const char* msg) {
      note(fmt::format("librdkafka {} {}: {}", level, fac, msg));
    };
  }
  auto conf = MakeConf(props, events);
  if (!conf.ok()) return conf.status();
  auto rk = CreateClient(type, std::move(*conf));
  if (!rk.ok()) return rk.status();
  // In slices, so that SIGINT or SIGTERM (blocked, hence pending until the
  // tool's loop reads it) stops a wait for brokers that do not answer.
  std::string servers = PropertyValue(props, "bootstrap.servers");
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto slice_start = std::chrono::steady_clock::now();
    int64_t left = timeout_ms - std::chrono::duration_cast<std::chrono::milliseconds>(slice_start - start).count();
    int slice = static_cast<int>(std::clamp<int64_t>(left, 1, 250));
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk->get(), 1, nullptr, &md, slice);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
      return std::move(*rk);
    }
    if (e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__TIMED_OUT)
      return Status::Kafka(fmt::format("cannot reach brokers {}: metadata request failed: {}", servers,
                                       rd_kafka_err2str(e)));
    if (left <= slice)
      return Status::Kafka(fmt::format("cannot reach brokers {}: no broker answered within {} s ({})", servers,
                                       timeout_ms / 1000, rd_kafka_err2str(e)));
    sigset_t pending;
    if (::sigpending(&pending) == 0) {
      for (int sig : {SIGTERM, SIGINT})
        if (::sigismember(&pending, sig) == 1) return Status::Interrupted(sig);
    }
    // A refused connection fails at once: wait out the slice.
    std::this_thread::sleep_until(slice_start + std::chrono::milliseconds(slice));
  }
}

QueueLimits::QueueLimits(const Properties& props)
    : messages(std::strtoull(PropertyValue(props, "queued.min.messages", "100000").c_str(), nullptr, 10)),
      bytes(1024 * std::strtoull(PropertyValue(props, "queued.max.messages.kbytes", "65536").c_str(), nullptr, 10)) {}

Result<Metadata> FetchMetadata(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  if (!topic.empty()) rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, rkt ? 0 : 1, rkt, &md, timeout_ms);
  if (rkt) rd_kafka_topic_destroy(rkt);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__TIMED_OUT)
      return Status::Kafka(fmt::format("no broker answered within {} s ({})", timeout_ms / 1000,
                                       rd_kafka_err2str(e)));
    return Status::Kafka(fmt::format("metadata request failed: {}", rd_kafka_err2str(e)));
  }
  return Metadata(md);
}

Result<std::vector<int32_t>> TopicPartitions(rd_kafka_t* rk, const std::string& topic,
                                             int timeout_ms) {
  auto md = FetchMetadata(rk, topic, timeout_ms);
  if (!md.ok()) return md.status();
  for (int i = 0; i < (*md)->topic_cnt; i++) {
    const rd_kafka_metadata_topic& t = (*md)->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0)
      return Status::NotFound(fmt::format("topic '{}' does not exist", topic));
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Status::Kafka(fmt::format("topic '{}': {}", topic, rd_kafka_err2str(t.err)));
    std::vector<int32_t> ids;
    for (int p = 0; p < t.partition_cnt; p++) ids.push_back(t.partitions[p].id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  return Status::NotFound(fmt::format("topic '{}' does not exist", topic));
}

Status KafkaStatus(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
  return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_err2str(err)));
}

void AppendLag(rd_kafka_t* rk, const std::vector<const FetchCursor*>& cursors,
               std::vector<service::PartitionLag>* out) {
  for (const FetchCursor* c : cursors) {
    int64_t at = std::max(c->next, c->eof), lo, hi;
    if (at < 0 || rd_kafka_get_watermark_offsets(rk, c->topic.c_str(), c->partition, &lo, &hi) || hi < 0)
      continue;
    out->push_back({c->topic, c->partition, std::max<int64_t>(hi - at, 0)});
  }
}

void KickStalledFetchers(rd_kafka_t* rk, bool filled, const std::vector<FetchCursor*>& reading) {
  if (!filled) return;
  auto now = std::chrono::steady_clock::now();
  PartitionList list(rd_kafka_topic_partition_list_new(4));
  for (FetchCursor* c : reading) {
    if (c->next < 0 || now - c->last_kick < std::chrono::milliseconds(20)) continue;
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(rk, c->topic.c_str(), c->partition, &lo, &hi)) continue;
    if (hi <= std::max(c->next, c->eof)) continue;
    rd_kafka_topic_partition_list_add(list.get(), c->topic.c_str(), c->partition)->offset = c->next;
    c->last_kick = now;
  }
  if (list->cnt == 0) return;
  KafkaError e(rd_kafka_seek_partitions(rk, list.get(), 0));
}

}  // namespace kpipe
