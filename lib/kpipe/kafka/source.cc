#include "kpipe/kafka/source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <random>

#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/json/output.h"
#include "kpipe/kafka/envelope.h"
#include "kpipe/service/monitor.h"
#include "kpipe/io/signals.h"
#include "kpipe/time/time.h"

namespace kpipe {

namespace {

constexpr int kBatch = 1024;                 // messages taken from the queue at once
constexpr size_t kBlockBytes = 1 << 20;      // a block ends past this size
constexpr int kIdlePollMs = 50;              // the wait when nothing is ready
constexpr int64_t kGroupNudgeUs = 50'000;    // a member nudges its group's thread this often
constexpr int kCloseTimeoutMs = 10'000;      // leaving the group, at most (CloseConsumer)

}  // namespace

KafkaSource::KafkaSource(KafkaSourceOptions opt, std::function<void(const std::string&)> warn,
                         std::function<void(const std::string&)> info)
    : opt_(std::move(opt)), warn_(std::move(warn)), info_(std::move(info)) {
  name_ = "kafka:";
  for (size_t i = 0; i < opt_.topics.size(); i++) name_ += (i ? "," : "") + opt_.topics[i];
}

KafkaSource::~KafkaSource() {
  if (queue_) {
    if (event_fds_[1] >= 0) rd_kafka_queue_io_event_enable(queue_, -1, nullptr, 0);
    rd_kafka_queue_destroy(queue_);
  }
  for (int fd : event_fds_)
    if (fd >= 0) ::close(fd);
  // A member leaves its group: the revocation close serves is applied at
  // once (what it had was committed at the end of the run).
  closing_ = true;
  if (rk_ && !CloseConsumer(rk_.get(), kCloseTimeoutMs)) {
    if (warn_)
      warn_(fmt::format("the consumer of {} did not close within {} s; group {} sees it go at its session timeout",
                        name_, kCloseTimeoutMs / 1000, group_id_));
    DestroyUnclosed(std::move(rk_));
  }
}

Status KafkaSource::Open() {
  if (opt_.topics.empty()) return Status::Usage("kafka: needs a topic (kafka:TOPIC[,TOPIC...])");
  if (opt_.io.group.empty()) {
    // No group: a private id that is never committed to.
    std::random_device rd;
    group_id_ = fmt::format("kpipe-{}-{}-{:x}", opt_.tool, ::getpid(), rd());
  } else {
    group_id_ = opt_.io.group;
  }
  Properties defaults = {
      {"group.id", group_id_},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // An offset that is gone (retention) is an error, never a silent jump.
      {"auto.offset.reset", "error"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"queued.min.messages", "30000"},
      {"queued.max.messages.kbytes", "4096"},
      {"max.partition.fetch.bytes", "262144"},
      {"fetch.wait.max.ms", "100"},
  };
  if (opt_.member) {
    // Partitions move one at a time between members, never all at once.
    defaults.emplace_back("partition.assignment.strategy", "cooperative-sticky");
    // A rebalance waits for each member's next heartbeat, twice with the
    // cooperative protocol: every 500 ms rather than librdkafka's 3 s. A
    // new member's second JoinGroup comes 1 s after its first at the
    // earliest (librdkafka's own limit), so its heartbeat must have told it
    // of the second round by then.
    defaults.emplace_back("heartbeat.interval.ms", "500");
    if (!opt_.instance.empty()) defaults.emplace_back("group.instance.id", opt_.instance);
    events_.rebalance = [this](rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
      OnRebalance(rk, err, parts);
    };
  }
  auto reg = ResolveRegistry(opt_.io.kafka);
  if (!reg.ok()) return reg.status();
  if (!reg->url.empty()) {
    auto r = schema::Registry::Open(std::move(*reg));
    if (!r.ok()) return r.status();
    registry_ = std::move(*r);
    wire_ = std::make_unique<schema::WireDecoder>(registry_.get());
    writer_ = MessageLines(&validator_, wire_.get(), /*keep_undecodable=*/true);
  }
  auto props = ResolveProperties(opt_.io.kafka, defaults);
  if (!props.ok()) return props.status();
  queue_limits_ = QueueLimits(*props);
  auto rk = Connect(RD_KAFKA_CONSUMER, *props, &events_, opt_.io.kafka.verbose ? info_ : nullptr,
                    "consumer configuration", opt_.connect_timeout_ms);
  if (!rk.ok()) return rk.status();
  rk_ = std::move(*rk);
  rd_kafka_poll_set_consumer(rk_.get());
  queue_ = rd_kafka_queue_get_consumer(rk_.get());
  for (const std::string& topic : opt_.topics) {
    auto ids = TopicPartitions(rk_.get(), topic, opt_.connect_timeout_ms);
    if (!ids.ok()) return ids.status();
    for (int32_t id : *ids) {
      Part p;
      p.cursor.topic = topic;
      p.cursor.partition = id;
      p.name = fmt::format("{}/{}", topic, id);
      p.owned = !opt_.member && !opt_.follower;
      index_[{topic, id}] = parts_.size();
      parts_.push_back(std::move(p));
    }
  }

  // --until: where each partition ends, recorded now.
  bounded_ = !opt_.io.until.empty();
  if (!bounded_ && !opt_.catch_up) return Status::OK();
  std::vector<PartitionRef> refs;
  for (const Part& p : parts_) refs.push_back({p.cursor.topic, p.cursor.partition});
  auto ends = QueryWatermarks(rk_.get(), refs, opt_.connect_timeout_ms, WatermarkEnds::kHigh);
  if (!ends.ok()) return ends.status();
  for (size_t i = 0; i < parts_.size(); i++) {
    parts_[i].start_end = (*ends)[i].high;
    if (bounded_) parts_[i].end = (*ends)[i].high;
  }
  if (bounded_ && opt_.io.until != "end") {
    auto t = ParseTimePoint(opt_.io.until, NowMs());
    if (!t.ok()) return Status::Usage("the end time: " + t.status().message());
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
    for (Part& p : parts_)
      rd_kafka_topic_partition_list_add(list.get(), p.cursor.topic.c_str(), p.cursor.partition)->offset = *t;
    rd_kafka_resp_err_t e = OffsetsForTimes(rk_.get(), list.get(), opt_.connect_timeout_ms);
    if (e) return KafkaStatus(e, "look up the offsets of the end time");
    for (int i = 0; i < list->cnt; i++) {
      Part& p = parts_[index_[{list->elems[i].topic, list->elems[i].partition}]];
      if (list->elems[i].offset >= 0) p.end = std::min(p.end, list->elems[i].offset);
    }
  }
  return Status::OK();
}

Status KafkaSource::Committed(std::vector<KafkaPosition>* offsets, std::vector<std::string>* metadata,
                              int timeout_ms) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
  for (const Part& p : parts_)
    rd_kafka_topic_partition_list_add(list.get(), p.cursor.topic.c_str(), p.cursor.partition);
  rd_kafka_resp_err_t e = rd_kafka_committed(rk_.get(), list.get(), timeout_ms < 0 ? opt_.connect_timeout_ms : timeout_ms);
  if (e) return KafkaStatus(e, fmt::format("read the committed offsets of group {}", group_id_));
  for (int i = 0; i < list->cnt; i++) {
    const rd_kafka_topic_partition_t& el = list->elems[i];
    if (el.err) return KafkaStatus(el.err, fmt::format("committed offset of {}/{}", el.topic, el.partition));
    if (el.offset < 0) continue;
    offsets->push_back({el.topic, el.partition, el.offset});
    metadata->emplace_back(static_cast<const char*>(el.metadata), el.metadata_size);
  }
  return Status::OK();
}

Status KafkaSource::Start(const InputPosition* at, bool* rewound) {
  *rewound = at != nullptr;
  return StartAt(at ? &at->partitions : nullptr);
}

Status KafkaSource::StartAt(const std::vector<KafkaPosition>* at) {
  next_tick_ = tick_ms_ > 0 ? NowMs() + tick_ms_ : INT64_MAX;
  if (opt_.follower) return Status::OK();  // told what to read (Follow)
  if (opt_.member) {
    // The group assigns the partitions (OnRebalance); until then there are none.
    PartitionList topics(rd_kafka_topic_partition_list_new(static_cast<int>(opt_.topics.size())));
    for (const std::string& t : opt_.topics)
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    return KafkaStatus(rd_kafka_subscribe(rk_.get(), topics.get()), fmt::format("join group {}", group_id_));
  }
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
  for (const Part& p : parts_)
    rd_kafka_topic_partition_list_add(list.get(), p.cursor.topic.c_str(), p.cursor.partition)->offset = -1;
  auto set = [&](const std::string& topic, int32_t partition, int64_t offset) {
    auto it = index_.find({topic, partition});
    if (it != index_.end() && list->elems[it->second].offset < 0) list->elems[it->second].offset = offset;
  };
  if (at) {
    for (const KafkaPosition& p : *at) set(p.topic, p.partition, p.offset);
  } else if (!opt_.io.group.empty()) {
    std::vector<KafkaPosition> committed;
    std::vector<std::string> metadata;
    KPIPE_RETURN_IF_ERROR(Committed(&committed, &metadata));
    for (const KafkaPosition& p : committed) set(p.topic, p.partition, p.offset);
  }
  // The rest: --from, else the beginning (the first offset still there).
  if (at) KPIPE_RETURN_IF_ERROR(FillFromWatermarks(rk_.get(), list.get(), WatermarkEnds::kLow, opt_.connect_timeout_ms));
  else KPIPE_RETURN_IF_ERROR(DefaultStarts(list.get()));
  for (int i = 0; i < list->cnt; i++) {
    Part& p = parts_[i];
    p.cursor.next = p.first = list->elems[i].offset;
    if (on_partition_) on_partition_(p.name, false);
    if (bounded_ && p.cursor.next >= p.end) MarkDone(&p);
  }
  for (const std::string& name : done_)
    if (on_partition_) on_partition_(name, true);
  done_.clear();
  return KafkaStatus(rd_kafka_assign(rk_.get(), list.get()), "assign partitions");
}

Status KafkaSource::DefaultStarts(rd_kafka_topic_partition_list_t* list) {
  if (!opt_.io.from.empty()) {
    auto t = ParseTimePoint(opt_.io.from, NowMs());
    if (!t.ok()) return Status::Usage("the start time: " + t.status().message());
    PartitionList times(rd_kafka_topic_partition_list_new(list->cnt));
    for (int i = 0; i < list->cnt; i++)
      if (list->elems[i].offset < 0)
        rd_kafka_topic_partition_list_add(times.get(), list->elems[i].topic, list->elems[i].partition)->offset = *t;
    if (times->cnt > 0) {
      rd_kafka_resp_err_t e = OffsetsForTimes(rk_.get(), times.get(), opt_.connect_timeout_ms);
      if (e) return KafkaStatus(e, "look up the offsets of the start time");
      // No record at or after the time: the end.
      KPIPE_RETURN_IF_ERROR(
          FillFromWatermarks(rk_.get(), times.get(), WatermarkEnds::kHigh, opt_.connect_timeout_ms));
      for (int i = 0; i < times->cnt; i++) {
        rd_kafka_topic_partition_t* el =
            rd_kafka_topic_partition_list_find(list, times->elems[i].topic, times->elems[i].partition);
        if (el) el->offset = times->elems[i].offset;
      }
    }
  }
  return FillFromWatermarks(rk_.get(), list, WatermarkEnds::kLow, opt_.connect_timeout_ms);
}

// Group members (kpipe(7), SCALING). Served from within the consumer's
// poll, which a member calls only with no line of its in hand: the runner
// has handled every block returned. Messages that arrive after a partition
// was revoked are left alone, and read by its next owner from where this
// one committed.
void KafkaSource::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
  Status st;
  if (!closing_ && status_.ok()) st = assign ? Assign(parts) : Revoke(parts, rd_kafka_assignment_lost(rk) != 0);
  if (!st.ok() && status_.ok()) status_ = st;
  last_ = nullptr;
  // An offset Assign() did not set (it failed, or ran while closing) is
  // never left to the group's committed offsets, which no state goes with.
  if (assign)
    for (int i = 0; i < parts->cnt; i++)
      if (parts->elems[i].offset < 0) parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
  // cooperative-sticky (Open) is incremental; an eager assignor given with
  // -X hands over the whole assignment each time.
  if (CooperativeRebalance(rk)) {
    KafkaError e(assign ? rd_kafka_incremental_assign(rk, parts) : rd_kafka_incremental_unassign(rk, parts));
  } else {
    rd_kafka_assign(rk, assign ? parts : nullptr);
  }
}

Status KafkaSource::Assign(rd_kafka_topic_partition_list_t* parts) {
  Rebalance r;
  r.assigned = true;
  for (int i = 0; i < parts->cnt; i++) {
    if (index_.find({parts->elems[i].topic, parts->elems[i].partition}) == index_.end())
      return Status::Kafka(fmt::format("{}/{} was added to the topic after the start; restart to read it",
                                       parts->elems[i].topic, parts->elems[i].partition));
    r.partitions.push_back({parts->elems[i].topic, parts->elems[i].partition, -1});
  }
  // A first assignment with no partition may be the first round of a
  // cooperative rebalance: the others give up partitions in it, and this
  // member gets them in the second, a second or so later. Ended then, it
  // left them to nobody, and a bounded read of the others ended without
  // the rows of their open windows (in the changelog, for a next owner).
  bool none_yet = parts->cnt == 0 && !assigned_once_;
  if (none_yet && bounded_ && warn_)
    warn_(fmt::format("group {} gave this member no partition (the others have them all): with --until it "
                      "ends unless one comes within {} s", group_id_, kNoPartitionWaitUs / 1'000'000));
  if (on_rebalance_) KPIPE_RETURN_IF_ERROR(on_rebalance_(&r));
  for (int i = 0; i < parts->cnt; i++) parts->elems[i].offset = r.partitions[i].offset;
  KPIPE_RETURN_IF_ERROR(DefaultStarts(parts));
  if (none_yet) {
    if (none_since_ < 0) none_since_ = MonotonicMicros();
  } else {
    assigned_once_ = true;
  }
  Own(parts, "assigned");
  return Status::OK();
}

void KafkaSource::Own(const rd_kafka_topic_partition_list_t* list, const char* how) {
  for (int i = 0; i < list->cnt; i++) {
    Part& p = parts_[index_[{list->elems[i].topic, list->elems[i].partition}]];
    p.owned = true;
    p.done = false;
    p.cursor.Restart(p.first = list->elems[i].offset);
    if (on_partition_) on_partition_(p.name, false);
    if (info_) info_(fmt::format("{}: {}, from offset {}", p.name, how, p.first));
    if (bounded_ && p.cursor.next >= p.end) MarkDone(&p);
  }
}

Status KafkaSource::Revoke(rd_kafka_topic_partition_list_t* parts, bool lost) {
  Rebalance r;
  r.lost = lost;
  std::vector<Part*> gone;
  for (int i = 0; i < parts->cnt; i++) {
    auto it = index_.find({parts->elems[i].topic, parts->elems[i].partition});
    if (it == index_.end() || !parts_[it->second].owned) continue;
    Part& p = parts_[it->second];
    gone.push_back(&p);
    r.partitions.push_back({p.cursor.topic, p.cursor.partition, p.cursor.next});
  }
  // The runner commits what it has of them first (unless lost).
  Status st = on_rebalance_ ? on_rebalance_(&r) : Status::OK();
  for (Part* p : gone) {
    p->owned = false;
    if (info_) info_(fmt::format("{}: {} at offset {}", p->name, lost ? "lost" : "revoked", p->cursor.next));
    if (on_partition_) on_partition_(p->name, true);  // no longer holds W back here
  }
  std::erase_if(done_, [&](const std::string& name) {
    return std::any_of(gone.begin(), gone.end(), [&](const Part* p) { return p->name == name; });
  });
  return st;
}

// Told on the next call to NextBlock: the records of the block in hand
// still have to be judged against the watermark this partition holds back.
void KafkaSource::MarkDone(Part* p) {
  if (p->done) return;
  p->done = true;
  done_.push_back(p->name);
}

bool KafkaSource::caught_up() const {
  for (const Part& p : parts_)
    if (p.owned && !p.done && p.cursor.next < p.start_end && p.cursor.eof < p.start_end) return false;
  return true;
}

bool KafkaSource::AllDone() const {
  if (!bounded_) return false;
  if ((opt_.member || opt_.follower) && !assigned_once_ &&
      (none_since_ < 0 || MonotonicMicros() - none_since_ < kNoPartitionWaitUs))
    return false;
  for (const Part& p : parts_)
    if (p.owned && !p.done) return false;
  return true;
}

KafkaSource::Part* KafkaSource::Find(rd_kafka_message_t* m) {
  if (!m->rkt) return nullptr;
  if (last_ && last_rkt_ == m->rkt && last_->cursor.partition == m->partition) return last_;
  auto it = index_.find({rd_kafka_topic_name(m->rkt), m->partition});
  if (it == index_.end()) return nullptr;
  last_ = &parts_[it->second];
  last_rkt_ = m->rkt;
  return last_;
}

Status KafkaSource::Handle(rd_kafka_message_t* m) {
  Part* p = Find(m);
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (!p || !p->owned) return Status::OK();
      // Everything before the end was read: transaction markers and aborted
      // records up to it are behind us too. Never past a bounded end.
      p->cursor.eof = m->offset;
      int64_t upto = bounded_ ? std::min(m->offset, p->end) : m->offset;
      p->cursor.next = std::max(p->cursor.next, upto);
      if (bounded_ && m->offset >= p->end) MarkDone(p);
      return Status::OK();
    }
    std::string what = rd_kafka_message_errstr(m);
    std::string where = p ? p->name + ": " : "";
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
      return Status::Kafka(fmt::format("{}offset {} is no longer in the topic (retention?): {}", where,
                                       p ? p->cursor.next : m->offset, what));
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
      char why[512];
      if (rd_kafka_fatal_error(rk_.get(), why, sizeof why) == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID)
        return Status::Kafka(fmt::format("another process joined group {} as --instance {}: this one stops",
                                         group_id_, opt_.instance));
      return Status::Kafka(where + what);
    }
    if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
      return Status::Kafka(where + what);
    if (warn_) warn_(where + what);
    return Status::OK();
  }
  if (!p || p->done || !p->owned) return Status::OK();
  if (m->offset < p->cursor.next) return Status::OK();  // fetched before a rebalance, read already
  if (bounded_ && m->offset >= p->end) {
    MarkDone(p);  // past the end recorded at start: not ours to read
    return Status::OK();
  }
  KPIPE_RETURN_IF_ERROR(writer_.Append(&buf_, m, /*envelope=*/true));
  buf_.push_back('\n');
  lines_.emplace_back(static_cast<uint32_t>(p - parts_.data()), m->offset);
  p->cursor.next = m->offset + 1;
  messages_++;
  bytes_ += m->len + m->key_len;
  msgs_since_idle_++;
  bytes_since_idle_ += m->len;
  if (bounded_ && p->cursor.next >= p->end) MarkDone(p);
  return Status::OK();
}

Status KafkaSource::Idle() {
  if (idle_) KPIPE_RETURN_IF_ERROR(idle_());
  if (tick_ && NowMs() >= next_tick_) {
    next_tick_ = NowMs() + tick_ms_;
    KPIPE_RETURN_IF_ERROR(tick_());
  }
  Kick();
  return Status::OK();
}

void KafkaSource::Kick() {
  bool filled = queue_limits_.Filled(msgs_since_idle_, bytes_since_idle_);
  msgs_since_idle_ = bytes_since_idle_ = 0;
  std::vector<FetchCursor*> reading;
  for (Part& p : parts_)
    if (p.owned && !p.done) reading.push_back(&p.cursor);
  KickStalledFetchers(rk_.get(), filled, reading);
}

// Partitions that ended are told once no record of them is in hand: the
// records of a block still have to be judged against the watermark such a
// partition holds back.
void KafkaSource::TellDone() {
  for (const std::string& name : done_)
    if (on_partition_) on_partition_(name, true);
  done_.clear();
}

// librdkafka 2.0 runs the group protocol on its main thread, which wakes for
// requests from the application or on its own timers, as seldom as every
// 500 ms: a member that learns of a rebalance from a heartbeat rejoins up to
// that much later, and a heartbeat comes late. A request to that thread (the
// assignment, asked for and thrown away) wakes it, and it heartbeats and
// rejoins on time: the members a new one waits for rejoin within a
// heartbeat, and the new one gets its partitions 1 s after it joined (the
// earliest librdkafka repeats a JoinGroup), not 1.0 to 1.5 s
// (bench/scale_bench.sh).
void KafkaSource::NudgeGroup() {
  if (!opt_.member) return;
  int64_t now = MonotonicMicros();
  if (now - nudged_at_ < kGroupNudgeUs) return;
  nudged_at_ = now;
  rd_kafka_topic_partition_list_t* list = nullptr;
  if (rd_kafka_assignment(rk_.get(), &list) == RD_KAFKA_RESP_ERR_NO_ERROR && list)
    rd_kafka_topic_partition_list_destroy(list);
}

bool KafkaSource::Take(bool* more) {
  NudgeGroup();
  rd_kafka_message_t* batch[kBatch];
  *more = false;
  // A member calls the consumer only with no line in hand: a rebalance
  // served from the call (OnRebalance) may take away the partition of a
  // line not yet handled.
  if (opt_.member && !buf_.empty()) return true;
  for (;;) {
    ssize_t n = ConsumeQueue(queue_, 0, batch, kBatch);  // not the batch call (ConsumeQueue)
    if (n <= 0) return status_.ok();
    for (ssize_t i = 0; i < n; i++) {
      if (status_.ok()) status_ = Handle(batch[i]);
      rd_kafka_message_destroy(batch[i]);
    }
    if (!status_.ok()) return false;
    // A member calls the consumer only with no line in hand (OnRebalance).
    if (n < kBatch || opt_.member) return true;
    if (buf_.size() >= kBlockBytes) {
      *more = true;
      return true;
    }
  }
}

std::string_view KafkaSource::Block() {
  size_t size = buf_.size();
  buf_.reserve(size + simdjson::SIMDJSON_PADDING);
  return std::string_view(buf_.data(), size);
}

bool KafkaSource::NextBlock(std::string_view* block) {
  buf_.clear();
  lines_.clear();
  if (!status_.ok()) return false;
  for (;;) {
    if (!status_.ok()) return false;  // a rebalance callback failed (OnRebalance)
    TellDone();
    if (AllDone()) return false;
    if (signals_ && signals_->Pending()) {
      status_ = Status::Interrupted(signals_->Pending());
      return false;
    }
    bool more;
    if (!Take(&more)) return false;
    if (!buf_.empty()) break;
    // A rebalance served by a poll (OnRebalance) may have failed, setting
    // status_: what follows never overwrites that. (A poll that both failed
    // a rebalance and returned a message once lost the failure, and the
    // member waited for partitions it never took.)
    Status idle = Idle();
    if (status_.ok()) status_ = std::move(idle);
    if (!status_.ok()) return false;
    // A reader of the output that has gone (| head): quiet, the input
    // would keep the tool waiting for good.
    if (ReaderGone(&watch_)) {
      status_ = Status::BrokenPipe();
      return false;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), kIdlePollMs);
    if (!m) continue;
    if (status_.ok()) status_ = Handle(m);
    rd_kafka_message_destroy(m);
    if (!status_.ok()) return false;
    if (!buf_.empty()) {
      if (!Take(&more)) return false;
      break;
    }
  }
  *block = Block();
  return true;
}

bool KafkaSource::TryBlock(std::string_view* block) {
  DrainEvents();
  buf_.clear();
  lines_.clear();
  if (!status_.ok()) return false;
  TellDone();
  if (AllDone()) return false;
  bool more;
  if (!Take(&more)) return false;
  if (buf_.empty()) {
    Kick();
    return false;
  }
  if (!status_.ok()) return false;
  *block = Block();
  return true;
}

Result<int> KafkaSource::ReadyFd() {
  if (event_fds_[0] >= 0) return event_fds_[0];
  if (::pipe2(event_fds_, O_NONBLOCK | O_CLOEXEC) != 0)
    return Status::IOError(fmt::format("pipe: {}", std::strerror(errno)));
  rd_kafka_queue_io_event_enable(queue_, event_fds_[1], "1", 1);
  return event_fds_[0];
}

void KafkaSource::DrainEvents() {
  char buf[256];
  while (event_fds_[0] >= 0 && ::read(event_fds_[0], buf, sizeof buf) > 0) {
  }
}

void KafkaSource::Locate(size_t i, uint64_t line_no, std::string* source, uint64_t* offset) const {
  if (i >= lines_.size()) return;
  const Part& p = parts_[lines_[i].first];
  *source = "kafka:" + p.name;
  *offset = static_cast<uint64_t>(lines_[i].second);
}

bool KafkaSource::Progress(uint64_t* done, uint64_t* total) const {
  if (!bounded_) return false;
  *done = *total = 0;
  for (const Part& p : parts_) {
    if (!p.owned || p.end <= p.first) continue;
    *total += static_cast<uint64_t>(p.end - p.first);
    int64_t at = p.done ? p.end : std::min(std::max(p.cursor.next, p.cursor.eof), p.end);
    *done += static_cast<uint64_t>(std::max<int64_t>(at - p.first, 0));
  }
  return true;
}

void KafkaSource::AddMetrics(service::Snapshot* s) const {
  s->bytes_in += bytes_;
  s->kafka_input = true;
  Lag(&s->lag);
}

void KafkaSource::Lag(std::vector<service::PartitionLag>* out) const {
  std::vector<const FetchCursor*> cursors;
  for (const Part& p : parts_)
    if (p.owned) cursors.push_back(&p.cursor);
  AppendLag(rk_.get(), cursors, out);
}

std::vector<KafkaPosition> KafkaSource::positions() const {
  std::vector<KafkaPosition> out;
  out.reserve(parts_.size());
  for (const Part& p : parts_)
    if (p.owned) out.push_back({p.cursor.topic, p.cursor.partition, p.cursor.next});
  return out;
}

int KafkaSource::partition_count(const std::string& topic) const {
  int n = 0;
  for (const Part& p : parts_) n += p.cursor.topic == topic;
  return n;
}

Status KafkaSource::Seek(std::vector<KafkaPosition> at) {
  if (at.empty()) return Status::OK();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(at.size())));
  for (const KafkaPosition& p : at)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  KPIPE_RETURN_IF_ERROR(DefaultStarts(list.get()));
  for (int i = 0; i < list->cnt; i++) {
    auto it = index_.find({list->elems[i].topic, list->elems[i].partition});
    if (it == index_.end()) continue;
    Part& p = parts_[it->second];
    p.cursor.Restart(list->elems[i].offset);
    p.done = false;
    if (bounded_ && p.cursor.next >= p.end) MarkDone(&p);
  }
  last_ = nullptr;
  return SeekPartitions(rk_.get(), list.get(), opt_.connect_timeout_ms, "seek back to the last commit");
}

Status KafkaSource::Follow(std::vector<KafkaPosition> add) {
  assigned_once_ = true;
  if (add.empty()) return Status::OK();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(add.size())));
  for (const KafkaPosition& p : add) {
    if (index_.find({p.topic, p.partition}) == index_.end())
      return Status::Kafka(fmt::format("{}/{} was added to the topic after the start; restart to read it", p.topic,
                                       p.partition));
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  KPIPE_RETURN_IF_ERROR(DefaultStarts(list.get()));
  Own(list.get(), "following");
  return Reassign();
}

Status KafkaSource::Unfollow(const std::vector<int32_t>& drop) {
  bool any = false;
  for (Part& p : parts_) {
    if (!p.owned || std::find(drop.begin(), drop.end(), p.cursor.partition) == drop.end()) continue;
    p.owned = false;
    any = true;
    if (info_) info_(fmt::format("{}: no longer followed, at offset {}", p.name, p.cursor.next));
    if (on_partition_) on_partition_(p.name, true);
    std::erase(done_, p.name);
  }
  return any ? Reassign() : Status::OK();
}

Status KafkaSource::Reassign() {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts_.size())));
  for (const Part& p : parts_)
    if (p.owned)
      rd_kafka_topic_partition_list_add(list.get(), p.cursor.topic.c_str(), p.cursor.partition)->offset =
          p.cursor.next;
  last_ = nullptr;
  return KafkaStatus(rd_kafka_assign(rk_.get(), list.get()), "assign partitions");
}

Status KafkaSource::Commit(const std::vector<KafkaPosition>& at) {
  if (opt_.io.group.empty() || at.empty()) return Status::OK();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(at.size())));
  for (const KafkaPosition& p : at)
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  return KafkaStatus(rd_kafka_commit(rk_.get(), list.get(), 0), "commit offsets");
}

}  // namespace kpipe
