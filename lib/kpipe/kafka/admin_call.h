// One request of librdkafka's Admin API, for the admin_*.cc files: its
// options and a private result queue, and the wait for the result event.
// Not thread-safe.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include "kpipe/kafka/admin.h"
#include "kpipe/kafka/client.h"
#include "kpipe/status.h"

namespace kpipe::admin {

using Event = std::unique_ptr<rd_kafka_event_t, KafkaDeleter>;

class AdminCall {
 public:
  // `timeout_ms` bounds the request; for the calls that wait on the
  // controller (topics, partitions, records) the broker-side operation too.
  AdminCall(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms) : timeout_ms_(timeout_ms) {
    options_ = rd_kafka_AdminOptions_new(rk, op);
    queue_ = rd_kafka_queue_new(rk);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(options_, timeout_ms, err, sizeof err);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS || op == RD_KAFKA_ADMIN_OP_DELETETOPICS ||
        op == RD_KAFKA_ADMIN_OP_CREATEPARTITIONS || op == RD_KAFKA_ADMIN_OP_DELETERECORDS)
      rd_kafka_AdminOptions_set_operation_timeout(options_, timeout_ms, err, sizeof err);
  }
  ~AdminCall() {
    rd_kafka_AdminOptions_destroy(options_);
    rd_kafka_queue_destroy(queue_);
  }
  AdminCall(const AdminCall&) = delete;
  AdminCall& operator=(const AdminCall&) = delete;

  rd_kafka_AdminOptions_t* options() { return options_; }
  rd_kafka_queue_t* queue() { return queue_; }

  // The result event, or a Kafka error "WHAT: reason" when the request
  // failed as a whole (no answer in time, no broker, not authorized).
  Result<Event> Wait(const char* what) {
    Event ev(rd_kafka_queue_poll(queue_, timeout_ms_ + 5000));
    if (!ev) return Status::Kafka(fmt::format("{}: no answer within {} ms", what, timeout_ms_));
    if (rd_kafka_event_error(ev.get()))
      return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_event_error_string(ev.get())));
    return ev;
  }

 private:
  int timeout_ms_;
  rd_kafka_AdminOptions_t* options_;
  rd_kafka_queue_t* queue_;
};

// The partitions that `selections` name, each topic's in order (all of a
// topic's when it names none); NotFound for a topic or partition that does
// not exist.
inline Result<std::vector<PartitionRef>> SelectedPartitions(rd_kafka_t* rk,
                                                            const std::vector<TopicSelection>& selections,
                                                            int timeout_ms) {
  std::vector<PartitionRef> refs;
  for (const TopicSelection& sel : selections) {
    auto all = TopicPartitions(rk, sel.topic, timeout_ms);
    if (!all.ok()) return all.status();
    std::vector<int32_t> ids = sel.partitions.empty() ? *all : sel.partitions;
    std::sort(ids.begin(), ids.end());
    for (int32_t p : ids) {
      if (std::find(all->begin(), all->end(), p) == all->end())
        return Status::NotFound(fmt::format("topic '{}' has no partition {}", sel.topic, p));
      refs.push_back({sel.topic, p});
    }
  }
  return refs;
}

// Joins the failures of a call that acts on several things: OK when there
// are none, else one Kafka error (NotFound when every failure was one).
class Failures {
 public:
  void Add(std::string message, bool not_found = false) {
    msg_ += (msg_.empty() ? "" : "; ") + message;
    all_not_found_ = all_not_found_ && not_found;
  }
  Status status() const {
    if (msg_.empty()) return Status::OK();
    return all_not_found_ ? Status::NotFound(msg_) : Status::Kafka(msg_);
  }

 private:
  std::string msg_;
  bool all_not_found_ = true;
};

}  // namespace kpipe::admin
