// What kwindow, kagg and kjoin share about Kafka inputs and outputs
// (kpipe(7), KAFKA INPUT AND OUTPUT, EXACTLY-ONCE): naming, and which
// checkpoint a restart restores when checkpoints are tied to transactions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/io/outputs.h"
#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/schema/wire.h"
#include "kpipe/state/codec.h"
#include "kpipe/state/store.h"
#include "kpipe/status.h"
#include "kpipe/stream/operator.h"
#include "kpipe/stream/runner.h"

namespace kpipe {

// "kafka:TOPIC..." rather than a file.
inline bool IsKafka(std::string_view dest) { return dest.rfind("kafka:", 0) == 0; }

// Rows to a Kafka topic, keyed by their group: kwindow's and kagg's group
// fields as a compact JSON object (`object_key`: wrapped in braces), kjoin's
// join key as given. One key stays on one partition, and a compacted topic
// keeps its latest row.
// With `encoders`, rows and keys are encoded in a schema registry's wire
// format (--value-format, --key-format).
class KafkaRowSink : public RowSink {
 public:
  KafkaRowSink(KafkaSink* sink, int topic, bool object_key, uint64_t* rows, schema::Encoders* encoders)
      : sink_(sink), topic_(topic), object_key_(object_key), rows_(rows), encoders_(encoders) {}
  Status Write(std::string_view group, std::string_view row) override {
    if (object_key_) {
      key_.assign(1, '{');
      key_.append(group);
      key_.push_back('}');
    } else {
      key_.assign(group);
    }
    // A row its schema refused is not out.
    Status st = encoders_ ? Encoded(row) : sink_->Produce(topic_, key_, row);
    if (st.ok()) (*rows_)++;
    return st;
  }

 private:
  Status Encoded(std::string_view row);

  KafkaSink* sink_;
  int topic_;
  bool object_key_;
  uint64_t* rows_;
  schema::Encoders* encoders_;
  std::string key_, encoded_key_, encoded_row_;
  simdjson::dom::parser parser_;
};

// The topics of an input "kafka:T1,T2" (empty names left out).
std::vector<std::string> KafkaTopics(std::string_view input);

// The metadata of the offsets committed with checkpoint `seq`.
std::string CheckpointTag(uint64_t seq);

// With --exactly-once, of the two checkpoints the store keeps the one to
// restore is the one whose transaction committed, named by the metadata of
// the offsets the group committed with it (over all `inputs`); the newer
// one may belong to a transaction that never committed. Selects it in
// `store`. `*fresh`: there is none to restore (no checkpoint, or only the
// first one, made before reading, whose transaction never committed).
// A directory that lacks the checkpoint the committed offsets name (new,
// wiped, or another instance's) and another group's directory are usage
// errors: empty state would contradict what the group committed. A group
// that has committed no kpipe checkpoint starts fresh.
Status SelectCommitted(state::CheckpointStore* store, const std::vector<KafkaSource*>& inputs,
                       const std::string& group, const std::string& dir,
                       const std::function<void(const std::string&)>& warn, bool* fresh);

// Before fencing anyone (init_transactions): the refusal of
// SelectCommitted, when the committed offsets, read with a short timeout,
// already name a checkpoint that `store` does not hold, so that an
// instance started on the wrong directory does not stop the one running.
// Offsets that cannot be read yet (those of a transaction a killed
// instance left open are unstable until it is fenced) are left to
// SelectCommitted, after fencing.
Status RefuseUnheldCheckpoint(const state::CheckpointStore& store, const std::vector<KafkaSource*>& inputs,
                              const std::string& group, const std::string& dir);

// A member (-G without a single process's --state) refuses a group whose
// committed offsets carry a kpipe checkpoint (over the partitions of
// `topic`, which has `partitions`): a single process committed them, and
// its state is in its --state directory, not in a changelog; a member would
// read the input again from its start and write every row again.
Status RefuseSingleOwnersGroup(rd_kafka_t* consumer, const std::string& topic, int partitions,
                               const std::string& group);

// A checkpoint's record of Kafka positions.
void EncodePositions(const std::vector<KafkaPosition>& positions, state::Encoder* e);
std::vector<KafkaPosition> DecodePositions(state::Decoder* d);

// A group member's transactional id: kpipe-TOOL-GROUP-NAME with --instance
// NAME (a restart fences what the killed process left open at once), else
// with the host, the process and a random number in place of NAME (the
// group's generation in each commit, KIP-447, fences a member whose
// partitions moved).
std::string MemberTransactionalId(const RunnerOptions& opt);
// A member's transactional producer: `opt`'s Kafka settings, its
// transactional id with `suffix`, and what its aborts are followed by.
KafkaSinkOptions MemberSinkOptions(const RunnerOptions& opt, std::string_view suffix = "");

// The Kafka destinations of a run, and the steps around each checkpoint
// that tie it to them: without transactions the rows are acknowledged
// before the checkpoint is saved and the input offsets committed after it
// (at-least-once); with --exactly-once the input offsets join the open
// transaction before it is saved and the transaction commits after it.
// Not thread-safe.
class KafkaOutputs {
 public:
  // Opens the producer when a destination is kafka:TOPIC (not to dump a
  // checkpoint). `opt` outlives this.
  Status Open(const RunnerOptions& opt);
  bool open() const { return sink_ != nullptr; }
  KafkaSink* sink() { return sink_.get(); }

  // Writers for Outputs::Open: --late and --dead-letter topics get one
  // message per line; the --output one nothing (rows go through Rows()).
  Outputs::KafkaWriters Writers();
  // The rows for --output kafka:TOPIC (see KafkaRowSink).
  Result<std::unique_ptr<RowSink>> Rows(bool object_key, uint64_t* rows);

  // Around saving checkpoint `seq` of input `positions` (read by `consumer`).
  Status BeforeSave(rd_kafka_t* consumer, const std::vector<KafkaPosition>& positions, uint64_t seq);
  // `at`: the positions the checkpoint holds, for a single input whose
  // reading went on meanwhile (a checkpoint written behind); null: where
  // each input is now.
  Status AfterSave(const std::vector<KafkaSource*>& inputs, const std::vector<KafkaPosition>* at = nullptr);
  // The end of a run that ended with `st`: without --state, rows are
  // acknowledged and, after a clean end, the group's offsets committed; a
  // failed run's open transaction is aborted. Returns the run's status.
  Status End(Status st, bool with_state, const std::vector<KafkaSource*>& inputs);
  // The transactions ended so far, for the metrics (none without them).
  void Transactions(service::Snapshot* s) const;

 private:
  const RunnerOptions* opt_ = nullptr;
  std::unique_ptr<KafkaSink> sink_;
  std::unique_ptr<schema::Encoders> encoders_;  // --value-format/--key-format of the rows
};

}  // namespace kpipe
