#include "kpipe/stream/members.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/client.h"
#include "kpipe/kafka/transactions.h"
#include "kpipe/stream/changelog.h"
#include "kpipe/state/codec.h"
#include "kpipe/stream/exactly_once.h"
#include "kpipe/time/time.h"

namespace kpipe {

std::string ReadableFingerprint(std::string_view fingerprint) {
  std::string out;
  size_t pos = 0;
  while (pos <= fingerprint.size()) {
    size_t end = std::min(fingerprint.find(' ', pos), fingerprint.size());
    std::string_view word = fingerprint.substr(pos, end - pos);
    // "--name " and then the next option, or the end: a value not given.
    bool empty_value = word.starts_with("--") && end < fingerprint.size() &&
                       (end + 1 == fingerprint.size() || fingerprint[end + 1] == ' ');
    if (empty_value) {
      end++;  // the option and its empty value
    } else if (!word.empty()) {
      if (!out.empty()) out.push_back(' ');
      out.append(word);
    }
    pos = end + 1;
  }
  return out;
}

using changelog::ChangelogWriter;
using changelog::EntryKey;
using changelog::PairReader;
using changelog::PairWriter;
using changelog::RecordReader;
using changelog::Records;

namespace {

// Of the "p" record: its layout, with one input and with two.
constexpr uint64_t kPositionVersion = 1;
constexpr uint64_t kPositionVersion2 = 2;

// A local copy older than this is not used (Restore).
constexpr int64_t kCopyMaxAgeMs = 12 * 3600 * 1000;

// After a refused commit, no commit for this long unless a rebalance comes
// first: the transaction stays well within its timeout either way.
constexpr int64_t kStaleMs = 5000;

}  // namespace

Status Members::Open() {
  const KafkaIo& io = opt_.kafka_io;
  topic_ = io.changelog.empty() ? fmt::format("{}-{}-changelog", io.group, opt_.tool) : io.changelog;
  std::vector<std::string> topics = KafkaTopics(opt_.inputs[0].name);
  if (topics.size() != 1)
    return Status::Usage(fmt::format("-G {}: a member reads one topic, not {} (kpipe(7), SCALING)", io.group,
                                     opt_.inputs[0].name));
  int n = source_->partition_count(topics[0]);
  if (follower_) {
    std::vector<std::string> right = KafkaTopics(opt_.inputs[1].name);
    if (right.size() != 1)
      return Status::Usage(fmt::format("-G {}: a member reads one topic per input, not {} (kpipe(7), SCALING)",
                                       io.group, opt_.inputs[1].name));
    follow_topic_ = right[0];
    int m = follower_->partition_count(right[0]);
    if (m != n)
      return Status::Usage(fmt::format(
          "-G {}: a member joins partition p of {} with partition p of {}, so the two must be co-partitioned "
          "(as many partitions, keyed alike), but {} has {} partitions and {} has {} (kpipe(7), SCALING)",
          io.group, topics[0], right[0], topics[0], n, right[0], m));
  }
  KPIPE_RETURN_IF_ERROR(RefuseSingleOwnersGroup(source_->handle(), topics[0], n, io.group));
  admin::NewTopic t;
  t.name = topic_;
  t.partitions = n;
  t.configs = {{"cleanup.policy", "compact"}};
  int have = 0;
  // Asked of the consumer, which never creates a topic by asking for it.
  KPIPE_RETURN_IF_ERROR(admin::EnsureTopic(source_->handle(), t, 10'000, &have));
  if (have < n)
    return Status::Usage(fmt::format("the changelog {} has {} partitions and the input {} has {}; give another "
                                     "--changelog TOPIC", topic_, have, topics[0], n));
  log_ = sink_;
  if (!sink_->transactional()) {
    own_log_ = std::make_unique<KafkaSink>(MemberSinkOptions(opt_, "-changelog"), opt_.warn, opt_.info);
    KPIPE_RETURN_IF_ERROR(own_log_->Open());
    log_ = own_log_.get();
  }
  if (!opt_.member_copy_dir.empty()) {
    auto copy = state::PartitionCopy::Open(opt_.member_copy_dir);
    if (!copy.ok()) return copy.status();
    copy_ = std::move(*copy);
  }
  auto props = OwnClientProperties({{"enable.auto.commit", "false"}}, {{"isolation.level", "read_uncommitted"}});
  if (!props.ok()) return props.status();
  auto query = Connect(RD_KAFKA_CONSUMER, *props, &query_events_, nullptr, "changelog ends", 10'000);
  if (!query.ok()) return query.status();
  query_ = std::move(*query);
  auto h = log_->Topic(topic_);
  if (!h.ok()) return h.status();
  out_topic_ = *h;
  next_commit_ = opt_.checkpoint_every_ms > 0 ? NowMs() + opt_.checkpoint_every_ms : INT64_MAX;
  Info(fmt::format("member of group {}: state in changelog {} ({} partitions)", io.group, topic_, have));
  return Status::OK();
}

Result<Properties> Members::OwnClientProperties(const Properties& defaults, const Properties& forced) const {
  auto props = ResolveProperties(opt_.kafka_io.kafka, defaults);
  if (!props.ok()) return props.status();
  std::erase_if(*props, [&](const auto& kv) {
    if (kv.first == "group.instance.id" || kv.first == "group.id") return true;
    return std::any_of(forced.begin(), forced.end(), [&](const auto& f) { return f.first == kv.first; });
  });
  props->insert(props->end(), forced.begin(), forced.end());
  return props;
}

Status Members::OnRebalance(Rebalance* r) {
  stale_until_ = 0;
  if (r->assigned) return Gained(&r->partitions);
  if (!r->lost) {
    KPIPE_RETURN_IF_ERROR(Commit(&r->partitions));
    return Drop(r->partitions);
  }
  // Lost: another member may have them already, and reads them from the
  // last commit. With transactions what was done since then is aborted
  // (of every partition: one transaction holds them all), and the others
  // start over from there too.
  if (sink_->transactional()) {
    Info(fmt::format("{} partitions lost: the open transaction is aborted", r->partitions.size()));
    KPIPE_RETURN_IF_ERROR(sink_->AbortAndBegin());
    return Rewind(r->partitions);
  }
  return Drop(r->partitions);
}

Status Members::Gained(std::vector<PartitionPosition>* parts) {
  std::map<int32_t, int64_t> follow_at;
  KPIPE_RETURN_IF_ERROR(Restore(parts, &follow_at));
  return follower_ ? follower_->Follow(FollowerPositions(*parts, follow_at)) : Status::OK();
}

std::vector<PartitionPosition> Members::FollowerPositions(const std::vector<PartitionPosition>& parts,
                                                          const std::map<int32_t, int64_t>& at) const {
  std::vector<PartitionPosition> follow;
  for (const PartitionPosition& p : parts) {
    auto it = at.find(p.partition);
    follow.push_back({follow_topic_, p.partition, it == at.end() ? -1 : it->second});
  }
  return follow;
}

Status Members::Drop(const std::vector<PartitionPosition>& parts) {
  std::vector<int32_t> numbers;
  for (const PartitionPosition& p : parts) {
    op_->Lose(p.partition);
    numbers.push_back(p.partition);
  }
  return follower_ ? follower_->Unfollow(numbers) : Status::OK();
}

std::vector<PartitionPosition> Members::Positions() const {
  std::vector<PartitionPosition> at = source_->positions();
  if (follower_) {
    std::vector<PartitionPosition> more = follower_->positions();
    at.insert(at.end(), more.begin(), more.end());
  }
  return at;
}

void Members::AddMetrics(service::Snapshot* s) const {
  s->member = true;
  for (const auto& [n, r] : restores_)
    if (op_->parts().count(n)) s->restores.push_back(r);
  s->restoring_partitions = restoring_;
  s->restoring_read = restoring_read_;
  s->rewinds = rewinds_;
}

Status Members::Rewind(const std::vector<PartitionPosition>& drop) {
  rewinds_++;
  KPIPE_RETURN_IF_ERROR(Drop(drop));
  std::vector<PartitionPosition> keep;
  for (const PartitionPosition& p : source_->positions())
    if (op_->parts().count(p.partition)) keep.push_back(p);
  std::map<int32_t, int64_t> follow_at;
  KPIPE_RETURN_IF_ERROR(Restore(&keep, &follow_at));
  KPIPE_RETURN_IF_ERROR(source_->Seek(keep));
  if (follower_) KPIPE_RETURN_IF_ERROR(follower_->Seek(FollowerPositions(keep, follow_at)));
  committed_.clear();
  Info(fmt::format("{} partitions start over from their last commit", keep.size()));
  return Status::OK();
}

Status Members::MaybeCommit() {
  // A doomed transaction goes at once: its abort rewinds, and the work on
  // it until then would be lost.
  if (NowMs() < next_commit_ && !log_->doomed()) return Status::OK();
  return Commit();
}

Status Members::Produce(int32_t partition, std::string_view key, std::string_view value, bool deleted) {
  // The local copy gets it once the commit has succeeded (SaveCopies).
  if (copy_) pending_[partition].push_back({std::string(key), std::string(value), deleted});
  return log_->ProduceTo(out_topic_, partition, key, deleted ? std::string_view() : value);
}

changelog::ChangelogWriter::Produce Members::Writer(int32_t partition) {
  return [this, partition](std::string_view key, std::string_view value, bool deleted) {
    return Produce(partition, key, value, deleted);
  };
}

Status Members::SaveCopies() {
  if (!copy_ || pending_.empty()) return Status::OK();
  std::map<int32_t, std::vector<state::PartitionCopy::Change>> pending = std::move(pending_);
  pending_.clear();
  // Complete up to the changelog's end now: this commit's records, and its
  // transaction's marker.
  std::vector<PartitionRef> refs;
  for (const auto& [partition, changes] : pending) refs.push_back({topic_, partition});
  auto marks = QueryWatermarks(source_->handle(), refs, 10'000);
  size_t i = 0;
  for (auto& [partition, changes] : pending) {
    Status st = marks.ok() ? copy_->Apply(partition, changes, {CopyFingerprint(), (*marks)[i].high, NowMs()})
                           : copy_->Forget(partition);  // not known to be complete: not trusted
    i++;
    KPIPE_RETURN_IF_ERROR(st);
  }
  return Status::OK();
}

Status Members::WriteKeyed(int32_t partition, PartitionedOperator::Part* p) {
  std::vector<std::pair<std::string, std::string>> now;
  PairWriter w(&now);
  KPIPE_RETURN_IF_ERROR(p->op->Save(&w));
  std::sort(now.begin(), now.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Both in key order: the entries new or changed are put, those gone deleted.
  ChangelogWriter out(Writer(partition), 's');
  const auto& was = p->written;
  size_t i = 0, j = 0;
  while (i < now.size() || j < was.size()) {
    if (j == was.size() || (i < now.size() && now[i].first < was[j].first)) {
      KPIPE_RETURN_IF_ERROR(out.Put(now[i].first, now[i].second));
      i++;
    } else if (i == now.size() || was[j].first < now[i].first) {
      KPIPE_RETURN_IF_ERROR(out.Delete(was[j].first));
      j++;
    } else {
      if (now[i].second != was[j].second) KPIPE_RETURN_IF_ERROR(out.Put(now[i].first, now[i].second));
      i++;
      j++;
    }
  }
  p->written = std::move(now);
  return Status::OK();
}

Status Members::WritePartition(int32_t partition, PartitionedOperator::Part* p, const int64_t* offsets) {
  if (IncrementalState* inc = p->op->incremental()) {
    ChangelogWriter w(Writer(partition));
    KPIPE_RETURN_IF_ERROR(inc->SaveChanges(&w));
  } else if (p->op->keyed_save()) {
    KPIPE_RETURN_IF_ERROR(WriteKeyed(partition, p));
  } else {
    std::vector<std::pair<std::string, std::string>> now;
    PairWriter w(&now);
    KPIPE_RETURN_IF_ERROR(p->op->Save(&w));
    for (size_t i = 0; i < now.size(); i++) {
      if (i < p->written.size() && p->written[i] == now[i]) continue;
      value_.clear();
      state::Encoder e(&value_);
      e.Str(now[i].first);
      e.Str(now[i].second);
      KPIPE_RETURN_IF_ERROR(Produce(partition, EntryKey(i), value_, false));
    }
    for (size_t i = now.size(); i < p->written.size(); i++)
      KPIPE_RETURN_IF_ERROR(Produce(partition, EntryKey(i), std::string_view(), true));
    p->written = std::move(now);
  }
  value_.clear();
  state::Encoder e(&value_);
  bool two = op_->inputs() > 1;
  e.U64(two ? kPositionVersion2 : kPositionVersion);
  e.Str(opt_.fingerprint);
  e.I64(offsets[0]);
  e.I64(p->w[0]);
  if (two) {
    e.I64(offsets[1]);
    e.I64(p->w[1]);
    e.U64(p->seq);
  }
  return Produce(partition, "p", value_, false);
}

Status Members::Commit(const std::vector<PartitionPosition>* revoking) {
  next_commit_ = opt_.checkpoint_every_ms > 0 ? NowMs() + opt_.checkpoint_every_ms : INT64_MAX;
  std::vector<PartitionPosition> at = Positions();
  bool eos = sink_->transactional();
  if (at == committed_ && (!eos || sink_->open_messages() == 0)) return Status::OK();
  // Refused by the group until the next rebalance: nothing to gain by trying.
  if (!revoking && NowMs() < stale_until_) return Status::OK();
  // The rows first, acknowledged: a changelog record never covers a row
  // that could still be lost.
  KPIPE_RETURN_IF_ERROR(flush_rows_());
  if (!eos) KPIPE_RETURN_IF_ERROR(sink_->Flush());
  pending_.clear();  // what an earlier commit that failed left
  for (const PartitionPosition& pos : at) {
    if (follower_ && pos.topic == follow_topic_) continue;
    auto it = op_->parts().find(pos.partition);
    if (it == op_->parts().end()) continue;
    int64_t offsets[2] = {pos.offset, -1};
    for (const PartitionPosition& f : at)
      if (follower_ && f.topic == follow_topic_ && f.partition == pos.partition) offsets[1] = f.offset;
    KPIPE_RETURN_IF_ERROR(WritePartition(pos.partition, &it->second, offsets));
  }
  // One transaction: the changelog records and the group's offsets, and
  // with --exactly-once the rows.
  uint64_t aborts = log_->aborts();
  Status st = log_->SendOffsets(source_->handle(), at, "");
  if (st.ok()) st = log_->CommitAndBegin();
  if (st.ok()) {
    committed_ = std::move(at);
    return SaveCopies();
  }
  // Refused and aborted (the group moved on to a new generation during a
  // rebalance): every partition starts over from its last commit; those
  // being revoked go as they are, to be read from there by their new owner.
  if (log_->aborts() == aborts) return st;
  Info(st.message());
  if (opt_.warn)
    opt_.warn(fmt::format("group {} refused a commit (it is rebalancing, or this member was stopped past its "
                          "session): the transaction is aborted, and the member's partitions start over from "
                          "their last commit{}", opt_.kafka_io.group,
                          eos ? "" : " (the rows written since then are written again)"));
  // The rebalance that follows usually comes within a heartbeat or two.
  stale_until_ = NowMs() + kStaleMs;
  KPIPE_RETURN_IF_ERROR(log_->Begin());
  return Rewind(revoking ? *revoking : std::vector<PartitionPosition>{});
}

Status Members::Restore(std::vector<PartitionPosition>* parts, std::map<int32_t, int64_t>* follow) {
  if (parts->empty()) return Status::OK();
  int64_t started = MonotonicMicros();
  // Partitions whose changelog is empty (never written, or compacted away
  // to nothing) start fresh without a read.
  // The high watermarks, not the last stable offsets: the previous owner's
  // last commit is read even while its markers are on their way (a restore
  // that stopped short of it would read its records again from an older
  // position, and write their rows twice). A transaction still open, whose
  // outcome is not known, is waited for below.
  std::vector<PartitionRef> refs;
  for (const PartitionPosition& p : *parts) refs.push_back({topic_, p.partition});
  auto marks = QueryWatermarks(query_.get(), refs, 10'000);
  if (!marks.ok()) return marks.status();
  std::vector<PartitionPosition> to_read;
  std::map<int32_t, int64_t> ends;    // partition -> its high watermark now
  std::map<int32_t, int64_t> starts;  // ... and its low one
  for (size_t i = 0; i < parts->size(); i++) {
    if ((*marks)[i].high > (*marks)[i].low) {
      to_read.push_back((*parts)[i]);
      ends[(*parts)[i].partition] = (*marks)[i].high;
      starts[(*parts)[i].partition] = (*marks)[i].low;
    } else {
      op_->Gain((*parts)[i].partition, INT64_MIN);
      (*parts)[i].offset = -1;
      if (copy_) KPIPE_RETURN_IF_ERROR(copy_->Forget((*parts)[i].partition));
    }
  }
  // A local copy that is complete up to an offset still in the changelog,
  // and recent, spares reading what comes before it. (Recent: compaction
  // removes a tombstone some time after it was written, 24 h by default,
  // and a copy older than that could miss one.)
  std::map<int32_t, Records> local;
  std::map<int32_t, std::string> local_position;
  for (const PartitionPosition& p : to_read) {
    if (!copy_) break;
    state::PartitionCopy::Meta meta;
    Records records;
    std::string position;
    auto found = copy_->Read(p.partition, &meta, [&](std::string_view k, std::string_view v) {
      if (k == "p") position.assign(v);
      else records.Add(k, v.data(), v.size());
    });
    if (!found.ok()) return found.status();
    if (!*found) continue;
    if (meta.fingerprint != CopyFingerprint() || meta.offset < starts[p.partition] || meta.offset > ends[p.partition] ||
        NowMs() - meta.written_ms > kCopyMaxAgeMs) {
      Info(fmt::format("{}: the local copy in {} is not used (other options, too old, or not in the changelog "
                       "any more)", Name(p), opt_.member_copy_dir));
      KPIPE_RETURN_IF_ERROR(copy_->Forget(p.partition));
      continue;
    }
    Info(fmt::format("{}: local copy in {}: {} records, complete to changelog offset {}; reading {} more",
                     Name(p), opt_.member_copy_dir, records.size(), meta.offset, ends[p.partition] - meta.offset));
    starts[p.partition] = meta.offset;
    local[p.partition] = std::move(records);
    local_position[p.partition] = std::move(position);
  }
  Info(fmt::format("{} partitions gained, {} with state in {}", parts->size(), to_read.size(), topic_));
  if (to_read.empty()) return Status::OK();
  Properties defaults = {
      {"enable.auto.commit", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},
      {"fetch.wait.max.ms", "20"},
      // A partition's whole changelog may be queued: no fetcher stops for a
      // full queue (librdkafka 2.0 then waits a second), and an error (a
      // partition not yet ready) is retried soon, not in 500 ms.
      {"queued.min.messages", "1000000"},
      {"fetch.error.backoff.ms", "20"},
  };
  auto props = OwnClientProperties(defaults, {{"group.id", fmt::format("{}-restore", opt_.kafka_io.group)}});
  if (!props.ok()) return props.status();
  ClientEvents events;
  auto rk = Connect(RD_KAFKA_CONSUMER, *props, &events, opt_.kafka_io.kafka.verbose ? opt_.info : nullptr,
                    "changelog reader", 10'000);
  if (!rk.ok()) return rk.status();
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(to_read.size())));
  for (const PartitionPosition& p : to_read)
    // The first offset, not BEGINNING: a logical offset is looked up, and a
    // partition new to the reader has no leader yet, so librdkafka 2.0
    // looks again only 500 ms later. (Gone meanwhile: auto.offset.reset.)
    rd_kafka_topic_partition_list_add(list.get(), topic_.c_str(), p.partition)->offset = starts[p.partition];
  KPIPE_RETURN_IF_ERROR(KafkaStatus(rd_kafka_assign(rk->get(), list.get()), "read the changelog " + topic_));

  struct Got {
    Records records;
    std::string position;
    bool end = false;
    int64_t target = 0;  // read until everything before this is decided
    FetchCursor cursor;
    bool copied = false;   // begun from the local copy
    uint64_t read = 0;     // records read from the changelog
  };
  std::map<int32_t, Got> got;
  for (const PartitionPosition& p : to_read) {
    if (local.count(p.partition)) {
      got[p.partition].records = std::move(local[p.partition]);
      got[p.partition].position = std::move(local_position[p.partition]);
      got[p.partition].copied = true;
    }
    got[p.partition].cursor.topic = topic_;
    got[p.partition].cursor.partition = p.partition;
    got[p.partition].target = ends[p.partition];
  }
  // librdkafka 2.0 pauses a fetcher for a second once the queue filled:
  // kicked as KafkaSource does (kafka/client.h).
  QueueLimits limits(*props);
  uint64_t taken_msgs = 0, taken_bytes = 0;
  // A transaction a dead member left open holds the end back until it
  // times out.
  int64_t deadline = MonotonicMicros() + (int64_t{Transactions::kTimeoutMs} + 30'000) * 1000;
  rd_kafka_poll_set_consumer(rk->get());
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk->get());
  constexpr int kBatch = 4096;
  std::vector<rd_kafka_message_t*> batch(kBatch);
  Status st;
  // A partition read to its end is loaded at once, while librdkafka goes
  // on fetching the others.
  uint64_t entries = 0;
  int64_t loading = 0;  // µs
  auto load = [&](int32_t partition, Got& g) -> Status {
    int64_t began = MonotonicMicros();
    PartitionPosition& pp = *std::find_if(parts->begin(), parts->end(),
                                          [&](const PartitionPosition& p) { return p.partition == partition; });
    std::string name = Name(pp);
    int64_t offset = -1, follow_offset = -1, w[2] = {INT64_MIN, INT64_MIN};
    uint64_t seq = 0;
    if (!g.position.empty()) {
      state::Decoder d(g.position);
      uint64_t version = d.U64();
      std::string fingerprint(d.Str());
      offset = d.I64();
      w[0] = d.I64();
      if (version == kPositionVersion2) {
        follow_offset = d.I64();
        w[1] = d.I64();
        seq = d.U64();
      }
      KPIPE_RETURN_IF_ERROR(d.Check("changelog position"));
      uint64_t want = op_->inputs() > 1 ? kPositionVersion2 : kPositionVersion;
      if (version != want || fingerprint != opt_.fingerprint)
        return Status::Usage(fmt::format("the changelog {} holds the state of other options ({}); give another -G "
                                         "or --changelog TOPIC", topic_, ReadableFingerprint(fingerprint)));
    }
    PartitionedOperator::Part* p = op_->Gain(pp.partition, w);
    p->seq = seq;
    if (follow_offset >= 0) (*follow)[pp.partition] = follow_offset;
    g.records.Latest();
    // The local copy becomes what was restored: later commits write only
    // what changes.
    if (copy_ && !(g.copied && g.read == 0)) {
      size_t n = g.records.size();
      KPIPE_RETURN_IF_ERROR(copy_->Replace(
          pp.partition, n + !g.position.empty(),
          [&](size_t i) {
            return i < n ? std::pair(g.records.key(i), g.records.value(i))
                         : std::pair(std::string_view("p"), std::string_view(g.position));
          },
          {CopyFingerprint(), g.target, NowMs()}));
    }
    size_t count = 0;
    if (p->op->keyed_save()) {
      // "s"+KEY -> "v"+VALUE. Sorted by key: the records come in the order
      // they were written, over many commits, and WriteKeyed's diff of the
      // next commit walks what was written in key order (else it deletes
      // entries the state still holds, and the next restore lacks them).
      RecordReader reader(&g.records, 's');
      std::vector<std::pair<std::string, std::string>> loaded;
      std::string_view k, v;
      while (reader.Next(&k, &v)) loaded.emplace_back(k, v);
      std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      if (!g.position.empty()) {
        PairReader pairs(&loaded);
        KPIPE_RETURN_IF_ERROR(p->op->Load(&pairs));
      }
      count = loaded.size();
      p->written = std::move(loaded);
    } else if (p->op->incremental()) {
      // "k"+KEY -> "v"+VALUE
      RecordReader reader(&g.records, 'k');
      if (!g.position.empty()) KPIPE_RETURN_IF_ERROR(p->op->Load(&reader));
      count = reader.count();
    } else {
      std::vector<std::pair<std::string, std::string>> loaded;
      // "e"+N, big-endian: in key order, the entries' order.
      std::vector<size_t> order;
      for (size_t i = 0; i < g.records.size(); i++)
        if (g.records.key(i)[0] == 'e') order.push_back(i);
      std::sort(order.begin(), order.end(),
                [&](size_t a, size_t b) { return g.records.key(a) < g.records.key(b); });
      for (size_t i : order) {
        state::Decoder d(g.records.value(i));
        std::string key(d.Str());
        std::string value(d.Str());
        KPIPE_RETURN_IF_ERROR(d.Check("changelog entry"));
        loaded.emplace_back(std::move(key), std::move(value));
      }
      if (!g.position.empty()) {
        PairReader reader(&loaded);
        KPIPE_RETURN_IF_ERROR(p->op->Load(&reader));
      }
      count = loaded.size();
      p->written = std::move(loaded);
    }
    entries += count;
    pp.offset = offset;
    g.records = Records();  // its memory back now
    restores_[pp.partition] = {pp.topic, pp.partition, count, 0};
    Info(fmt::format("{}: state restored from {}: {} entries, from offset {}", name, topic_, count, offset));
      loading += MonotonicMicros() - began;
    return Status::OK();
  };
  size_t ended = 0;
  auto ended_at = [&](int32_t partition, Got& g) {
    g.end = true;
    ended++;
    if (st.ok()) st = load(partition, g);
  };
  restoring_ = static_cast<int>(to_read.size());
  restoring_read_ = 0;
  int64_t next_progress = MonotonicMicros() + 500'000;
  // A restore that takes long says what it waits for, once: it would
  // otherwise look hung (a dead member's transaction holds a partition's
  // end back until it times out).
  int64_t tell_at = MonotonicMicros() + 5'000'000;
  while (ended < got.size() && st.ok()) {
    if (progress_ && MonotonicMicros() > next_progress) {
      progress_();
      next_progress = MonotonicMicros() + 500'000;
    }
    if (opt_.warn && MonotonicMicros() > tell_at) {
      tell_at = INT64_MAX;
      std::string waiting;
      for (const auto& [part, g] : got) {
        if (g.end) continue;
        if (!waiting.empty()) waiting += ", ";
        waiting += fmt::format("{} (read to {}, its end at {} is {})", part, std::max(g.cursor.next, g.cursor.eof),
                               g.target, g.cursor.eof >= 0 ? "held back by a transaction not yet decided" : "not reached");
      }
      opt_.warn(fmt::format("restoring from the changelog {} for {:.0f} s, partitions {}; a transaction a stopped "
                            "member left open is decided at its timeout ({} s)",
                            topic_, (MonotonicMicros() - started) / 1e6, waiting, Transactions::kTimeoutMs / 1000));
    }
    if (MonotonicMicros() > deadline) {
      st = Status::Kafka(fmt::format("the changelog {} did not reach its end within {} s", topic_,
                                     Transactions::kTimeoutMs / 1000 + 30));
      break;
    }
    if (int sig = PendingStopSignal()) {
      st = Status::Interrupted(sig);
      break;
    }
    // What is there now; when nothing is, a wait for the next one. Not the
    // batch call, which can drop records when a fetcher is kicked (a seek;
    // ConsumeQueue).
    ssize_t n = ConsumeQueue(queue, 0, batch.data(), kBatch);
    if (n == 0) {
      std::vector<FetchCursor*> reading;
      for (auto& [part, g] : got)
        if (!g.end) reading.push_back(&g.cursor);
      KickStalledFetchers(rk->get(), limits.Filled(taken_msgs, taken_bytes), reading);
      taken_msgs = taken_bytes = 0;
      // Past the target by transaction markers alone, which bring no new
      // end-of-partition event: the fetch position says so.
      PartitionList at(rd_kafka_topic_partition_list_new(static_cast<int>(reading.size())));
      for (const FetchCursor* c : reading)
        if (c->eof >= 0) rd_kafka_topic_partition_list_add(at.get(), topic_.c_str(), c->partition);
      if (at->cnt > 0 && rd_kafka_position(rk->get(), at.get()) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < at->cnt; i++) {
          Got& g = got[at->elems[i].partition];
          if (!g.end && at->elems[i].offset >= g.target) ended_at(at->elems[i].partition, g);
        }
      }
      n = ConsumeQueue(queue, 20, batch.data(), 1);
    }
    for (ssize_t i = 0; i < n; i++) {
      rd_kafka_message_t* m = batch[i];
      auto it = got.find(m->partition);
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        // read_committed stops at the first transaction not yet decided:
        // the previous owner's last commit, whose markers may still be on
        // their way (or a dead member's, until it times out). Its end is
        // reached only past the high watermark seen at the start.
        if (it != got.end()) it->second.cursor.eof = m->offset;
        if (it != got.end() && !it->second.end && m->offset >= it->second.target)
          ended_at(m->partition, it->second);
      } else if (m->err) {
        if (st.ok()) st = Status::Kafka(fmt::format("read the changelog {}: {}", topic_, rd_kafka_message_errstr(m)));
      } else if (it != got.end() && m->key_len > 0) {
        it->second.cursor.next = m->offset + 1;
        restoring_read_++;
        it->second.read++;
        taken_msgs++;
        taken_bytes += m->len + m->key_len;
        std::string_view key(static_cast<const char*>(m->key), m->key_len);
        Got& g = it->second;
        if (key == "p") {
          g.position.assign(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
        } else {
          g.records.Add(key, static_cast<const char*>(m->payload), m->len);
        }
      }
      rd_kafka_message_destroy(m);
    }
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk->get());
  restoring_ = 0;
  restoring_read_ = 0;
  KPIPE_RETURN_IF_ERROR(st);

  int64_t done = MonotonicMicros();
  for (const PartitionPosition& pp : to_read) restores_[pp.partition].seconds = (done - started) / 1e6;
  Info(fmt::format("restored {} partitions, {} entries in {:.3f} s (loading {:.3f} s of it, each partition as "
                   "soon as it was read)", to_read.size(), entries, (done - started) / 1e6, loading / 1e6));
  return Status::OK();
}

}  // namespace kpipe
