#include "kpipe/stream/exactly_once.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "kpipe/time/time.h"

namespace kpipe {

namespace {
constexpr std::string_view kCommitTag = "kpipe checkpoint ";
}  // namespace

std::vector<std::string> KafkaTopics(std::string_view input) {
  std::vector<std::string> topics;
  std::string_view list = input.substr(std::min<size_t>(6, input.size()));
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (comma != 0) topics.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return topics;
}

std::string CheckpointTag(uint64_t seq) { return fmt::format("{}{}", kCommitTag, seq); }

namespace {

// The newest kpipe checkpoint named by the committed offsets' metadata; 0
// when none is.
uint64_t CommittedCheckpoint(const std::vector<std::string>& metadata) {
  uint64_t seq = 0;
  for (const std::string& m : metadata)
    if (m.rfind(kCommitTag, 0) == 0)
      seq = std::max<uint64_t>(seq, std::strtoull(m.c_str() + kCommitTag.size(), nullptr, 10));
  return seq;
}

Status NotHeld(const state::CheckpointStore& store, const std::string& group, const std::string& dir,
               uint64_t seq) {
  // Starting from empty state here would write rows that contradict the
  // ones the group's transactions committed (a count going 549 -> 3).
  return Status::Usage(fmt::format(
      "--state {}: group {} committed its offsets with checkpoint {}, which this directory does not "
      "hold ({}); restore the --state directory that ran with this group, or start a new group "
      "(-G NEW --from TIME) to rebuild the state from the input",
      dir, group, seq, store.seq() ? fmt::format("it has checkpoint {}", store.seq()) : "it has none"));
}

constexpr int kPrecheckTimeoutMs = 1500;

}  // namespace

Status RefuseUnheldCheckpoint(const state::CheckpointStore& store, const std::vector<KafkaSource*>& inputs,
                              const std::string& group, const std::string& dir) {
  std::vector<KafkaPosition> committed;
  std::vector<std::string> metadata;
  for (KafkaSource* in : inputs)
    if (!in->Committed(&committed, &metadata, kPrecheckTimeoutMs).ok()) return Status::OK();
  uint64_t seq = CommittedCheckpoint(metadata);
  if (seq == 0 || store.Holds(seq)) return Status::OK();
  return NotHeld(store, group, dir, seq);
}

Status SelectCommitted(state::CheckpointStore* store, const std::vector<KafkaSource*>& inputs,
                       const std::string& group, const std::string& dir,
                       const std::function<void(const std::string&)>& warn, bool* fresh) {
  *fresh = false;
  std::vector<KafkaPosition> committed;
  std::vector<std::string> metadata;
  for (KafkaSource* in : inputs) KPIPE_RETURN_IF_ERROR(in->Committed(&committed, &metadata));
  uint64_t seq = CommittedCheckpoint(metadata);
  if (seq != 0) {
    auto selected = store->Select(seq);
    if (!selected.ok()) return selected.status();
    if (*selected) return Status::OK();
    return NotHeld(*store, group, dir, seq);
  }
  // The group has committed no kpipe checkpoint: offsets committed by
  // another client (kconsume -G) are where reading starts.
  if (store->seq() == 0 || store->next_seq() <= 2) {
    if (!committed.empty() && warn)
      warn(fmt::format("group {} has committed offsets but no kpipe checkpoint: reading starts at the "
                       "committed offsets with empty state",
                       group));
    *fresh = store->seq() != 0;
    return Status::OK();
  }
  return Status::Usage(fmt::format(
      "--state {}: group {} committed its offsets with no kpipe checkpoint, but this directory has "
      "checkpoint {}; use the --state directory that ran with this group, or a new group",
      dir, group, store->seq()));
}

Status RefuseSingleOwnersGroup(rd_kafka_t* consumer, const std::string& topic, int partitions,
                               const std::string& group) {
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; p++) rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  // Offsets that cannot be read in time are not refused on (they may be
  // those of a transaction left open, decided later).
  if (rd_kafka_committed(consumer, list.get(), kPrecheckTimeoutMs * 4) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::OK();
  std::vector<std::string> metadata;
  for (int i = 0; i < list->cnt; i++)
    if (!list->elems[i].err && list->elems[i].offset >= 0)
      metadata.emplace_back(static_cast<const char*>(list->elems[i].metadata), list->elems[i].metadata_size);
  uint64_t seq = CommittedCheckpoint(metadata);
  if (seq == 0) return Status::OK();
  return Status::Usage(fmt::format(
      "-G {}: the group's offsets were committed by a single process with --state (checkpoint {}), whose state "
      "is in its directory, not in a changelog: run that process again with its --state DIR, or start a new "
      "group (-G NEW --from TIME) for members (kpipe(7), SCALING)",
      group, seq));
}

void EncodePositions(const std::vector<KafkaPosition>& positions, state::Encoder* e) {
  e->U64(positions.size());
  for (const KafkaPosition& p : positions) {
    e->Str(p.topic);
    e->I64(p.partition);
    e->I64(p.offset);
  }
}

std::vector<KafkaPosition> DecodePositions(state::Decoder* d) {
  std::vector<KafkaPosition> out;
  for (uint64_t n = d->U64(); n > 0 && d->ok(); n--) {
    KafkaPosition p;
    p.topic = d->Str();
    p.partition = static_cast<int32_t>(d->I64());
    p.offset = d->I64();
    out.push_back(std::move(p));
  }
  return out;
}

std::string MemberTransactionalId(const RunnerOptions& opt) {
  std::string self = opt.kafka_io.instance;
  if (self.empty()) {
    char host[256] = "";
    ::gethostname(host, sizeof host - 1);
    std::random_device rd;
    self = fmt::format("{}-{}-{:x}", host, ::getpid(), rd());
  }
  return fmt::format("kpipe-{}-{}-{}", opt.tool, opt.kafka_io.group, self);
}

KafkaSinkOptions MemberSinkOptions(const RunnerOptions& opt, std::string_view suffix) {
  KafkaSinkOptions so;
  so.kafka = opt.kafka_io.kafka;
  so.transactional_id = MemberTransactionalId(opt);
  so.transactional_id += suffix;
  so.after_abort = ", and the member starts over from its last commit";
  return so;
}

Status KafkaOutputs::Open(const RunnerOptions& opt) {
  opt_ = &opt;
  // A group member writes its changelog.
  bool out = IsKafka(opt.output) || IsKafka(opt.late) || IsKafka(opt.dead_letter) || opt.members;
  if (!out || opt.dump_state) return Status::OK();
  KafkaSinkOptions so;
  so.kafka = opt.kafka_io.kafka;
  if (opt.kafka_io.exactly_once && !opt.members) {
    so.transactional_id = fmt::format("kpipe-{}-{}", opt.tool, opt.kafka_io.group);
  } else if (opt.kafka_io.exactly_once) {
    so = MemberSinkOptions(opt);
  }
  sink_ = std::make_unique<KafkaSink>(std::move(so), opt.warn, opt.info);
  KPIPE_RETURN_IF_ERROR(sink_->Open());
  const KafkaIo& io = opt.kafka_io;
  if (!io.value_format && !io.key_format) return Status::OK();
  auto registry = ResolveRegistry(io.kafka);
  if (!registry.ok()) return registry.status();
  auto e = schema::Encoders::Open(std::move(*registry), io.value_format ? &*io.value_format : nullptr,
                                  io.key_format ? &*io.key_format : nullptr);
  if (!e.ok()) return e.status();
  encoders_ = std::move(*e);
  return Status::OK();
}

// A row that does not fit its schema stops the run (status 1): it is the
// tool's own output, so the schema and the options disagree, not the input.
Status KafkaRowSink::Encoded(std::string_view row) {
  std::string_view key = key_;
  simdjson::dom::element v;
  if (encoders_->key()) {
    if (parser_.parse(key_).get(v) != simdjson::SUCCESS) return Status::Internal("a row's key is not JSON");
    Status st = encoders_->Key(v, -1, &encoded_key_);
    if (!st.ok()) return Status::Internal("a row's key does not fit the key schema of the output: " + st.message());
    key = encoded_key_;
  }
  std::string_view value = row;
  if (encoders_->value()) {
    if (parser_.parse(row.data(), row.size()).get(v) != simdjson::SUCCESS) return Status::Internal("a row is not JSON");
    Status st = encoders_->Value(v, -1, &encoded_row_);
    if (!st.ok()) return Status::Internal("a row does not fit the value schema of the output: " + st.message());
    value = encoded_row_;
  }
  return sink_->Produce(topic_, key, value);
}

Outputs::KafkaWriters KafkaOutputs::Writers() {
  return [this](const std::string& dest) -> Result<Output::BlockWriter> {
    if (dest == opt_->output) return Output::BlockWriter([](std::string_view) { return Status::OK(); });
    auto topic = sink_->Topic(dest.substr(6));
    if (!topic.ok()) return topic.status();
    return sink_->LineWriter(*topic);
  };
}

Result<std::unique_ptr<RowSink>> KafkaOutputs::Rows(bool object_key, uint64_t* rows) {
  auto topic = sink_->Topic(opt_->output.substr(6));
  if (!topic.ok()) return topic.status();
  return std::unique_ptr<RowSink>(std::make_unique<KafkaRowSink>(sink_.get(), *topic, object_key, rows, encoders_.get()));
}

Status KafkaOutputs::BeforeSave(rd_kafka_t* consumer, const std::vector<KafkaPosition>& positions, uint64_t seq) {
  if (!sink_) return Status::OK();
  if (!opt_->kafka_io.exactly_once) return sink_->Flush();
  return sink_->SendOffsets(consumer, positions, CheckpointTag(seq));
}

Status KafkaOutputs::AfterSave(const std::vector<KafkaSource*>& inputs, const std::vector<KafkaPosition>* at) {
  if (opt_->kafka_io.exactly_once) return sink_->CommitAndBegin();
  for (KafkaSource* in : inputs) KPIPE_RETURN_IF_ERROR(in->Commit(at ? *at : in->positions()));
  return Status::OK();
}

Status KafkaOutputs::End(Status st, bool with_state, const std::vector<KafkaSource*>& inputs) {
  if (st.Is(Status::Code::kBrokenPipe)) return st;
  if (!with_state && sink_ && (st.ok() || st.Is(Status::Code::kInterrupted))) {
    Status fs = sink_->Flush();
    if (!fs.ok()) st = fs;
  }
  // Without --state a group's offsets are committed only when everything
  // read has had its effect written: at the end of bounded reads.
  for (KafkaSource* in : inputs)
    if (!with_state && st.ok()) st = in->Commit(in->positions());
  // An open transaction of a failed run is aborted now rather than at its
  // timeout, so read_committed readers are not held up meanwhile; so is one
  // that still holds rows at the end of any run (a group member's final
  // commit that did not happen: refused, or skipped while its group
  // rebalances). Its input is read again from the last commit.
  if (sink_ && sink_->transactional() &&
      ((!st.ok() && !st.Is(Status::Code::kInterrupted)) || sink_->open_messages() > 0))
    sink_->AbortQuietly();
  return st;
}

void KafkaOutputs::Transactions(service::Snapshot* s) const {
  if (!sink_ || !sink_->transactional()) return;
  s->transactions = true;
  s->transactions_committed = sink_->committed();
  s->transactions_aborted = sink_->aborted();
}

}  // namespace kpipe
