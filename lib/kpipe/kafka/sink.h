// KafkaSink: the --output/--late/--dead-letter kafka:TOPIC destinations of
// kwindow, kagg and kjoin (kpipe(7), KAFKA INPUT AND OUTPUT). One producer
// for all of them: idempotent, or transactional with --exactly-once, where
// every checkpoint is one transaction that also carries the input offsets.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/json/output.h"
#include "kpipe/kafka/client.h"
#include "kpipe/kafka/config.h"
#include "kpipe/kafka/source.h"
#include "kpipe/kafka/transactions.h"
#include "kpipe/status.h"

namespace kpipe {

struct KafkaSinkOptions {
  KafkaFlags kafka;
  std::string transactional_id;  // empty: no transactions
  // What follows an aborted transaction, ending the message that says so.
  std::string after_abort = ", and a restart resumes from the last checkpoint";
  int connect_timeout_ms = 10'000;
};

class KafkaSink {
 public:
  // `warn` gets warnings; `info` (may be empty) what -v shows.
  KafkaSink(KafkaSinkOptions opt, std::function<void(const std::string&)> warn,
              std::function<void(const std::string&)> info = nullptr);
  ~KafkaSink();
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  // Connects. With a transactional id this fences any older instance with
  // the same id (whose open transaction is aborted) and begins a transaction.
  Status Open();
  // A handle for `topic`, which must exist.
  Result<int> Topic(const std::string& topic);
  // Produces one message (`key` null-data: no key).
  Status Produce(int topic, std::string_view key, std::string_view value) {
    return ProduceTo(topic, RD_KAFKA_PARTITION_UA, key, value.data() ? value : std::string_view("", 0));
  }
  // Produces one message to `partition` (RD_KAFKA_PARTITION_UA: by key);
  // a `value` with null data is a tombstone (a compacted topic's delete).
  Status ProduceTo(int topic, int32_t partition, std::string_view key, std::string_view value);
  rd_kafka_t* handle() { return rk_.get(); }
  // A writer that produces each line of a block as one message without key.
  Output::BlockWriter LineWriter(int topic);

  // Waits until every message produced so far is acknowledged; an error
  // when any was not (outside transactions: at-least-once).
  Status Flush();
  // With transactions: adds the input offsets of `consumer`'s group to the
  // open transaction, each with `metadata`...
  Status SendOffsets(rd_kafka_t* consumer, const std::vector<KafkaPosition>& at, const std::string& metadata);
  // ...then commits it and begins the next one. A commit that fails is
  // aborted: nothing of it is visible to a read_committed reader.
  Status CommitAndBegin();

  // Aborts the open transaction and begins the next (a group member that
  // lost partitions starts over from its last commit).
  Status AbortAndBegin();
  // Transactions aborted so far, by AbortAndBegin() or a failed commit.
  uint64_t aborts() const { return txn_ ? txn_->aborts() : 0; }
  // After a commit that failed and was aborted: begins the next.
  Status Begin();
  // The open transaction failed and can only be aborted: what is produced
  // now is dropped (ProduceTo), and the next commit aborts it.
  bool doomed() const { return doomed_; }

  // Aborts the open transaction, if any, ignoring errors (a failed run);
  // not a commit whose outcome is undecided.
  void AbortQuietly();

  bool transactional() const { return !opt_.transactional_id.empty(); }
  uint64_t committed() const { return txn_ ? txn_->committed() : 0; }
  // Messages produced in the open transaction.
  uint64_t open_messages() const { return txn_ ? txn_->open_messages() : 0; }
  uint64_t aborted() const { return txn_ ? txn_->aborted() : 0; }

 private:

  KafkaSinkOptions opt_;
  std::function<void(const std::string&)> warn_, info_;
  ClientEvents events_;
  KafkaHandle rk_;
  std::vector<rd_kafka_topic_t*> topics_;
  std::vector<std::string> topic_names_;
  std::optional<Transactions> txn_;  // with a transactional id
  uint64_t failed_ = 0;
  bool doomed_ = false;  // doomed()
  std::string first_error_;
  uint64_t produced_ = 0;
};

}  // namespace kpipe
