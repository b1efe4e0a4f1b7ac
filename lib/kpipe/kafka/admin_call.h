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

// Sends one request and waits for its answer: `send(options, queue)` calls
// the librdkafka function; the result event, or AdminCall::Wait's error.
template <typename Send>
Result<Event> Ask(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms, const char* what, Send send) {
  AdminCall call(rk, op, timeout_ms);
  send(call.options(), call.queue());
  return call.Wait(what);
}

// The configs of one resource (a topic, or a broker by its id), and the
// event that owns them. NotFound for a topic that does not exist; other
// errors as "WHAT: reason".
struct ConfigSet {
  Event event;
  const rd_kafka_ConfigEntry_t** entries = nullptr;
  size_t count = 0;
};
inline Result<ConfigSet> DescribeConfigs(rd_kafka_t* rk, rd_kafka_ResourceType_t type, const std::string& name,
                                         int timeout_ms, const std::string& what) {
  rd_kafka_ConfigResource_t* res = rd_kafka_ConfigResource_new(type, name.c_str());
  auto ev = Ask(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms, "describe configs",
                [&](auto* o, auto* q) { rd_kafka_DescribeConfigs(rk, &res, 1, o, q); });
  rd_kafka_ConfigResource_destroy(res);
  if (!ev.ok()) return ev.status();
  size_t n;
  const rd_kafka_ConfigResource_t** rs =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev->get()), &n);
  if (n != 1) return Status::Kafka(what + ": no answer");
  rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(rs[0]);
  if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && type == RD_KAFKA_RESOURCE_TOPIC)
    return Status::NotFound(fmt::format("topic '{}' does not exist", name));
  if (err) return Status::Kafka(fmt::format("{}: {}", what, rd_kafka_ConfigResource_error_string(rs[0])));
  ConfigSet set;
  set.entries = rd_kafka_ConfigResource_configs(rs[0], &set.count);
  set.event = std::move(*ev);
  return set;
}

// What a call over several named things (topics, groups) answered for one.
struct Answer {
  std::string name;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string message;  // the broker's, when err is set
};
// How to report the answers: {"KEY":name,"status":DONE} for each success,
// and, when PASSED is set, {"KEY":name,"status":PASSED} for each answer
// whose error is PASSES; `explain` words every other error. Returns the
// joined failures (NotFound when each is MISSING).
struct Outcome {
  const char* key;
  const char* done;
  rd_kafka_resp_err_t passes;
  const char* passed;  // null: that error fails too
  rd_kafka_resp_err_t missing;
};
template <typename Explain>
Status WriteAnswers(const std::vector<Answer>& answers, const Outcome& how, Explain explain,
                    json::RowWriter* out);

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

// The partitions that `selections` name, each topic's in order (all of a
// topic's when it names none), each once however often it is named
// ("t t:1", "t:1,1"); NotFound for a topic or partition that does not
// exist, or, with `missing`, that one is added there and left out.
inline Result<std::vector<PartitionRef>> SelectedPartitions(rd_kafka_t* rk,
                                                            const std::vector<TopicSelection>& selections,
                                                            int timeout_ms, Failures* missing = nullptr) {
  // One selection per topic, in the order topics are first named, with
  // every partition named, and whether one names the whole topic.
  struct Merged {
    TopicSelection sel;
    bool whole = false;
  };
  std::vector<Merged> merged;
  for (const TopicSelection& sel : selections) {
    auto it = std::find_if(merged.begin(), merged.end(), [&](const Merged& m) { return m.sel.topic == sel.topic; });
    if (it == merged.end()) it = merged.insert(merged.end(), Merged{{sel.topic, {}}});
    it->whole = it->whole || sel.partitions.empty();
    it->sel.partitions.insert(it->sel.partitions.end(), sel.partitions.begin(), sel.partitions.end());
  }
  std::vector<PartitionRef> refs;
  for (const auto& [sel, whole] : merged) {
    auto all = TopicPartitions(rk, sel.topic, timeout_ms);
    if (!all.ok()) {
      if (!missing || !all.status().Is(Status::Code::kNotFound)) return all.status();
      missing->Add(all.status().message(), true);
      continue;
    }
    std::vector<int32_t> named = sel.partitions;  // each must exist, even beside the whole topic
    std::sort(named.begin(), named.end());
    named.erase(std::unique(named.begin(), named.end()), named.end());
    for (int32_t p : named) {
      if (std::find(all->begin(), all->end(), p) != all->end()) continue;
      std::string why = fmt::format("topic '{}' has no partition {}", sel.topic, p);
      if (!missing) return Status::NotFound(why);
      missing->Add(why, true);
    }
    for (int32_t p : whole ? *all : named)
      if (std::find(all->begin(), all->end(), p) != all->end()) refs.push_back({sel.topic, p});
  }
  return refs;
}

template <typename Explain>
Status WriteAnswers(const std::vector<Answer>& answers, const Outcome& how, Explain explain,
                    json::RowWriter* out) {
  Failures failures;
  for (const Answer& a : answers) {
    const char* status = how.done;
    if (a.err && a.err == how.passes && how.passed) {
      status = how.passed;
    } else if (a.err) {
      failures.Add(explain(a), a.err == how.missing);
      continue;
    }
    KPIPE_RETURN_IF_ERROR(out->Add(json::Row().Str(how.key, a.name).Str("status", status)));
  }
  KPIPE_RETURN_IF_ERROR(out->Flush());
  return failures.status();
}

// The answers of CreateTopics, DeleteTopics and the like.
inline std::vector<Answer> TopicAnswers(const rd_kafka_topic_result_t** rs, size_t n) {
  std::vector<Answer> answers;
  for (size_t i = 0; i < n; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(rs[i]);
    answers.push_back({rd_kafka_topic_result_name(rs[i]), e, e ? rd_kafka_topic_result_error_string(rs[i]) : ""});
  }
  return answers;
}

}  // namespace kpipe::admin
