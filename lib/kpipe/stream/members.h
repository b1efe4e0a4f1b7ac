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
// tombstone; "s"+KEY -> "v"+VALUE, an entry of an operator saved whole
// whose entries keep their keys (Operator::keyed_save, kjoin's interval
// join), likewise; "e"+N -> the N-th entry of any other operator saved
// whole (kwindow), with the entries past the last count deleted.
//
// kjoin's members read two co-partitioned inputs: the group assigns LEFT's
// partitions, and the member reads RIGHT's partitions of the same numbers
// (KafkaSource's follower); the changelog's partition p holds both, with
// both positions and watermarks in "p".
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kpipe/io/input.h"
#include "kpipe/kafka/sink.h"
#include "kpipe/kafka/source.h"
#include "kpipe/service/monitor.h"
#include "kpipe/state/partition_copy.h"
#include "kpipe/stream/changelog.h"
#include "kpipe/status.h"
#include "kpipe/stream/partitioned.h"
#include "kpipe/stream/runner.h"

namespace kpipe {

// A fingerprint of options (RunnerOptions::fingerprint, "kwindow --hop  --by
// user ...") as a reader wants it in a message: without options given no
// value.
std::string ReadableFingerprint(std::string_view fingerprint);

class Members {
 public:
  // `flush_rows` writes out (and for files, syncs) the rows written so far.
  // `follower` (may be null) is the second input, which follows `source`'s
  // assignment. All pointers outlive this.
  Members(const RunnerOptions& opt, PartitionedOperator* op, KafkaSource* source, KafkaSource* follower,
          KafkaSink* sink, std::function<Status()> flush_rows)
      : opt_(opt), op_(op), source_(source), follower_(follower), sink_(sink), flush_rows_(std::move(flush_rows)) {}

  // Checks the inputs (one topic each; with two, as many partitions in
  // each) and creates the changelog topic when it is missing: compacted,
  // with the input's partition count.
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
  // and gives the operator each one's state; sets the offsets to start at,
  // and with a follower its own in `*follow`, by partition (absent: its
  // default start).
  Status Restore(std::vector<PartitionPosition>* parts, std::map<int32_t, int64_t>* follow);
  // The partitions of `parts` are gained, restored: the follower reads them too.
  Status Gained(std::vector<PartitionPosition>* parts);
  // The follower's positions in the partitions numbered as `parts`, from
  // `at` (by number; absent: -1, its default start).
  std::vector<PartitionPosition> FollowerPositions(const std::vector<PartitionPosition>& parts,
                                                   const std::map<int32_t, int64_t>& at) const;
  // ... or lost: the operator and the follower let go of them.
  Status Drop(const std::vector<PartitionPosition>& parts);
  // `offsets`: one per input.
  Status WritePartition(int32_t partition, PartitionedOperator::Part* p, const int64_t* offsets);
  Status WriteKeyed(int32_t partition, PartitionedOperator::Part* p);
  // Writes a changelog record of `partition` (kept for the local copy).
  Status Produce(int32_t partition, std::string_view key, std::string_view value, bool deleted);
  changelog::ChangelogWriter::Produce Writer(int32_t partition);
  // After a commit: its records go to the local copy (--state), which is
  // then complete up to the changelog's end.
  Status SaveCopies();
  // What a local copy must have been made with: these options, and this
  // changelog topic (a copy's offsets mean nothing in another).
  std::string CopyFingerprint() const { return opt_.fingerprint + '\n' + topic_; }
  // The positions of every partition read: the source's, then the follower's.
  std::vector<PartitionPosition> Positions() const;
  // The properties of a client of the member's own, never a member of
  // anything (the group's ids dropped): `defaults` under what the user
  // set, `forced` over it.
  Result<Properties> OwnClientProperties(const Properties& defaults, const Properties& forced) const;
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
  KafkaSource* follower_;
  std::string follow_topic_;  // the follower's
  KafkaSink* sink_;
  // The changelog's producer: sink_ with --exactly-once; else one of the
  // member's own, transactional all the same, so that each commit's
  // changelog records and offsets go together or not at all, and the group
  // fences a zombie's.
  KafkaSink* log_ = nullptr;
  std::unique_ptr<KafkaSink> own_log_;
  // Asks where the changelog's partitions end, records of transactions not
  // yet decided included (read_uncommitted; Restore). The source, which
  // reads committed records only, would be told the last stable offset:
  // short of a commit whose markers are still being written, such as the
  // one the previous owner made as it gave the partition up.
  ClientEvents query_events_;
  KafkaHandle query_;
  std::function<Status()> flush_rows_;
  std::string topic_;   // the changelog
  int out_topic_ = -1;  // its handle in log_
  int64_t next_commit_ = 0;
  std::vector<PartitionPosition> committed_;  // the positions of the last commit
  std::function<void()> progress_;
  std::map<int32_t, service::Snapshot::Restore> restores_;  // by partition, owned ones
  int restoring_ = 0;          // partitions being restored now
  uint64_t restoring_read_ = 0;
  uint64_t rewinds_ = 0;
  int64_t stale_until_ = 0;  // a commit was refused: none before this, or the next rebalance
  std::string key_, value_;
  // --state with --instance: the local copy of the partitions' changelog,
  // and what this commit wrote to it, by partition.
  std::unique_ptr<state::PartitionCopy> copy_;
  std::map<int32_t, std::vector<state::PartitionCopy::Change>> pending_;
};

}  // namespace kpipe
