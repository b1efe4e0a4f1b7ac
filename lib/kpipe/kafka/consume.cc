#include "kpipe/kafka/consume.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include "kpipe/json/path.h"
#include "kpipe/json/text.h"
#include "kpipe/kafka/client.h"
#include "kpipe/kafka/envelope.h"
#include "kpipe/kafka/format.h"
#include "kpipe/kafka/admin.h"
#include "kpipe/json/rows.h"
#include "kpipe/cli/progress.h"
#include "kpipe/service/monitor.h"
#include "kpipe/io/signals.h"
#include "kpipe/time/watermark.h"
#include "kpipe/time/event_time.h"
#include "kpipe/time/time.h"

namespace kpipe {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBatch = 1024;
constexpr int kCloseTimeoutMs = 10'000;  // leaving the group, at most (CloseConsumer)
constexpr int kIdlePollMs = 50;  // latency bound of a live tail (flush on idle)

// cursor.next: the offset after the last record in the output buffer.
struct PartState : FetchCursor {
  int64_t end = -1;         // stop before this offset (-e / --until); -1 = never
  int64_t low = 0;          // first offset at start (bounded reads)
  int64_t first = -1;       // where a bounded read starts (progress); -1: low
  bool assigned = false;
  bool read = false;        // assigned to this process at some time (the summary's count)
  bool done = false;
  int64_t stored = -1;      // last offset handed to offsets_store
  std::string name;         // "topic/partition": in the watermark and control records
  Clock::time_point last_seen;
};

class Consumer {
 public:
  Consumer(const ConsumeOptions& opt, SignalWatch* signals,
           const std::function<void(const std::string&)>& diag, Output* out, ConsumeStats* stats)
      : opt_(opt), signals_(signals), diag_(diag), out_(out), stats_(stats) {}
  ~Consumer() {
    if (queue_) rd_kafka_queue_destroy(queue_);
    if (!closed_) DestroyUnclosed(std::move(rk_));  // a close that did not finish (Finish)
  }

  Status Run();

 private:
  Status Setup(const Properties& extra);
  Status List();
  Status Lag();
  Status Consume();
  Status Handle(rd_kafka_message_t* m);
  Status Write(const rd_kafka_message_t* m);
  Status AfterBatch(bool idle);
  void KickStalledFetchers();
  Status StoreOffsets();
  void UpdateWatermark(const rd_kafka_message_t* m, PartState* ps);
  Status MaybeEmitWatermark();
  // A bounded read reached the partition's end: it no longer holds the
  // watermark back, here or downstream.
  Status Done(PartState* ps);
  Status ResolveStarts(rd_kafka_topic_partition_list_t* parts);
  Status RecordEnds();
  void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  PartState* Part(const char* topic, int32_t partition);
  bool AllDone() const;
  Status Finish(Status st);
  // --envelope: {"@kpipe":"partitions","names":[...]} for partitions
  // starting to be read, so that a kwindow downstream holds its watermark
  // back for each until it has records (not only for those it has seen: a
  // backlog comes one partition's batch after another); "ended" for those
  // no longer read. --watermarks adds "watermarks":true to the first one,
  // also for plain values (with no names): watermark records follow, and a
  // reader waits for them (kpipe(7), CONTROL RECORDS).
  Status AnnouncePartitions(const std::vector<const PartState*>& parts, bool ended = false);
  // systemd notify and --metrics, from this loop only (service/monitor.h).
  service::Snapshot Snap() const;
  void Monitor() {
    if (opt_.monitor && opt_.monitor->Due()) opt_.monitor->Tick(Snap());
  }

  const ConsumeOptions& opt_;
  SignalWatch* signals_;
  const std::function<void(const std::string&)>& diag_;
  Output* out_;
  ConsumeStats* stats_;

  ClientEvents events_;
  KafkaHandle rk_;
  rd_kafka_queue_t* queue_ = nullptr;
  bool closed_ = true;  // false: Finish's close did not finish in time
  ConsumeStart start_;
  bool bounded_ = false;     // -e or --until: stop at recorded end offsets
  std::map<std::pair<std::string, int32_t>, PartState> parts_;
  PartState* last_part_ = nullptr;
  rd_kafka_topic_t* last_rkt_ = nullptr;
  json::Validator validator_;
  std::unique_ptr<schema::Registry> registry_;  // --registry: values and keys decoded
  std::unique_ptr<schema::WireDecoder> wire_;
  MessageLines lines_{&validator_, nullptr};
  std::vector<FormatPiece> format_;  // -f
  Watermark wm_{0, -1};  // --watermarks: stream/watermark, the rule of every tool
  bool said_watermarks_ = false;
  int64_t emitted_wm_ = INT64_MIN;
  uint64_t msgs_since_idle_ = 0, bytes_since_idle_ = 0;
  QueueLimits queue_limits_{Properties{}};  // effective queue thresholds
  Status rebalance_error_;
  bool stop_ = false;
  std::string fatal_;
  std::unique_ptr<cli::Progress> progress_;  // -e/--until on a terminal
};

Status Consumer::AnnouncePartitions(const std::vector<const PartState*>& parts, bool ended) {
  if (opt_.no_control) return Status::OK();
  bool names = opt_.envelope && !parts.empty();
  bool say_watermarks = opt_.watermarks && !ended && !said_watermarks_;
  if (!names && !say_watermarks) return Status::OK();
  std::string* b = out_->buffer();
  b->append(ended ? "{\"@kpipe\":\"partitions\",\"ended\":[" : "{\"@kpipe\":\"partitions\",\"names\":[");
  for (size_t i = 0; names && i < parts.size(); i++) {
    if (i) b->push_back(',');
    json::AppendQuoted(b, parts[i]->name);
  }
  b->push_back(']');
  if (say_watermarks) {
    b->append(",\"watermarks\":true");
    said_watermarks_ = true;
  }
  b->append("}\n");
  return out_->Commit();
}

Status Consumer::Done(PartState* ps) {
  if (ps->done) return Status::OK();
  ps->done = true;
  if (!bounded_) return Status::OK();  // at its end for now: records may still come
  if (opt_.watermarks) wm_.Remove(ps->name, opt_.idle_ms >= 0 ? NowMs() : 0);
  return AnnouncePartitions({ps}, /*ended=*/true);
}

service::Snapshot Consumer::Snap() const {
  service::Snapshot s;
  s.records_in = s.records_out = stats_->messages;
  s.bytes_in = stats_->bytes;
  s.kafka_input = true;
  std::vector<const FetchCursor*> reading;
  for (const auto& [k, ps] : parts_)
    if (ps.assigned) reading.push_back(&ps);
  AppendLag(rk_.get(), reading, &s.lag);
  return s;
}

PartState* Consumer::Part(const char* topic, int32_t partition) {
  auto it = parts_.find({topic, partition});
  if (it == parts_.end()) {
    PartState ps;
    ps.topic = topic;
    ps.partition = partition;
    ps.name = fmt::format("{}/{}", topic, partition);
    ps.last_seen = Clock::now();
    it = parts_.emplace(std::make_pair(std::string(topic), partition), std::move(ps)).first;
  }
  return &it->second;
}

bool Consumer::AllDone() const {
  if (!bounded_) return false;
  bool any = false;
  for (const auto& [k, ps] : parts_) {
    if (!ps.assigned) continue;
    any = true;
    if (!ps.done) return false;
  }
  return any;
}

Status Consumer::Setup(const Properties& extra) {
  Properties defaults = {
      {"enable.auto.commit", opt_.group.empty() ? "false" : "true"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"isolation.level", opt_.read_committed ? "read_committed" : "read_uncommitted"},
      {"enable.partition.eof", "true"},
      // Small local queues keep memory low; KickStalledFetchers() avoids the
      // fetch stalls that small queues cause in librdkafka 2.0 (bench/).
      {"queued.min.messages", "30000"},
      {"queued.max.messages.kbytes", "4096"},
      {"max.partition.fetch.bytes", "262144"},
      {"fetch.wait.max.ms", "100"},
  };
  if (opt_.group.empty()) {
    // No group: a private id that is never joined nor committed to.
    std::random_device rd;
    defaults.emplace_back("group.id", fmt::format("kpipe-kconsume-{}-{:x}", ::getpid(), rd()));
  } else {
    defaults.emplace_back("group.id", opt_.group);
  }
  for (const auto& p : extra) defaults.push_back(p);
  auto props = ResolveProperties(opt_.kafka, defaults);
  if (!props.ok()) return props.status();
  auto reg = ResolveRegistry(opt_.kafka);
  if (!reg.ok()) return reg.status();
  if (!reg->url.empty() && !wire_) {
    auto r = schema::Registry::Open(std::move(*reg));
    if (!r.ok()) return r.status();
    registry_ = std::move(*r);
    wire_ = std::make_unique<schema::WireDecoder>(registry_.get());
    lines_ = MessageLines(&validator_, wire_.get());
  }
  events_.rebalance = [this](rd_kafka_t* rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t* parts) { OnRebalance(rk, err, parts); };
  queue_limits_ = QueueLimits(*props);
  auto rk = Connect(RD_KAFKA_CONSUMER, *props, &events_, opt_.kafka.verbose ? diag_ : nullptr,
                    "client configuration", opt_.connect_timeout_ms);
  if (!rk.ok()) return rk.status();
  rk_ = std::move(*rk);
  rd_kafka_poll_set_consumer(rk_.get());
  queue_ = rd_kafka_queue_get_consumer(rk_.get());
  return Status::OK();
}

// Sets each partition's start offset in `parts` from the -o/--from spec.
Status Consumer::ResolveStarts(rd_kafka_topic_partition_list_t* parts) {
  if (start_.kind == ConsumeStart::kTime) {
    for (int i = 0; i < parts->cnt; i++) parts->elems[i].offset = start_.value;
    rd_kafka_resp_err_t e = OffsetsForTimes(rk_.get(), parts, opt_.connect_timeout_ms);
    if (e) return KafkaStatus(e, "look up offsets for time");
    for (int i = 0; i < parts->cnt; i++)
      if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_END;
    return Status::OK();
  }
  for (int i = 0; i < parts->cnt; i++) {
    int64_t& off = parts->elems[i].offset;
    switch (start_.kind) {
      case ConsumeStart::kBeginning: off = RD_KAFKA_OFFSET_BEGINNING; break;
      case ConsumeStart::kEnd: off = RD_KAFKA_OFFSET_END; break;
      case ConsumeStart::kStored: off = RD_KAFKA_OFFSET_STORED; break;
      case ConsumeStart::kOffset: off = start_.value; break;
      case ConsumeStart::kTail: off = RD_KAFKA_OFFSET_TAIL(start_.value); break;
      case ConsumeStart::kTime: break;
      case ConsumeStart::kDefault: break;  // resolved by Consume()
    }
  }
  return Status::OK();
}

// Records, before reading anything, where a bounded read stops: the end
// offset of each partition now (-e, --until end), or the first offset at
// or after --until TIME. Later records are not read.
Status Consumer::RecordEnds() {
  std::vector<PartitionRef> refs;
  for (auto& [k, ps] : parts_) refs.push_back({ps.topic, ps.partition});
  auto marks = QueryWatermarks(rk_.get(), refs, opt_.connect_timeout_ms);
  if (!marks.ok()) return marks.status();
  size_t i = 0;
  for (auto& [k, ps] : parts_) {
    ps.low = (*marks)[i].low;
    ps.end = (*marks)[i++].high;
  }
  if (opt_.until_ms >= 0) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
    for (auto& [k, ps] : parts_)
      rd_kafka_topic_partition_list_add(list.get(), ps.topic.c_str(), ps.partition)->offset = opt_.until_ms;
    rd_kafka_resp_err_t e = OffsetsForTimes(rk_.get(), list.get(), opt_.connect_timeout_ms);
    if (e) return KafkaStatus(e, "look up the offsets of the end time");
    for (int i = 0; i < list->cnt; i++) {
      PartState* ps = Part(list->elems[i].topic, list->elems[i].partition);
      if (list->elems[i].offset >= 0) ps->end = std::min(ps->end, list->elems[i].offset);
    }
  }
  return Status::OK();
}

void Consumer::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts) {
  bool cooperative = CooperativeRebalance(rk);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (start_.kind != ConsumeStart::kStored) {
      Status st = ResolveStarts(parts);
      if (!st.ok() && rebalance_error_.ok()) rebalance_error_ = st;
    }
    std::vector<const PartState*> added;
    for (int i = 0; i < parts->cnt; i++) {
      PartState* ps = Part(parts->elems[i].topic, parts->elems[i].partition);
      ps->assigned = ps->read = true;
      // Where this member stood when the partition went elsewhere is old:
      // a kick would seek back to it. Known again with its first record.
      ps->Restart(-1);
      ps->last_seen = Clock::now();
      last_part_ = nullptr;
      added.push_back(ps);
      if (opt_.watermarks) wm_.Add(ps->name, NowMs());
    }
    Status st = AnnouncePartitions(added);
    if (!st.ok() && rebalance_error_.ok()) rebalance_error_ = st;
    if (cooperative) {
      KafkaError e(rd_kafka_incremental_assign(rk, parts));
    } else {
      rd_kafka_assign(rk, parts);
    }
  } else {
    // Revoked: commit what was written before the partitions go elsewhere.
    Status st = out_->Flush();
    if (st.ok()) {
      (void)StoreOffsets();
      rd_kafka_commit(rk, nullptr, 0);
    }
    std::vector<const PartState*> gone;
    for (int i = 0; i < parts->cnt; i++) {
      PartState* ps = Part(parts->elems[i].topic, parts->elems[i].partition);
      ps->assigned = false;
      gone.push_back(ps);
      if (opt_.watermarks) wm_.Remove(ps->name, NowMs());
    }
    // Another member reads them now: they no longer hold W back here.
    if (st.ok()) st = AnnouncePartitions(gone, /*ended=*/true);
    if (!st.ok() && rebalance_error_.ok()) rebalance_error_ = st;
    last_part_ = nullptr;
    if (cooperative) {
      KafkaError e(rd_kafka_incremental_unassign(rk, parts));
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

Status Consumer::StoreOffsets() {
  if (opt_.group.empty()) return Status::OK();
  PartitionList list(rd_kafka_topic_partition_list_new(4));
  for (auto& [k, ps] : parts_) {
    if (ps.next > ps.stored && ps.assigned) {
      rd_kafka_topic_partition_list_add(list.get(), ps.topic.c_str(), ps.partition)->offset = ps.next;
      ps.stored = ps.next;
    }
  }
  if (list->cnt == 0) return Status::OK();
  return KafkaStatus(rd_kafka_offsets_store(rk_.get(), list.get()), "store offsets");
}

Status Consumer::Write(const rd_kafka_message_t* m) {
  std::string* b = out_->buffer();
  if (!format_.empty()) {
    AppendFormatted(b, format_, m);
    return Status::OK();
  }
  KPIPE_RETURN_IF_ERROR(lines_.Append(b, m, opt_.envelope));
  b->push_back('\n');
  return Status::OK();
}

void Consumer::UpdateWatermark(const rd_kafka_message_t* m, PartState* ps) {
  ps->last_seen = Clock::now();
  int64_t t;
  if (opt_.time_path) {
    simdjson::dom::element doc, f;
    std::string_view value(static_cast<const char*>(m->payload), m->len);
    if (auto decoded = lines_.decoded_value()) value = *decoded;
    if (!m->payload || validator_.Parse(value, &doc) ||
        !opt_.time_path->Lookup(doc, &f))
      return;  // no event time: the record cannot advance the watermark
    auto et = EventTimeOf(f, opt_.time_unit, opt_.time_path->text());
    if (!et.ok()) return;  // not a time: left to the reader, which judges it as bad input
    t = *et;
  } else {
    rd_kafka_timestamp_type_t tt;
    t = rd_kafka_message_timestamp(m, &tt);
    if (tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) return;
  }
  wm_.Observe(ps->name, t, opt_.idle_ms >= 0 ? NowMs() : 0);
}

// The watermark of every tool (stream/watermark): the minimum over assigned
// partitions of max(t) - D, leaving out those idle for longer than --idle
// and those a bounded read has finished (kpipe(7), EVENT TIME).
Status Consumer::MaybeEmitWatermark() {
  if (!opt_.watermarks) return Status::OK();
  int64_t w = opt_.idle_ms >= 0 ? wm_.Refresh(NowMs()) : wm_.current();
  if (w == Watermark::kMinusInfinity || w == Watermark::kPlusInfinity || w <= emitted_wm_)
    return Status::OK();
  emitted_wm_ = w;
  fmt::format_to(std::back_inserter(*out_->buffer()), "{{\"@kpipe\":\"watermark\",\"ts\":{}}}\n", w);
  return out_->Commit();
}

void Consumer::KickStalledFetchers() {
  bool filled = queue_limits_.Filled(msgs_since_idle_, bytes_since_idle_);
  msgs_since_idle_ = bytes_since_idle_ = 0;
  std::vector<FetchCursor*> reading;
  for (auto& [k, ps] : parts_)
    if (ps.assigned && (!ps.done || !bounded_)) reading.push_back(&ps);  // unbounded: done for now only
  kpipe::KickStalledFetchers(rk_.get(), filled, reading);
}

Status Consumer::AfterBatch(bool idle) {
  KPIPE_RETURN_IF_ERROR(MaybeEmitWatermark());
  if (idle) KPIPE_RETURN_IF_ERROR(out_->Flush());
  if (out_->empty()) return StoreOffsets();
  return Status::OK();
}

Status Consumer::Handle(rd_kafka_message_t* m) {
  PartState* ps = nullptr;
  if (m->rkt) {
    if (last_part_ && last_rkt_ == m->rkt && last_part_->partition == m->partition) {
      ps = last_part_;
    } else {
      ps = Part(rd_kafka_topic_name(m->rkt), m->partition);
      last_part_ = ps;
      last_rkt_ = m->rkt;
    }
  }
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (ps) {
        ps->eof = m->offset;
        // Everything before the end was read: what lies between the last
        // record written and the end (transaction markers, aborted records)
        // is committed too, so the group's lag reaches 0. Never past the end
        // recorded at start: later records were not written.
        int64_t upto = bounded_ && ps->end >= 0 ? std::min(m->offset, ps->end) : m->offset;
        ps->next = std::max(ps->next, upto);
      }
      if (ps && (ps->end < 0 || m->offset >= ps->end)) return Done(ps);
      return Status::OK();
    }
    std::string what = rd_kafka_message_errstr(m);
    if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED && ps)
      return Status::Kafka(fmt::format("not authorized to read topic '{}' (the broker's ACLs deny it)", ps->topic));
    if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        m->err == RD_KAFKA_RESP_ERR__FATAL)
      return Status::Kafka(ps ? fmt::format("{}:{}: {}", ps->topic, ps->partition, what) : what);
    diag_("warning: " + what);
    return Status::OK();
  }
  if (!ps) return Status::OK();
  if (bounded_ && ps->end >= 0 && m->offset >= ps->end) {
    return Done(ps);  // past the end recorded at start: not ours to read
  }
  KPIPE_RETURN_IF_ERROR(Write(m));
  msgs_since_idle_++;
  bytes_since_idle_ += m->len;
  ps->next = m->offset + 1;
  stats_->messages++;
  stats_->bytes += m->len + m->key_len;
  if (opt_.watermarks) UpdateWatermark(m, ps);
  Status st = out_->Commit();
  if (st.ok() && bounded_ && ps->end >= 0 && m->offset + 1 >= ps->end) st = Done(ps);
  if (opt_.count >= 0 && stats_->messages >= static_cast<uint64_t>(opt_.count)) stop_ = true;
  if (st.ok() && out_->empty()) st = StoreOffsets();
  return st;
}

Status Consumer::Consume() {
  start_ = opt_.start;
  if (start_.kind == ConsumeStart::kDefault)
    start_.kind = opt_.group.empty() ? ConsumeStart::kBeginning : ConsumeStart::kStored;
  bounded_ = opt_.exit_at_end || opt_.until_ms >= 0;
  if (!opt_.format.empty()) format_ = CompileFormat(opt_.format);
  if (opt_.watermarks) wm_ = Watermark(opt_.max_delay_ms, opt_.idle_ms);

  KPIPE_RETURN_IF_ERROR(Setup({}));

  // Resolve TOPIC[:P,P] into partitions.
  bool explicit_partitions = false;
  std::vector<std::string> subscribe;
  for (const std::string& spec : opt_.topics) {
    size_t colon = spec.rfind(':');
    std::string topic = spec.substr(0, colon);
    auto all = TopicPartitions(rk_.get(), topic, opt_.connect_timeout_ms);
    if (!all.ok()) return all.status();
    if (colon == std::string::npos) {
      subscribe.push_back(topic);
      for (int32_t p : *all) Part(topic.c_str(), p);
      continue;
    }
    explicit_partitions = true;
    std::string_view list = std::string_view(spec).substr(colon + 1);
    if (list.empty() || list.back() == ',')  // "t:" would read no partition, and wait forever
      return Status::Usage(fmt::format("{}: expected TOPIC:PARTITION[,PARTITION...]", spec));
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view n = list.substr(0, comma);
      int32_t p;
      auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), p);
      if (ec != std::errc() || ptr != n.data() + n.size() ||
          std::find(all->begin(), all->end(), p) == all->end())
        return Status::Usage(fmt::format("{}: no partition '{}' in topic '{}'", spec, n, topic));
      Part(topic.c_str(), p);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    }
  }
  if (explicit_partitions && !subscribe.empty() && !opt_.group.empty())
    return Status::Usage("with -G, give either whole topics or TOPIC:PARTITIONS, not both");
  if (bounded_) KPIPE_RETURN_IF_ERROR(RecordEnds());
  stats_->partitions = parts_.size();

  if (opt_.group.empty() || explicit_partitions) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
    for (auto& [k, ps] : parts_) {
      rd_kafka_topic_partition_list_add(list.get(), ps.topic.c_str(), ps.partition);
      ps.assigned = ps.read = true;
    }
    KPIPE_RETURN_IF_ERROR(ResolveStarts(list.get()));
    if (bounded_) {
      // Partitions already at their end need no fetch at all, and get none:
      // a start past the end would fetch an out-of-range offset, and
      // librdkafka 2.0 can deadlock when the handle is destroyed while it
      // resets that offset (confluentinc/librdkafka#4514: `-e -o 25` on
      // partitions of 10 messages hung at exit, once in a few runs). The
      // others end at their recorded end offset or at the EOF event that
      // reaches it.
      PartitionList fetch(rd_kafka_topic_partition_list_new(list->cnt));
      for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t& e = list->elems[i];
        PartState* ps = Part(e.topic, e.partition);
        int64_t off = e.offset;
        ps->first = off >= 0                          ? off
                    : off == RD_KAFKA_OFFSET_END        ? ps->end
                    : off <= RD_KAFKA_OFFSET_TAIL_BASE  ? std::max(ps->low, ps->end - (RD_KAFKA_OFFSET_TAIL_BASE - off))
                                                        : ps->low;
        if (ps->end <= ps->low || off == RD_KAFKA_OFFSET_END ||
            (off == RD_KAFKA_OFFSET_BEGINNING && ps->low >= ps->end) || off >= ps->end)
          ps->done = true;
        else
          rd_kafka_topic_partition_list_add(fetch.get(), e.topic, e.partition)->offset = off;
      }
      list = std::move(fetch);
    }
    KPIPE_RETURN_IF_ERROR(KafkaStatus(rd_kafka_assign(rk_.get(), list.get()), "assign partitions"));
  } else {
    for (auto& [k, ps] : parts_) ps.assigned = false;  // the group decides
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(subscribe.size())));
    for (const std::string& t : subscribe)
      rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    KPIPE_RETURN_IF_ERROR(KafkaStatus(rd_kafka_subscribe(rk_.get(), list.get()), "subscribe"));
  }

  if (bounded_ && opt_.progress) {
    // Records between the start and the recorded end of each partition, a
    // bound: compaction and transaction markers leave offsets empty.
    uint64_t total = 0;
    for (const auto& [k, ps] : parts_)
      if (!ps.done) total += static_cast<uint64_t>(std::max<int64_t>(ps.end - std::max(ps.low, ps.first), 0));
    progress_ = std::make_unique<cli::Progress>("kconsume", total, true);
  }
  if (opt_.monitor) KPIPE_RETURN_IF_ERROR(opt_.monitor->Ready(Snap()));
  std::vector<const PartState*> reading;
  for (const auto& [k, ps] : parts_) {
    if (!ps.assigned || ps.done) continue;
    reading.push_back(&ps);
    if (opt_.watermarks) wm_.Add(ps.name, NowMs());
  }
  KPIPE_RETURN_IF_ERROR(AnnouncePartitions(reading));
  rd_kafka_message_t* batch[kBatch];
  while (!stop_ && !AllDone()) {
    Monitor();
    if (progress_) progress_->Show(stats_->messages, stats_->messages);
    if (signals_ && signals_->Pending()) return Status::Interrupted(signals_->Pending());
    if (!rebalance_error_.ok()) return rebalance_error_;
    ssize_t n = ConsumeQueue(queue_, 0, batch, kBatch);  // not the batch call (ConsumeQueue)
    bool idle = n <= 0;
    if (idle) {
      // Nothing ready: show what we have, then wait briefly for one message.
      KPIPE_RETURN_IF_ERROR(AfterBatch(/*idle=*/true));
      if (out_->ReaderGone()) return Status::BrokenPipe();
      KickStalledFetchers();
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), kIdlePollMs);
      if (!m) continue;
      batch[0] = m;
      n = 1;
    }
    Status st;
    ssize_t i = 0;
    for (; i < n && st.ok(); i++) {
      if (!stop_) st = Handle(batch[i]);
      rd_kafka_message_destroy(batch[i]);
    }
    for (; i < n; i++) rd_kafka_message_destroy(batch[i]);
    KPIPE_RETURN_IF_ERROR(st);
    KPIPE_RETURN_IF_ERROR(AfterBatch(/*idle=*/false));
  }
  return Status::OK();
}

// Flushes what was written, commits it (with -G), and closes the consumer.
Status Consumer::Finish(Status st) {
  if (progress_) progress_->Clear();
  if (opt_.monitor) opt_.monitor->Stopping();
  if (!rk_) return st;
  // A group member's own partitions, not the topics' (those the group gave it).
  stats_->partitions = 0;
  for (const auto& [k, ps] : parts_) stats_->partitions += ps.read;
  bool clean_end = st.ok();
  if (!st.Is(Status::Code::kBrokenPipe)) {
    if (clean_end && opt_.watermarks) {
      KPIPE_RETURN_IF_ERROR(MaybeEmitWatermark());
      if (bounded_) (void)out_->Write("{\"@kpipe\":\"end\"}\n");
    }
    Status fs = out_->Flush();
    if (st.ok()) st = fs;
  }
  if (out_->empty()) (void)StoreOffsets();
  if (!opt_.group.empty()) {
    rd_kafka_resp_err_t e = rd_kafka_commit(rk_.get(), nullptr, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET && st.ok())
      st = KafkaStatus(e, "commit offsets");
  }
  // The handle goes after the last reference to its queue.
  if (queue_) rd_kafka_queue_destroy(queue_);
  queue_ = nullptr;
  closed_ = CloseConsumer(rk_.get(), kCloseTimeoutMs);
  if (!closed_ && !opt_.group.empty())
    diag_(fmt::format("warning: the consumer did not leave group {} within {} s (its offsets are committed); the "
                      "group sees it go at its session timeout", opt_.group, kCloseTimeoutMs / 1000));
  return st;
}

Status Consumer::List() {
  // The high watermark itself, not a read_committed reader's stable offset.
  KPIPE_RETURN_IF_ERROR(Setup({{"isolation.level", "read_uncommitted"}}));
  json::RowWriter rows(out_, json::RowFormat::kJson);
  return admin::ListPartitions(rk_.get(), opt_.topics, opt_.connect_timeout_ms, &rows);
}

Status Consumer::Lag() {
  KPIPE_RETURN_IF_ERROR(Setup({}));
  json::RowWriter rows(out_, json::RowFormat::kJson);
  return admin::GroupLag(rk_.get(), opt_.lag_group, opt_.topics, opt_.connect_timeout_ms, &rows);
}

Status Consumer::Run() {
  if (opt_.list) return List();
  if (!opt_.lag_group.empty()) return Lag();
  if (opt_.count == 0) return Status::OK();
  Status st = Finish(Consume());
  if (opt_.monitor) st = opt_.monitor->Finish(Snap(), std::move(st));
  return st;
}

}  // namespace

Status RunConsume(const ConsumeOptions& opt, SignalWatch* signals,
                  const std::function<void(const std::string&)>& diag, Output* out,
                  ConsumeStats* stats) {
  Consumer c(opt, signals, diag, out, stats);
  return c.Run();
}

}  // namespace kpipe
