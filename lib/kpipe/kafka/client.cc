#include "kpipe/kafka/client.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

namespace kpipe {

namespace {

void LogTrampoline(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* ev = static_cast<const ClientEvents*>(rd_kafka_opaque(rk));
  if (ev && ev->log) ev->log(level, fac, buf);
}

// Errors librdkafka reports outside any request. Authentication and TLS
// failures are kept (Connect says them instead of "no broker answered");
// the others are logged, as librdkafka does without an error callback.
void ErrorTrampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* ev = static_cast<ClientEvents*>(opaque);
  auto e = static_cast<rd_kafka_resp_err_t>(err);
  if (e == RD_KAFKA_RESP_ERR__AUTHENTICATION || e == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED) {
    if (ev->refused.empty()) ev->refused = fmt::format("authentication failed: {}", reason);
  } else if (e == RD_KAFKA_RESP_ERR__SSL) {
    if (ev->refused.empty()) ev->refused = fmt::format("TLS failed: {}", reason);
  } else if (ev->log) {
    ev->log(3, "ERROR", reason);
  }
}

void DeliveryTrampoline(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<const ClientEvents*>(opaque)->delivery(msg);
}

void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t* parts, void* opaque) {
  static_cast<const ClientEvents*>(opaque)->rebalance(rk, err, parts);
}


// Errors that a leader election, a broker still loading its logs or a lost
// connection give for a while.
bool PassingError(rd_kafka_resp_err_t e) {
  switch (e) {
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
      return true;
    default:
      return false;
  }
}

// Calls `ask(ms)` with the time left until it succeeds, fails for good, the
// `timeout_ms` is spent, or a stop signal is pending (then __INTR).
template <typename F>
rd_kafka_resp_err_t Retrying(int timeout_ms, F ask) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    rd_kafka_resp_err_t e = ask(static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || !PassingError(e)) return e;
    if (left.count() <= 100) return e;
    if (PendingStopSignal()) return RD_KAFKA_RESP_ERR__INTR;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

Result<KafkaConf> MakeConf(const Properties& props, const ClientEvents* events) {
  KafkaConf conf(rd_kafka_conf_new());
  char err[512];
  for (const auto& [k, v] : props) {
    if (IsRegistryProperty(k)) continue;  // the schema registry's, not librdkafka's
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
      return Status::Usage(fmt::format("Kafka property {}: {}", k, err));
  }
  rd_kafka_conf_set_opaque(conf.get(), const_cast<ClientEvents*>(events));
  rd_kafka_conf_set_log_cb(conf.get(), LogTrampoline);
  if (events) rd_kafka_conf_set_error_cb(conf.get(), ErrorTrampoline);
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

ssize_t ConsumeQueue(rd_kafka_queue_t* queue, int timeout_ms, rd_kafka_message_t** out, int max) {
  ssize_t n = 0;
  while (n < max) {
    rd_kafka_message_t* m = rd_kafka_consume_queue(queue, n == 0 ? timeout_ms : 0);
    if (!m) break;
    out[n++] = m;
  }
  return n;
}

bool CloseConsumer(rd_kafka_t* rk, int timeout_ms) {
  std::unique_ptr<rd_kafka_queue_t, KafkaDeleter> q(rd_kafka_queue_new(rk));
  KafkaError e(rd_kafka_consumer_close_queue(rk, q.get()));
  if (e) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!rd_kafka_consumer_closed(rk)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Events, not callbacks: what the close forwards is not only what
    // callbacks serve. A rebalance is served here as the rebalance callback
    // of a closing consumer would (its partitions go), the rest dropped.
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q.get(), 50);
    if (!ev) continue;
    // A rebalance taken after the group handler ended, in the same wait,
    // has nothing left to apply it to (no protocol): dropped.
    const char* protocol =
        rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE ? rd_kafka_rebalance_protocol(rk) : nullptr;
    if (protocol) {
      rd_kafka_topic_partition_list_t* parts = rd_kafka_event_topic_partition_list(ev);
      bool assign = rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
      if (std::string_view(protocol) == "COOPERATIVE")
        KafkaError(assign ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts));
      else
        rd_kafka_assign(rk, assign ? parts : nullptr);
    }
    rd_kafka_event_destroy(ev);
  }
  return true;
}

bool CooperativeRebalance(rd_kafka_t* rk) {
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  return protocol && std::string_view(protocol) == "COOPERATIVE";
}

void DestroyUnclosed(KafkaHandle rk) {
  if (rk) rd_kafka_destroy_flags(rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
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
  KPIPE_RETURN_IF_ERROR(WaitForBrokers(rk->get(), events, PropertyValue(props, "bootstrap.servers"), timeout_ms));
  return std::move(*rk);
}

Status WaitForBrokers(rd_kafka_t* client, ClientEvents* events, const std::string& servers, int timeout_ms) {
  // In slices, so that SIGINT or SIGTERM (blocked, hence pending until the
  // tool's loop reads it) stops a wait for brokers that do not answer.
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto slice_start = std::chrono::steady_clock::now();
    int64_t left = timeout_ms - std::chrono::duration_cast<std::chrono::milliseconds>(slice_start - start).count();
    int slice = static_cast<int>(std::clamp<int64_t>(left, 1, 250));
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(client, 1, nullptr, &md, slice);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(md);
      return Status::OK();
    }
    rd_kafka_poll(client, 0);  // serves the error callback: credentials, TLS
    if (events && !events->refused.empty())
      return Status::Kafka(fmt::format("{} ({})", events->refused, servers));
    if (e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__TIMED_OUT)
      return Status::Kafka(fmt::format("cannot reach brokers {}: metadata request failed: {}", servers,
                                       rd_kafka_err2str(e)));
    if (left <= slice)
      return Status::Kafka(fmt::format("cannot reach brokers {}: no broker answered within {} s ({})", servers,
                                       timeout_ms / 1000, rd_kafka_err2str(e)));
    if (int sig = PendingStopSignal()) return Status::Interrupted(sig);
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
    if (t.err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
      return Status::Kafka(fmt::format("not authorized to read topic '{}' (the broker's ACLs deny it)", topic));
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

rd_kafka_resp_err_t OffsetsForTimes(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, int timeout_ms) {
  // The call overwrites each offset with its answer: ask with the times each time.
  std::vector<int64_t> times(list->cnt);
  for (int i = 0; i < list->cnt; i++) times[i] = list->elems[i].offset;
  return Retrying(timeout_ms, [&](int ms) {
    for (int i = 0; i < list->cnt; i++) {
      list->elems[i].offset = times[i];
      list->elems[i].err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, list, ms);
    for (int i = 0; !e && i < list->cnt; i++) e = list->elems[i].err;
    return e;
  });
}

Result<std::vector<Watermarks>> QueryWatermarks(rd_kafka_t* rk, const std::vector<PartitionRef>& parts,
                                                int timeout_ms, WatermarkEnds which) {
  // Lookups by time, -2 (the earliest) and -1 (the latest), rather than
  // rd_kafka_query_watermark_offsets: in librdkafka 2.0.2 that call, when one
  // of its two requests meets "not leader" for the first time, can answer
  // without error with the low watermark equal to the high one (seen on the
  // mock cluster), and a reader starting at the low one would skip the
  // partition. offsets_for_times reports the error.
  std::vector<Watermarks> out(parts.size());
  if (parts.empty()) return out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (bool low : {true, false}) {
    if (!(static_cast<int>(which) & static_cast<int>(low ? WatermarkEnds::kLow : WatermarkEnds::kHigh))) continue;
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
    for (const PartitionRef& p : parts)
      rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = low ? -2 : -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    rd_kafka_resp_err_t e = OffsetsForTimes(rk, list.get(), static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (e == RD_KAFKA_RESP_ERR__INTR) {
      if (int sig = PendingStopSignal()) return Status::Interrupted(sig);
    }
    if (e) {
      for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err)
          return KafkaStatus(e, fmt::format("query offsets of {}/{}", list->elems[i].topic, list->elems[i].partition));
      return KafkaStatus(e, parts.size() == 1
                                ? fmt::format("query offsets of {}/{}", parts[0].topic, parts[0].partition)
                                : fmt::format("query offsets of {} partitions", parts.size()));
    }
    // The list keeps the order it was built in.
    for (int i = 0; i < list->cnt; i++) (low ? out[i].low : out[i].high) = list->elems[i].offset;
  }
  return out;
}

Status FillFromWatermarks(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, WatermarkEnds end,
                          int timeout_ms) {
  std::vector<PartitionRef> unset;
  for (int i = 0; i < list->cnt; i++)
    if (list->elems[i].offset < 0) unset.push_back({list->elems[i].topic, list->elems[i].partition});
  auto marks = QueryWatermarks(rk, unset, timeout_ms, end);
  if (!marks.ok()) return marks.status();
  for (int i = 0, j = 0; i < list->cnt; i++) {
    if (list->elems[i].offset >= 0) continue;
    const Watermarks& w = (*marks)[j++];
    list->elems[i].offset = end == WatermarkEnds::kLow ? w.low : w.high;
  }
  return Status::OK();
}

Result<Watermarks> QueryWatermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                                   int timeout_ms) {
  auto w = QueryWatermarks(rk, std::vector<PartitionRef>{{topic, partition}}, timeout_ms);
  if (!w.ok()) return w.status();
  return (*w)[0];
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

bool MayKick(FetchCursor* c, bool filled, std::chrono::steady_clock::time_point now) {
  constexpr auto kWait = std::chrono::milliseconds(100);
  if (c->next != c->seen_next) {
    c->seen_next = c->next;
    c->quiet_since = now;
  }
  if (c->next < 0) return false;
  if (filled) return c->next != c->kicked_at || now - c->last_kick >= std::chrono::seconds(1);
  // 100 ms after the kick for the fill, then 200 and 400 ms after each kick
  // for the quiet: a fetch that takes long is canceled a few times at most.
  return now - c->filled_kick < std::chrono::seconds(1) && now - c->last_kick >= kWait * (1 << c->quiet_kicks) &&
         now - c->quiet_since >= kWait;
}

void KickStalledFetchers(rd_kafka_t* rk, bool filled, const std::vector<FetchCursor*>& reading) {
  auto now = std::chrono::steady_clock::now();
  PartitionList list(rd_kafka_topic_partition_list_new(4));
  for (FetchCursor* c : reading) {
    if (!MayKick(c, filled, now)) continue;
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(rk, c->topic.c_str(), c->partition, &lo, &hi)) continue;
    if (hi <= std::max(c->next, c->eof)) continue;
    rd_kafka_topic_partition_list_add(list.get(), c->topic.c_str(), c->partition)->offset = c->next;
    c->Kicked(filled, now);
  }
  if (list->cnt == 0) return;
  KafkaError e(rd_kafka_seek_partitions(rk, list.get(), 0));
}

Status SeekPartitions(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, int timeout_ms, const std::string& what) {
  int64_t wait = timeout_ms;
  if (rd_kafka_version() < 0x02000300) wait = std::min<int64_t>(wait * 1000, INT32_MAX);
  KafkaError e(rd_kafka_seek_partitions(rk, list, static_cast<int>(wait)));
  if (e) return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_error_string(e.get())));
  for (int i = 0; i < list->cnt; i++)
    if (list->elems[i].err)
      return KafkaStatus(list->elems[i].err, fmt::format("{} ({}/{})", what, list->elems[i].topic,
                                                         list->elems[i].partition));
  return Status::OK();
}

}  // namespace kpipe
