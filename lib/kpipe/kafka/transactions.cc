#include "kpipe/kafka/transactions.h"

#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "kpipe/kafka/client.h"
#include "kpipe/time/time.h"

namespace kpipe {

namespace {

bool IsFencing(rd_kafka_resp_err_t e) {
  return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH || e == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

}  // namespace

Status Transactions::Init() {
  KPIPE_RETURN_IF_ERROR(Call(rd_kafka_init_transactions(rk_, kTimeoutMs), "init transactions"));
  return Call(rd_kafka_begin_transaction(rk_), "begin transaction");
}

Status Transactions::Fatal(const std::string& what) {
  char err[512];
  rd_kafka_resp_err_t code = rd_kafka_fatal_error(rk_, err, sizeof err);
  if (IsFencing(code))
    return Status::Kafka(fmt::format(
        "{}: fenced: another instance with transactional.id '{}' has started; this one stops, its open "
        "transaction is aborted",
        what, id_));
  return Status::Kafka(fmt::format("{}: fatal Kafka error: {}", what, err));
}

Status Transactions::Call(rd_kafka_error_t* e, const char* what) {
  if (!e) return Status::OK();
  KafkaError err(e);
  if (rd_kafka_error_is_fatal(e) || IsFencing(rd_kafka_error_code(e))) return Fatal(what);
  return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_error_string(e)));
}

Status Transactions::AbortFor(const std::string& why) {
  Status st = Abort();
  if (!st.ok()) return Status::Kafka(why + "; then " + st.message());
  return Status::Kafka(why + "; the transaction was aborted" + after_abort_);
}

Status Transactions::Abort() {
  bool held = messages_ > 0 || offsets_;
  Status st = Call(rd_kafka_abort_transaction(rk_, kTimeoutMs), "abort transaction");
  if (st.ok()) {
    aborts_++;
    aborted_ += held;
    aborted_messages_ += messages_;
    messages_ = 0;
    offsets_ = false;
  }
  return st;
}

void Transactions::LetThrough(int ms) {
  if (messages_ > 0) rd_kafka_flush(rk_, ms);
}

void Transactions::AbortQuietly() {
  if (undecided_) return;
  LetThrough(3'000);
  KafkaError e(rd_kafka_abort_transaction(rk_, 5'000));
}

Status Transactions::SendOffsets(rd_kafka_t* consumer, const std::vector<PartitionPosition>& at,
                                 const std::string& metadata) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(at.size())));
  for (const PartitionPosition& p : at) {
    rd_kafka_topic_partition_t* el = rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition);
    el->offset = p.offset;
    el->metadata = std::malloc(metadata.size());  // freed with the list
    std::memcpy(el->metadata, metadata.data(), metadata.size());
    el->metadata_size = metadata.size();
  }
  std::unique_ptr<rd_kafka_consumer_group_metadata_t, void (*)(rd_kafka_consumer_group_metadata_t*)> group(
      rd_kafka_consumer_group_metadata(consumer), rd_kafka_consumer_group_metadata_destroy);
  int64_t deadline = MonotonicMicros() + int64_t{kTimeoutMs} * 1000;
  for (;;) {
    rd_kafka_error_t* e = rd_kafka_send_offsets_to_transaction(rk_, list.get(), group.get(), kTimeoutMs);
    if (!e) break;
    KafkaError err(e);
    if (rd_kafka_error_is_fatal(e)) return Fatal("send offsets to the transaction");
    std::string msg = fmt::format("send offsets to the transaction: {}", rd_kafka_error_string(e));
    if (rd_kafka_error_txn_requires_abort(e)) return AbortFor(msg);
    if (!rd_kafka_error_is_retriable(e) || MonotonicMicros() > deadline) return Status::Kafka(msg);
  }
  offsets_ = offsets_ || !at.empty();
  return Status::OK();
}

Status Transactions::Commit(bool begin_next) {
  // commit_transaction flushes; retriable errors (a coordinator that moved
  // or is loading) are retried for up to the transaction timeout. A commit
  // still undecided then is left so: it cannot be aborted while pending.
  int64_t deadline = MonotonicMicros() + int64_t{kTimeoutMs} * 1000;
  for (;;) {
    rd_kafka_error_t* e = rd_kafka_commit_transaction(rk_, kTimeoutMs);
    if (!e) break;
    KafkaError err(e);
    if (rd_kafka_error_is_fatal(e)) return Fatal("commit transaction");
    std::string msg = fmt::format("commit transaction: {}", rd_kafka_error_string(e));
    if (rd_kafka_error_txn_requires_abort(e)) return AbortFor(msg);
    if (!rd_kafka_error_is_retriable(e) || MonotonicMicros() > deadline) {
      undecided_ = true;
      return Status::Kafka(msg + "; its outcome is left to the restart");
    }
  }
  committed_ += messages_ > 0 || offsets_;  // an empty one leaves no marker
  messages_ = 0;
  offsets_ = false;
  if (!begin_next) return Status::OK();
  return Call(rd_kafka_begin_transaction(rk_), "begin transaction");
}

}  // namespace kpipe
