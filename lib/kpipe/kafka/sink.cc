#include "kpipe/kafka/sink.h"

#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "kpipe/json/line.h"
#include "kpipe/time/time.h"

namespace kpipe {


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
    defaults.emplace_back("transaction.timeout.ms", std::to_string(Transactions::kTimeoutMs));
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
  txn_.emplace(rk_.get(), opt_.transactional_id, opt_.after_abort);
  return txn_->Init();
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

Status KafkaSink::ProduceTo(int topic, int32_t partition, std::string_view key, std::string_view value) {
  for (;;) {
    if (rd_kafka_produce(topics_[topic], partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(value.data()),
                         value.size(), key.data(), key.size(), nullptr) == 0)
      break;
    rd_kafka_resp_err_t e = rd_kafka_last_error();
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (e == RD_KAFKA_RESP_ERR__FATAL && txn_) return txn_->Fatal("produce");
      // The open transaction failed (an abortable error, such as sequence
      // numbers skipped after an earlier abort: it needs an epoch bump).
      // Nothing produced in it can commit any more: the message is dropped,
      // the next commit fails and aborts the transaction (Transactions), and
      // the caller starts over from its last commit or stops (status 1).
      if (e == RD_KAFKA_RESP_ERR__STATE && txn_) {
        doomed_ = true;
        return Status::OK();
      }
      return KafkaStatus(e, fmt::format("produce to {}", topic_names_[topic]));
    }
    rd_kafka_poll(rk_.get(), 10);  // the queue is full: let deliveries drain it
  }
  if (txn_) txn_->Produced(1);
  // Delivery reports are served every so often (and whenever the queue is
  // full, and by Flush), not after every row.
  if ((++produced_ & 255) == 0) rd_kafka_poll(rk_.get(), 0);
  if (failed_ > 0 && !transactional())
    return Status::Kafka(fmt::format("{}: a row was not delivered: {}", topic_names_[topic], first_error_));
  return Status::OK();
}

Output::BlockWriter KafkaSink::LineWriter(int topic) {
  return [this, topic](std::string_view block) {
    return json::ForEachLine(block, [&](std::string_view line) { return Produce(topic, std::string_view(), line); });
  };
}

Status KafkaSink::Flush() {
  rd_kafka_resp_err_t e = rd_kafka_flush(rk_.get(), opt_.connect_timeout_ms * 6);
  if (failed_ > 0) return Status::Kafka(fmt::format("{} rows were not delivered: {}", failed_, first_error_));
  if (e) return KafkaStatus(e, "wait for the rows to be delivered");
  return Status::OK();
}

Status KafkaSink::AbortAndBegin() {
  KPIPE_RETURN_IF_ERROR(txn_->Abort());
  return Begin();
}

Status KafkaSink::Begin() {
  doomed_ = false;
  return txn_->Begin();
}

void KafkaSink::AbortQuietly() {
  if (txn_) txn_->AbortQuietly();
}

Status KafkaSink::SendOffsets(rd_kafka_t* consumer, const std::vector<KafkaPosition>& at,
                              const std::string& metadata) {
  return txn_->SendOffsets(consumer, at, metadata);
}

Status KafkaSink::CommitAndBegin() {
  Status st = txn_->Commit(/*begin_next=*/true);
  if (st.ok()) doomed_ = false;  // (a doomed one cannot commit: it was aborted)
  return st;
}

}  // namespace kpipe
