// RAII ownership of librdkafka handles and the few calls every tool needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/io/signals.h"
#include "kpipe/kafka/config.h"
#include "kpipe/service/monitor.h"
#include "kpipe/status.h"

namespace kpipe {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, KafkaDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, KafkaDeleter>;
using KafkaError = std::unique_ptr<rd_kafka_error_t, KafkaDeleter>;
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, KafkaDeleter>;

// Callbacks a client delivers to its owner. Each may be empty. They run on
// the thread that calls rd_kafka_poll/flush/consume (never on librdkafka's
// own threads, except `log`, which librdkafka may call from any thread).
struct ClientEvents {
  std::function<void(int level, const char* fac, const char* msg)> log;
  std::function<void(const rd_kafka_message_t*)> delivery;  // producer reports
  std::function<void(rd_kafka_t*, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)>
      rebalance;  // consumer group assignment changes
  // The broker refused our credentials or TLS did not verify: the first
  // such error, set by the client's error callback (served by rd_kafka_poll,
  // as Connect does while it waits).
  std::string refused;
};

// Builds a configuration from `props`. An unknown property or a bad value is
// a usage error naming it. `events` must outlive the client.
Result<KafkaConf> MakeConf(const Properties& props, const ClientEvents* events);

// Creates a producer or consumer handle from a prepared configuration (the
// conf is consumed, even on failure).
Result<KafkaHandle> CreateClient(rd_kafka_type_t type, KafkaConf conf);

// Takes up to `max` messages (and events) from a consumer's `queue` into
// `out`, waiting up to `timeout_ms` for the first: one call per message,
// never rd_kafka_consume_batch_queue. librdkafka 2.0's batch call, on
// meeting the barrier that a seek or an assignment change leaves in the
// queue, drops every message it already took that is older than the
// barrier, of any partition, not only of the one sought or reassigned,
// while those partitions' fetch positions have moved past them: a run of
// records that is never delivered. The single call drops only what is
// outdated in its own partition. Serves rebalance callbacks as it goes.
ssize_t ConsumeQueue(rd_kafka_queue_t* queue, int timeout_ms, rd_kafka_message_t** out, int max);

// Whether the consumer's group uses the cooperative (incremental) rebalance
// protocol. False once the group handler has ended (a close finished):
// rd_kafka_rebalance_protocol() is then null (librdkafka 2.0), and a
// rebalance can still come.
bool CooperativeRebalance(rd_kafka_t* rk);

// Closes a consumer: its assignment revoked (through its rebalance
// callback, served here), and its group left. librdkafka 2.0's close can
// wait without end when a rebalance is under way (librdkafka #4527), so it
// gives up after `timeout_ms` and returns false: the group then notices the
// member gone at its session timeout, and the handle must be destroyed with
// DestroyUnclosed (rd_kafka_destroy would wait for the close again).
bool CloseConsumer(rd_kafka_t* rk, int timeout_ms);
void DestroyUnclosed(KafkaHandle rk);

// Creates a client from resolved properties and waits until a broker
// answers (metadata within `timeout_ms`); else "cannot reach brokers ...".
// With `note` (-v), the configuration, under the heading `what`, and
// librdkafka's log lines go there (events->log is set here). `events` must
// outlive the client.
Result<KafkaHandle> Connect(rd_kafka_type_t type, const Properties& props, ClientEvents* events,
                            const std::function<void(const std::string&)>& note, const char* what,
                            int timeout_ms);

// Waits until a broker of `client` answers a metadata request, or says why
// not: credentials or TLS refused (events->refused), no answer within
// `timeout_ms` ("cannot reach brokers SERVERS ..."), or a stop signal.
Status WaitForBrokers(rd_kafka_t* client, ClientEvents* events, const std::string& servers, int timeout_ms);

// The consumer's local queue limits (queued.min.messages and
// queued.max.messages.kbytes as set, else librdkafka's defaults), for
// KickStalledFetchers: a reader that took half of either since it last
// went idle may have paused the fetchers.
struct QueueLimits {
  uint64_t messages = 0, bytes = 0;
  explicit QueueLimits(const Properties& props);
  bool Filled(uint64_t messages_taken, uint64_t bytes_taken) const {
    return messages_taken >= messages / 2 || bytes_taken >= bytes / 2;
  }
};

// Fetches metadata for `topic` (all topics when empty) within `timeout_ms`;
// failure means no broker could be reached in time.
Result<Metadata> FetchMetadata(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// The partition ids of `topic`, or NotFound.
Result<std::vector<int32_t>> TopicPartitions(rd_kafka_t* rk, const std::string& topic,
                                             int timeout_ms);

Status KafkaStatus(rd_kafka_resp_err_t err, const std::string& what);

// The low and high watermarks of one partition, asked of its leader. A
// leader that is moving, or still loading its logs after a restart, answers
// with an error that passes (not leader, leader not available, a timeout):
// the question is asked again every 100 ms until `timeout_ms` has passed in
// all, or SIGINT/SIGTERM is pending. Other errors end it at once.
struct Watermarks {
  int64_t low = -1, high = -1;
};
Result<Watermarks> QueryWatermarks(rd_kafka_t* rk, const std::string& topic, int32_t partition,
                                   int timeout_ms);

// The same for many partitions at once: one lookup for the low watermarks
// and one for the high ones (each a request per leader), or only the one
// `which` asks for (the other stays -1). In the order of `parts`.
struct PartitionRef {
  std::string topic;
  int32_t partition = 0;
};
enum class WatermarkEnds { kLow = 1, kHigh = 2, kBoth = 3 };
Result<std::vector<Watermarks>> QueryWatermarks(rd_kafka_t* rk, const std::vector<PartitionRef>& parts,
                                                int timeout_ms, WatermarkEnds which = WatermarkEnds::kBoth);

// Sets each offset of `list` that is below 0 to its partition's low
// watermark (kLow) or high one (kHigh), in one lookup.
Status FillFromWatermarks(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, WatermarkEnds end, int timeout_ms);

// rd_kafka_offsets_for_times on `list`, retried like QueryWatermarks.
rd_kafka_resp_err_t OffsetsForTimes(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, int timeout_ms);

// One partition a consumer reads, as KickStalledFetchers sees it.
struct FetchCursor {
  std::string topic;
  int32_t partition = 0;
  int64_t next = -1;  // the offset after the last message handed on; -1: none yet
  int64_t eof = -1;   // offset of the last end-of-partition event
  // KickStalledFetchers' own: `next` at the last kick, when it was, when
  // the last kick for a filled queue was and how many for a quiet partition
  // followed it; `next` when it last looked, and since when it has not
  // moved.
  int64_t kicked_at = -1, seen_next = -1;
  std::chrono::steady_clock::time_point last_kick, filled_kick, quiet_since;
  int quiet_kicks = 0;

  // A seek to `next` was asked at `now`, for a filled queue or else for a
  // quiet partition (KickStalledFetchers).
  void Kicked(bool filled, std::chrono::steady_clock::time_point now) {
    kicked_at = next;
    last_kick = now;
    if (filled) filled_kick = now;
    quiet_kicks = filled ? 0 : quiet_kicks + 1;
  }
  // The partition (re)assigned, to be read from `from` (-1: not known yet):
  // what was known of it before no longer holds.
  void Restart(int64_t from) {
    *this = FetchCursor{std::move(topic), partition};
    next = from;
  }
};

// Appends, for each cursor, the records between where reading stands (the
// next offset, or the last end-of-partition event: past a transaction's
// marker) and the partition's end as the fetcher last saw it, without a
// request to the broker. Partitions whose end or position is not known yet
// are left out.
void AppendLag(rd_kafka_t* rk, const std::vector<const FetchCursor*>& cursors,
               std::vector<service::PartitionLag>* out);

// librdkafka 2.0 stops fetching a partition once the local queue passes
// queued.min.messages or queued.max.messages.kbytes, and looks again only
// when its broker thread wakes for something else, at the latest after a
// second (the fetch.queue.backoff.ms of later releases), which costs a fast
// reader most of its time. When the queue is empty yet a partition has data
// not read (its cached high watermark is past our position), a seek to the
// exact next offset wakes that thread, which then fetches again for every
// partition it leads. The queue being empty, the seek discards nothing; a
// fetch in flight for that partition comes back outdated and is dropped.
// This keeps the queue thresholds (and memory) low without the stalls.
//
// Call it when the queue is empty, with the partitions being read. A
// partition with data not read is kicked
// - when the queue filled to half its thresholds since the last call
//   (`filled`), if it gave records since its last kick, or that kick is a
//   second old. A kick that brought nothing yet may have its fetch on the
//   way (from a distant or busy broker, or waiting fetch.wait.max.ms): a
//   second seek would cancel it, and a seek at every fill would starve the
//   partition;
// - else, within the second after a kick for a filled queue, when it has
//   given no record for 100 ms, 100 ms after that kick, then 200 and 400
//   ms after each such kick. Outdated records a kick left in flight fill
//   the queue too, and the reader drops them without counting them: then
//   nothing looks filled, yet every fetcher has stopped. (Ever further
//   apart: the fetch a kick starts may take longer than 100 ms, and a kick
//   cancels it. Not at any time: records past an open transaction are data
//   known past the position that no fetch can bring yet.)
// A record of the partition or an end-of-partition event moves `next` or
// `eof`; without data known past them (the high watermark cached from the
// last fetch), an unread tail is a transaction marker or a compacted gap,
// and a seek would only cancel the fetch that is about to report the end
// of the partition.
void KickStalledFetchers(rd_kafka_t* rk, bool filled, const std::vector<FetchCursor*>& reading);
// Its rule for one partition at `now`, data past the position aside (and
// the bookkeeping of when `c` last moved).
bool MayKick(FetchCursor* c, bool filled, std::chrono::steady_clock::time_point now);

// rd_kafka_seek_partitions waiting up to `timeout_ms` for the seeks to be
// done. librdkafka before 2.0.3 waits a thousandth of the time asked
// (librdkafka #4230): 10 ms for 10 s, which a busy consumer misses while
// the seeks go on regardless. There the time asked is scaled to match.
Status SeekPartitions(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* list, int timeout_ms, const std::string& what);

}  // namespace kpipe
