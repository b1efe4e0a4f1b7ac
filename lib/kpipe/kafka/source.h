// KafkaSource: the kafka:TOPIC[,TOPIC...] input of kwindow, kagg and kjoin
// (kpipe(7), KAFKA INPUT AND OUTPUT). Reads every partition of the topics
// (assigned, not subscribed: one process owns the operator's state), or as
// a member of its consumer group the partitions the group gives it
// (kpipe(7), SCALING), and hands the messages on as blocks of envelope lines, the form the runners
// already read from kconsume --envelope, so a Kafka input and a piped one
// behave the same. Tracks the next offset of each partition, which is what
// a checkpoint records and a restart seeks to.
// Not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/io/input.h"
#include "kpipe/json/text.h"
#include "kpipe/kafka/client.h"
#include "kpipe/kafka/envelope.h"
#include "kpipe/kafka/config.h"
#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;

struct KafkaSourceOptions {
  std::vector<std::string> topics;  // from "kafka:T1,T2"
  KafkaIo io;                       // the client, -G, --from, --until
  bool catch_up = false;            // track caught_up(): the end offsets at start reached
  std::string tool;                 // names the private group id without -G
  int connect_timeout_ms = 10'000;
  // A member of the group io.group (subscribed, cooperative-sticky): reads
  // the partitions assigned to it and tells the rebalance callback.
  bool member = false;
  std::string instance;  // --instance: group.instance.id (static membership)
  // A member's second input (kjoin's RIGHT): never joins the group; reads
  // the partitions it is told to follow (Follow), those of the numbers the
  // group gave the member's first input.
  bool follower = false;
};

// The next offset to read in one partition.
using KafkaPosition = PartitionPosition;

// An Input (io/input.h) whose position is the next offset of each partition.
class KafkaSource : public Input {
 public:
  // `warn` gets warnings; `info` (may be empty) what -v shows.
  KafkaSource(KafkaSourceOptions opt, std::function<void(const std::string&)> warn,
              std::function<void(const std::string&)> info = nullptr);
  ~KafkaSource() override;
  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Connects and finds the partitions (and, for --until, where each ends).
  Status Open();
  // The group's committed offsets of our partitions with their metadata
  // strings (partitions without one are left out), waiting at most
  // `timeout_ms` (< 0: the connection timeout).
  Status Committed(std::vector<KafkaPosition>* offsets, std::vector<std::string>* metadata,
                   int timeout_ms = -1);
  // Starts reading: at `at` (a checkpoint's positions) when given, else at
  // the group's committed offsets, --from, or the beginning, in that order.
  // Every partition gets a concrete offset, so positions() is exact from
  // the first call.
  Status StartAt(const std::vector<KafkaPosition>* at);

  // As LineReader: idle (before waiting), tick (every period of quiet),
  // signals (a pending SIGINT/SIGTERM ends NextBlock with Interrupted).
  void set_idle_callback(std::function<Status()> cb) override { idle_ = std::move(cb); }
  void set_tick(int64_t period_ms, std::function<Status()> cb) override {
    tick_ms_ = period_ms;
    tick_ = std::move(cb);
  }
  void set_signal_watch(SignalWatch* s) override { signals_ = s; }
  void set_output_watch(int fd) override { watch_ = fd; }
  // Called with a partition's name ("topic/partition", as RecordDecoder
  // names it) when reading it starts, and with done = true when a bounded
  // read has reached its end there.
  void set_partition_callback(std::function<void(const std::string& name, bool done)> cb) override {
    on_partition_ = std::move(cb);
  }
  void set_rebalance_callback(std::function<Status(Rebalance*)> cb) override { on_rebalance_ = std::move(cb); }

  // The next messages as envelope lines, each ending with '\n' and followed
  // by SIMDJSON_PADDING readable bytes; false at the end of a bounded read
  // or on an error (see status()). Valid until the next call.
  bool NextBlock(std::string_view* block) override;
  const Status& status() const override { return status_; }

  // Input: Start(at) is StartAt(at's partitions).
  const std::string& name() const override { return name_; }
  Status Start(const InputPosition* at, bool* rewound) override;
  // For a poll() loop over several inputs: a descriptor that becomes
  // readable when messages arrive (TryBlock() drains it)...
  Result<int> ReadyFd() override;
  // ...and a NextBlock that never waits: false when nothing is ready now or
  // at the end (ended()) or on an error (status()).
  bool TryBlock(std::string_view* block) override;
  // A bounded read has reached its end everywhere.
  bool ended() const override { return AllDone(); }
  // With catch_up: every partition has been read up to its end offset at
  // start (a table topic is then complete enough to join against).
  bool caught_up() const override;

  // Where line `i` (0-based) of the last block came from: the partition
  // and the offset.
  void Locate(size_t i, uint64_t line_no, std::string* source, uint64_t* offset) const override;
  InputPosition position() const override { return {0, positions()}; }
  // The next offset of every partition read (a member's: those it owns):
  // everything before it has been returned in a block.
  std::vector<KafkaPosition> positions() const;
  // The number of partitions of each topic.
  int partition_count(const std::string& topic) const;
  // Commits `at` as the group's offsets (without transactions).
  Status Commit(const std::vector<KafkaPosition>& at);
  // A member goes back to `at` in partitions it owns (offsets < 0: --from,
  // else the beginning), after its transaction was aborted.
  Status Seek(std::vector<KafkaPosition> at);
  // A follower starts reading `add` (offsets < 0: --from, else the
  // beginning), and stops reading the partitions numbered `drop`.
  Status Follow(std::vector<KafkaPosition> add);
  Status Unfollow(const std::vector<int32_t>& drop);

  rd_kafka_t* handle() { return rk_.get(); }
  const std::string& group_id() const { return group_id_; }
  uint64_t messages() const { return messages_; }
  // Keys and values handed on, in bytes.
  uint64_t bytes() const { return bytes_; }
  // A bounded read (--until): the offsets read and to read in all, from
  // where each partition started to its end; false when unbounded.
  bool Progress(uint64_t* done, uint64_t* total) const override;
  // Appends each partition's lag (see AppendLag).
  void Lag(std::vector<service::PartitionLag>* out) const;
  // Bytes read and each partition's lag.
  void AddMetrics(service::Snapshot* s) const override;

 private:
  struct Part {
    FetchCursor cursor;   // topic, partition, next offset, EOF, last kick
    std::string name;     // "topic/partition"
    int64_t end = -1;     // bounded: stop before this offset
    int64_t start_end = -1;  // the end offset at start (bounded, catch_up)
    int64_t first = 0;       // where reading started
    bool done = false;
    bool owned = true;       // a member's: assigned to it now
  };
  void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  // The rebalance callback (the runner restores or commits), then the
  // partitions' records here; sets the start offsets in `parts`.
  Status Assign(rd_kafka_topic_partition_list_t* parts);
  Status Revoke(rd_kafka_topic_partition_list_t* parts, bool lost);
  // The partitions of `list` are read from now on, from its offsets; -v
  // says `how` ("assigned").
  void Own(const rd_kafka_topic_partition_list_t* list, const char* how);
  // Sets the start offset of each of `list`'s partitions whose offset is
  // < 0: --from, else the beginning.
  Status DefaultStarts(rd_kafka_topic_partition_list_t* list);
  // A follower: the consumer's assignment becomes the partitions owned.
  Status Reassign();
  Part* Find(rd_kafka_message_t* m);
  Status Handle(rd_kafka_message_t* m);
  void MarkDone(Part* p);
  bool AllDone() const;
  Status Idle();
  void Kick();
  void TellDone();
  // Appends what the queue holds now to the block; false on an error.
  // `*more`: the block is full and the queue may hold more.
  bool Take(bool* more);
  std::string_view Block();

  void DrainEvents();
  // A member: wakes librdkafka's group thread now and then (source.cc).
  void NudgeGroup();

  KafkaSourceOptions opt_;
  std::string name_;  // "kafka:T1,T2"
  std::function<void(const std::string&)> warn_, info_;
  ClientEvents events_;
  KafkaHandle rk_;
  rd_kafka_queue_t* queue_ = nullptr;
  std::string group_id_;
  bool bounded_ = false;
  std::vector<Part> parts_;
  std::map<std::pair<std::string, int32_t>, size_t> index_;
  Part* last_ = nullptr;
  rd_kafka_topic_t* last_rkt_ = nullptr;
  std::string buf_;
  std::vector<std::pair<uint32_t, int64_t>> lines_;
  std::vector<std::string> done_;  // ended, not yet told  // part index, offset of each line
  json::Validator validator_;
  std::unique_ptr<schema::Registry> registry_;  // a registry: payloads in the wire format decoded
  std::unique_ptr<schema::WireDecoder> wire_;
  MessageLines writer_{&validator_, nullptr};
  Status status_;
  std::function<Status()> idle_, tick_;
  std::function<void(const std::string&, bool)> on_partition_;
  std::function<Status(Rebalance*)> on_rebalance_;
  bool assigned_once_ = false;  // a member: the group has given partitions
  // A member given none so far: since when (monotonic µs; -1: not given
  // an assignment yet), and how long a bounded read waits for some.
  int64_t none_since_ = -1;
  static constexpr int64_t kNoPartitionWaitUs = 3'000'000;
  bool closing_ = false;        // the destructor: rebalances are applied at once
  int64_t nudged_at_ = 0;       // NudgeGroup(), monotonic µs
  int64_t tick_ms_ = -1;
  int64_t next_tick_ = 0;
  SignalWatch* signals_ = nullptr;
  int watch_ = -1;  // the output (set_output_watch)
  uint64_t messages_ = 0, bytes_ = 0;
  uint64_t msgs_since_idle_ = 0, bytes_since_idle_ = 0;
  QueueLimits queue_limits_{Properties{}};
  int event_fds_[2] = {-1, -1};
};

}  // namespace kpipe
