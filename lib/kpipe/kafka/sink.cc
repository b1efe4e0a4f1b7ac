#include "kpipe/kafka/sink.h"

#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "kpipe/time/time.h"

namespace kpipe {

namespace {

constexpr int kTxnTimeoutMs = 60'000;

bool IsFencing(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH || e == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

}  // namespace

KafkaSink::KafkaSink(KafkaSinkOptions opt, std::function<void(const std::string&)> warn,
                         std::function<void(const std::string&)> info)
    : opt_(std::move(opt)), warn_(std::move(warn)), info_(std::move(info)) {}

KafkaSink::~KafkaSink() {
  for (rd_kafka_topic_t* t : topics_) rd_kafka_topic_destroy(t);
}

Status KafkaSink::Open() {
  Properties defaults = {
      {"enable.idempotence", "true"},
      {"partitioner", "murmur2_random"},  // a key lands where Java clients put it
      {"message.timeout.ms", "30000"},
      {"linger.ms", "5"},
      {"batch.num.messages", "100000"},
  };
  Properties flags;
  if (transactional()) {
    defaults.emplace_back("transaction.timeout.ms", std::to_string(kTxnTimeoutMs));
    flags.emplace_back("transactional.id", opt_.transactional_id);
  }
  auto props = ResolveProperties(opt_.kafka, defaults, flags);
  if (!props.ok()) return props.status();
  opt_.transactional_id = PropertyValue(*props, "transactional.id");
  events_.delivery = [this](const rd_kafka_message_t* m) {
    if (!m->err || m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) return;
    failed_++;
    if (first_error_.empty()) first_error_ = rd_kafka_err2str(m->err);
  };
  auto rk = Connect(RD_KAFKA_PRODUCER, *props, &events_, opt_.kafka.verbose ? info_ : nullptr,
                    "producer configuration", opt_.connect_timeout_ms);
  if (!rk.ok()) return rk.status();
  rk_ = std::move(*rk);
  if (!transactional()) return Status::OK();
  KPIPE_RETURN_IF_ERROR(TxnCall(rd_kafka_init_transactions(rk_.get(), kTxnTimeoutMs), "init transactions"));
  return TxnCall(rd_kafka_begin_transaction(rk_.get()), "begin transaction");
}

Result<int> KafkaSink::Topic(const std::string& topic) {
  for (size_t i = 0; i < topic_names_.size(); i++)
    if (topic_names_[i] == topic) return static_cast<int>(i);
  // A producer's metadata request asks the broker to create a missing topic
  // (when the broker allows it): give it a few seconds to appear.
  auto parts = TopicPartitions(rk_.get(), topic, opt_.connect_timeout_ms);
  for (int i = 0; i < 20 && parts.status().Is(Status::Code::kNotFound); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    parts = TopicPartitions(rk_.get(), topic, opt_.connect_timeout_ms);
  }
  if (!parts.ok()) return parts.status();
  topics_.push_back(rd_kafka_topic_new(rk_.get(), topic.c_str(), nullptr));
  topic_names_.push_back(topic);
  return static_cast<int>(topics_.size() - 1);
}

Status KafkaSink::Produce(int topic, std::string_view key, std::string_view value) {
  for (;;) {
    if (rd_kafka_produce(topics_[topic], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                         const_cast<char*>(value.data()), value.size(), key.data(), key.size(), nullptr) == 0)
      break;
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (e == RD_KAFKA_RESP_ERR__FATAL) return Fatal("produce");
      return KafkaStatus(e, fmt::format("produce to {}", topic_names_[topic]));
    }
    rd_kafka_poll(rk_.get(), 10);  // the queue is full: let deliveries drain it
  }
  in_txn_++;
  // Delivery reports are served every so often (and whenever the queue is
  // full, and by Flush), not after every row.
  if ((++produced_ & 255) == 0) rd_kafka_poll(rk_.get(), 0);
  if (failed_ > 0 && !transactional())
    return Status::Kafka(fmt::format("{}: a row was not delivered: {}", topic_names_[topic], first_error_));
  return Status::OK();
}

Output::BlockWriter KafkaSink::LineWriter(int topic) {
  return [this, topic](std::string_view block) {
    while (!block.empty()) {
      size_t nl = block.find('\n');
      std::string_view line = block.substr(0, nl);
      KPIPE_RETURN_IF_ERROR(Produce(topic, std::string_view(), line));
      block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
    }
    return Status::OK();
  };
}

Status KafkaSink::Flush() {
  rd_kafka_resp_err_t e = rd_kafka_flush(rk_.get(), opt_.connect_timeout_ms * 6);
  if (failed_ > 0) return Status::Kafka(fmt::format("{} rows were not delivered: {}", failed_, first_error_));
  if (e) return KafkaStatus(e, "wait for the rows to be delivered");
  return Status::OK();
}

Status KafkaSink::Fatal(const std::string& what) {
  char err[512];
  rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_.get(), err, sizeof err);
  if (IsFencing(code))
    return Status::Kafka(fmt::format(
        "{}: fenced: another instance with transactional.id '{}' has started; this one stops, its open "
        "transaction is aborted",
        what, opt_.transactional_id));
  return Status::Kafka(fmt::format("{}: fatal Kafka error: {}", what, err));
}

Status KafkaSink::TxnCall(rd_kafka_error_t* e, const char* what) {
  if (!e) return Status::OK();
  KafkaError err(e);
  if (rd_kafka_error_is_fatal(e) || IsFencing(rd_kafka_error_code(e))) return Fatal(what);
  return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_error_string(e)));
}

Status KafkaSink::Abort(const std::string& why) {
  aborted_++;
  Status st = TxnCall(rd_kafka_abort_transaction(rk_.get(), kTxnTimeoutMs), "abort transaction");
  if (!st.ok()) return Status::Kafka(why + "; then " + st.message());
  return Status::Kafka(why + "; the transaction was aborted, and a restart resumes from the last checkpoint");
}

void KafkaSink::AbortQuietly() {
  if (!rk_ || !transactional() || undecided_) return;
  KafkaError e(rd_kafka_abort_transaction(rk_.get(), 5'000));
}

Status KafkaSink::SendOffsets(rd_kafka_t* consumer, const std::vector<KafkaPosition>& at,
                              const std::string& metadata) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(at.size())));
  for (const KafkaPosition& p : at) {
    rd_kafka_topic_partition_t* el = rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition);
    el->offset = p.offset;
    el->metadata = std::malloc(metadata.size());  // freed with the list
    std::memcpy(el->metadata, metadata.data(), metadata.size());
    el->metadata_size = metadata.size();
  }
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)> group(
      rd_kafka_consumer_group_metadata(consumer), rd_kafka_consumer_group_metadata_destroy);
  for (int attempt = 0;; attempt++) {
    rd_kafka_error_t* e = rd_kafka_send_offsets_to_transaction(rk_.get(), list.get(), group.get(), kTxnTimeoutMs);
    if (!e) return Status::OK();
    KafkaError err(e);
    if (rd_kafka_error_is_fatal(e)) return Fatal("send offsets to the transaction");
    if (rd_kafka_error_is_retriable(e) && attempt < 10) continue;
    std::string msg = fmt::format("send offsets to the transaction: {}", rd_kafka_error_string(e));
    if (rd_kafka_error_txn_requires_abort(e)) return Abort(msg);
    return Status::Kafka(msg);
  }
}

Status KafkaSink::CommitAndBegin() {
  // commit_transaction flushes; retriable errors (a coordinator that moved
  // or is loading) are retried for up to the transaction timeout. A commit
  // still undecided then is left so: it cannot be aborted while pending,
  // and the restart learns its outcome from the committed offsets.
  int64_t deadline = MonotonicMicros() + int64_t{kTxnTimeoutMs} * 1000;
  for (;;) {
    rd_kafka_error_t* e = rd_kafka_commit_transaction(rk_.get(), kTxnTimeoutMs);
    if (!e) break;
    KafkaError err(e);
    if (rd_kafka_error_is_fatal(e)) return Fatal("commit transaction");
    std::string msg = fmt::format("commit transaction: {}", rd_kafka_error_string(e));
    if (rd_kafka_error_txn_requires_abort(e)) return Abort(msg);
    if (!rd_kafka_error_is_retriable(e) || MonotonicMicros() > deadline) {
      undecided_ = true;
      return Status::Kafka(msg + "; its outcome is left to the restart");
    }
  }
  committed_++;
  in_txn_ = 0;
  return TxnCall(rd_kafka_begin_transaction(rk_.get()), "begin transaction");
}

}  // namespace kpipe
