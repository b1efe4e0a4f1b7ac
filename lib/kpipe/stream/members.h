// Members: what a member of a consumer group does besides reading
// (kpipe(7), SCALING). Its state per input partition (PartitionedOperator)
// goes to a compacted changelog topic, partition for partition; a member
// that gains a partition restores the partition's state, watermark and
// position from there before it reads a record of it; one that loses a
// partition commits first. Every commit writes, in this order, the rows
// (acknowledged), each partition's changes and position to the changelog,
// and the group's offsets; with --exactly-once all of it is one
// transaction whose offsets carry the consumer's group metadata (KIP-447),
// so that a member whose partitions moved meanwhile is fenced.
//
// The changelog holds, per partition: "p" -> the partition's position (the
// next input offset its state covers) and watermark; "k"+KEY -> "v"+VALUE,
// an entry of an operator with incremental state (kagg), deleted with a
// tombstone;
// "e"+N -> the N-th entry of an operator saved whole (kwindow), with the
// entries past the last count deleted.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kpipe/io/input.h"
#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/service/monitor.h"
#include "kpipe/status.h"
#include "kpipe/stream/partitioned.h"
#include "kpipe/stream/runner.h"

namespace kpipe {

class Members {
 public:
  // `flush_rows` writes out (and for files, syncs) the rows written so far.
  // All pointers outlive this.
  Members(const RunnerOptions& opt, PartitionedOperator* op, KafkaSource* source, KafkaSink* sink,
          std::function<Status()> flush_rows)
      : opt_(opt), op_(op), source_(source), sink_(sink), flush_rows_(std::move(flush_rows)) {}

  // Checks the input (one topic) and creates the changelog topic when it is
  // missing: compacted, with the input's partition count.
  Status Open();
  const std::string& changelog() const { return topic_; }
  // The input's rebalance callback (Input::set_rebalance_callback).
  Status OnRebalance(Rebalance* r);
  // A commit when one is due (every checkpoint_every_ms).
  Status MaybeCommit();
  // Writes each partition's changes and position to the changelog and
  // commits the group's offsets (see above). A transaction refused and
  // aborted (a rebalance began) rewinds every partition to its last commit,
  // except `revoking` ones, which are dropped.
  Status Commit(const std::vector<PartitionPosition>* revoking = nullptr);
  // Called every so often while a restore reads (the runner's metrics and
  // STATUS=, which AddMetrics feeds).
  void set_progress(std::function<void()> cb) { progress_ = std::move(cb); }
  // The member's share of the metrics: its partitions' restores, a restore
  // under way, the commits started over.
  void AddMetrics(service::Snapshot* s) const;

 private:
  // Reads the changelog partitions of `parts` to their ends (read_committed)
  // and gives the operator each one's state; sets the offsets to start at.
  Status Restore(std::vector<PartitionPosition>* parts);
  Status WritePartition(int32_t partition, PartitionedOperator::Part* p, int64_t offset);
  // After an abort: drops `drop`, and restores the other partitions from
  // the changelog and reads them again from there.
  Status Rewind(const std::vector<PartitionPosition>& drop);
  static std::string Name(const PartitionPosition& p) { return p.topic + "/" + std::to_string(p.partition); }
  void Info(const std::string& what) const {
    if (opt_.info) opt_.info(what);
  }

  const RunnerOptions& opt_;
  PartitionedOperator* op_;
  KafkaSource* source_;
  KafkaSink* sink_;
  std::function<Status()> flush_rows_;
  std::string topic_;   // the changelog
  int out_topic_ = -1;  // its handle in sink_
  int64_t next_commit_ = 0;
  std::vector<PartitionPosition> committed_;  // the positions of the last commit
  std::function<void()> progress_;
  std::map<std::string, service::Snapshot::Restore> restores_;  // by partition name, owned ones
  int restoring_ = 0;          // partitions being restored now
  uint64_t restoring_read_ = 0;
  uint64_t rewinds_ = 0;
  int64_t stale_until_ = 0;  // a commit was refused: none before this, or the next rebalance
  std::string key_, value_;
};

}  // namespace kpipe
