// Transactions: the transactions of one producer, with one set of rules for
// kproduce --transactional-id and the --exactly-once destinations of
// kwindow, kagg and kjoin (kafka/sink.h):
//  - Init() fences any older producer with the same transactional.id (its
//    open transaction is aborted) and begins a transaction;
//  - a fatal error, fencing among them, ends the producer and says so;
//  - retriable errors are retried for up to the transaction timeout;
//  - an error that requires an abort aborts, and the message says so;
//  - a commit whose outcome is still unknown then is left undecided: it
//    cannot be aborted, and a restart learns the outcome from the broker.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/io/input.h"
#include "kpipe/status.h"

namespace kpipe {

class Transactions {
 public:
  // The transaction.timeout.ms a transactional producer is configured with.
  static constexpr int kTimeoutMs = 60'000;

  // `rk` is a producer configured with transactional.id `id`; not owned.
  // `after_abort` ends the message of an error that aborted a transaction
  // (what happens next, for the tool's user).
  Transactions(rd_kafka_t* rk, std::string id, std::string after_abort = "")
      : rk_(rk), id_(std::move(id)), after_abort_(std::move(after_abort)) {}

  Status Init();
  // `n` messages were produced in the open transaction.
  void Produced(uint64_t n) { messages_ += n; }
  uint64_t open_messages() const { return messages_; }
  // Adds the input offsets `at` of `consumer`'s group to the open
  // transaction, each with `metadata`.
  Status SendOffsets(rd_kafka_t* consumer, const std::vector<PartitionPosition>& at, const std::string& metadata);
  // Commits the open transaction (it flushes the producer), then with
  // `begin_next` begins the next one.
  Status Commit(bool begin_next);
  // Aborts the open transaction (a run that failed or was stopped).
  Status Abort();
  // Begins the next transaction after an abort.
  Status Begin() { return Call(rd_kafka_begin_transaction(rk_), "begin transaction"); }
  // Transactions aborted by Abort() (AbortFor among them), empty or not.
  uint64_t aborts() const { return aborts_; }
  // As Abort(), ignoring errors; nothing when a commit is undecided.
  // Lets the messages in flight through first (LetThrough).
  void AbortQuietly();
  // Waits up to `ms` for the messages of the open transaction still in
  // flight. librdkafka 2.0 may send an abort before the broker has added
  // their partitions to the transaction, which refuses it
  // (INVALID_TXN_STATE, fatal), and the transaction then stays open until
  // its timeout, holding read_committed readers back that long; a
  // delivered message shows its partition was added. For an abort at the
  // end of a run, not in an abortable state (its messages would fail).
  void LetThrough(int ms);

  // The producer's fatal error (fencing among them) as the outcome of `what`.
  Status Fatal(const std::string& what);

  // The transactions that ended, with messages or offsets in them.
  uint64_t committed() const { return committed_; }
  uint64_t aborted() const { return aborted_; }
  // The messages produced in the transactions aborted.
  uint64_t aborted_messages() const { return aborted_messages_; }

 private:
  Status Call(rd_kafka_error_t* e, const char* what);
  // Aborts after `why`, which the returned error names.
  Status AbortFor(const std::string& why);

  rd_kafka_t* rk_;
  std::string id_;
  std::string after_abort_;
  uint64_t messages_ = 0;  // in the open transaction
  bool offsets_ = false;   // offsets in the open transaction
  uint64_t committed_ = 0, aborted_ = 0, aborts_ = 0, aborted_messages_ = 0;
  bool undecided_ = false;
};

}  // namespace kpipe
