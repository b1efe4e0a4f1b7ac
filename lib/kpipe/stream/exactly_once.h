// What kwindow, kagg and kjoin share about Kafka inputs and outputs
// (kpipe(7), KAFKA INPUT AND OUTPUT, EXACTLY-ONCE): naming, and which
// checkpoint a restart restores when checkpoints are tied to transactions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/state/store.h"
#include "kpipe/status.h"
#include "kpipe/stream/operator.h"

namespace kpipe {

// "kafka:TOPIC..." rather than a file.
inline bool IsKafka(std::string_view dest) { return dest.rfind("kafka:", 0) == 0; }

// Rows to a Kafka topic, keyed by their group: kwindow's and kagg's group
// fields as a compact JSON object (`object_key`: wrapped in braces), kjoin's
// join key as given. One key stays on one partition, and a compacted topic
// keeps its latest row.
class KafkaRowSink : public RowSink {
 public:
  KafkaRowSink(KafkaSink* sink, int topic, bool object_key, uint64_t* rows)
      : sink_(sink), topic_(topic), object_key_(object_key), rows_(rows) {}
  Status Write(std::string_view group, std::string_view row) override {
    if (object_key_) {
      key_.assign(1, '{');
      key_.append(group);
      key_.push_back('}');
    } else {
      key_.assign(group);
    }
    (*rows_)++;
    return sink_->Produce(topic_, key_, row);
  }

 private:
  KafkaSink* sink_;
  int topic_;
  bool object_key_;
  uint64_t* rows_;
  std::string key_;
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
// Another group's directory is a usage error.
Status SelectCommitted(state::CheckpointStore* store, const std::vector<KafkaSource*>& inputs,
                       const std::string& group, const std::string& dir,
                       const std::function<void(const std::string&)>& warn, bool* fresh);

}  // namespace kpipe
