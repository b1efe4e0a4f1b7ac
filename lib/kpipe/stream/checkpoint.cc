// The runner's checkpoints (kpipe(7), STATE): what a checkpoint records
// besides the operator's entries, restoring it, writing one behind the
// reading, and --dump-state.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "kpipe/json/text.h"
#include "kpipe/stream/runner_core.h"
#include "kpipe/time/time.h"

namespace kpipe::run {

namespace {
// What a checkpoint holds besides the operator's entries.
// 4: one record for every runner, a position per input.
constexpr uint64_t kCheckpointVersion = 4;
}  // namespace

Status Runner::OpenStore() {
  auto store =
      state::CheckpointStore::Open(opt_.state_dir, /*point_reads=*/opt_.kafka_io.exactly_once || opt_.memory_budget > 0);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  if (op_->incremental()) op_->incremental()->TrackChanges(/*whole=*/false);
  if (opt_.memory_budget > 0) {
    if (!op_->incremental()) return Status::Usage("this operator keeps its whole state in memory");
    KPIPE_RETURN_IF_ERROR(op_->incremental()->SetBacking(store_.get(), opt_.memory_budget));
  }
  return Status::OK();
}

Status Runner::OpenState() {
  if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
  if (opt_.kafka_io.exactly_once && !opt_.dump_state)
    KPIPE_RETURN_IF_ERROR(
        SelectCommitted(store_.get(), KafkaInputs(), opt_.kafka_io.group, opt_.state_dir, opt_.warn, &fresh_));
  if (store_->meta().empty() || fresh_) {
    if (opt_.dump_state) return Status::Usage(fmt::format("--state {}: no checkpoint yet", opt_.state_dir));
    return Status::OK();
  }
  return Restore();
}

Status Runner::Restore() {
  state::Decoder d(store_->meta());
  uint64_t version = d.U64();
  std::string fingerprint(d.Str());
  if (!d.ok() || version != kCheckpointVersion)
    return Status::Usage(fmt::format("--state {}: not a checkpoint of this kpipe version", opt_.state_dir));
  if (fingerprint != opt_.fingerprint || d.U64() != lanes_.size())
    return Status::Usage(fmt::format(
        "--state {}: the checkpoint was made with other options ({}; now: {}); use a new directory",
        opt_.state_dir, ReadableFingerprint(fingerprint), ReadableFingerprint(opt_.fingerprint)));
  std::vector<std::string> inputs;
  for (size_t s = 0; s < lanes_.size(); s++) {
    Lane& l = *lanes_[s];
    inputs.emplace_back(d.Str());
    l.at.offset = d.U64();
    l.at.partitions = DecodePositions(&d);
    l.restored = true;
    l.line_no = d.U64();
    l.records = stats_->in_by_input[s] = d.U64();
    l.decoder.set_form(static_cast<RecordDecoder::Form>(d.U8()));
    l.ended = d.U8() != 0;
    l.wm.Load(&d, NowMs());
    l.w_seen = d.I64();
  }
  seq_ = d.U64();
  stats_->in = d.U64();
  stats_->out = d.U64();
  stats_->late = d.U64();
  stats_->dead_lettered = d.U64();
  control_out_ = d.U8() != 0;
  ended_ = d.U8() != 0;
  end_written_ = d.U8() != 0;
  w_ = d.I64();
  written_wm_ = d.I64();
  for (int64_t& size : restored_sizes_) size = d.I64();
  if (!d.done())  // (not in the checkpoints of earlier builds)
    for (std::string& path : restored_paths_) path = d.Str();
  KPIPE_RETURN_IF_ERROR(d.Check("checkpoint record"));
  restored_ = true;
  auto entries = op_->incremental() ? store_->ReadKeyed() : store_->Read();
  KPIPE_RETURN_IF_ERROR(op_->Load(entries.get()));
  if (opt_.dump_state) return Status::OK();

  // Reading goes on from the checkpoint's positions (StartInputs): Kafka
  // offsets, the offset in a regular file; a pipe cannot be rewound.
  bool any_stream = false;
  for (size_t s = 0; s < lanes_.size(); s++) {
    const Lane& l = *lanes_[s];
    if (inputs[s] != l.opt.name && opt_.warn)
      opt_.warn(fmt::format("--state {}: the checkpoint was made reading {}, not {}", opt_.state_dir,
                            inputs[s], l.opt.name));
    any_stream |= l.kafka == nullptr;
    ck_positions_.push_back(l.at);
  }
  // The end of the input let every key go: said once a record follows
  // (Block).
  restored_at_end_ = ended_;
  ck_counts_[0] = stats_->in;
  ck_counts_[1] = stats_->out;
  ck_counts_[2] = stats_->late;
  ck_counts_[3] = stats_->dead_lettered;
  // Standard output cannot be cut back.
  if (any_stream && (opt_.output.empty() || opt_.output == "-")) restored_sizes_[0] = -1;
  return Status::OK();
}

std::vector<KafkaPosition> Runner::KafkaPositions(const std::vector<InputPosition>& at) const {
  std::vector<KafkaPosition> all;
  for (const InputPosition& p : at) all.insert(all.end(), p.partitions.begin(), p.partitions.end());
  return all;
}

Status Runner::MaybeCheckpoint() {
  if (members_) return members_->MaybeCommit();
  if (behind_) {
    if (!behind_->done.load(std::memory_order_acquire)) return Status::OK();
    KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/false));
  }
  // Over its memory budget the operator lets go of what a checkpoint has
  // made safe in the store.
  IncrementalState* inc = op_->incremental();
  bool over = store_ && inc && inc->OverBudget();
  if (!store_ || (NowMs() < next_checkpoint_ && !over)) return Status::OK();
  KPIPE_RETURN_IF_ERROR(Checkpoint(/*behind=*/CanWriteBehind()));
  if (over) inc->Evict();
  return Status::OK();
}

Status Runner::CollectBehind(bool wait) {
  if (!behind_) return Status::OK();
  if (!wait && !behind_->done.load(std::memory_order_acquire)) return Status::OK();
  behind_->thread.join();
  op_->incremental()->EndSnapshot();
  std::unique_ptr<Behind> b = std::move(behind_);
  b->job.reset();
  KPIPE_RETURN_IF_ERROR(b->status);
  KPIPE_RETURN_IF_ERROR(kafka_out_.AfterSave(KafkaInputs(), &b->positions));
  state_bytes_ = b->bytes;
  ck_seconds_ = static_cast<double>(b->written_us - b->started_us) / 1e6;
  ck_at_ms_ = NowMs();
  if (opt_.checkpoint_every_ms > 0) next_checkpoint_ = NowMs() + opt_.checkpoint_every_ms;
  if (opt_.info)
    opt_.info(fmt::format("checkpoint {}: {:.3f} ms, {} bytes written, {:.3f} ms behind the reading", b->seq,
                          b->pause_us / 1000.0, b->bytes, (b->written_us - b->started_us) / 1000.0));
  return Status::OK();
}

Status Runner::Checkpoint(bool behind) {
  // One at a time: a checkpoint still being written comes first.
  KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/true));
  // Everything the state has produced is written before the state is saved;
  // a restart cuts the files back to these sizes.
  int64_t started_us = MonotonicMicros();
  KPIPE_RETURN_IF_ERROR(outputs_.Flush());
  std::vector<InputPosition> at;
  for (const auto& l : lanes_) at.push_back(l->in->position());
  uint64_t counts[4] = {stats_->in, stats_->out, stats_->late, stats_->dead_lettered};
  // The next one is due a period after this one ends, so that a slow
  // checkpoint never leaves reading no time.
  struct Reschedule {
    Runner* r;
    ~Reschedule() {
      if (r && r->opt_.checkpoint_every_ms > 0) r->next_checkpoint_ = NowMs() + r->opt_.checkpoint_every_ms;
    }
  } reschedule{this};
  // Nothing read or written since the last one: it would record the same.
  // (With transactions it is made all the same: its requests are what
  // tells an idle instance that another one has fenced it.)
  if (store_->seq() != 0 && !fresh_ && !opt_.kafka_io.exactly_once && at == ck_positions_ &&
      std::equal(counts, counts + 4, ck_counts_)) {
    ck_at_ms_ = NowMs();  // what is on disk is still current
    return Status::OK();
  }
  std::vector<int64_t> sizes;
  std::vector<int> to_sync;
  if (behind) outputs_.Measure(&sizes, &to_sync);
  else KPIPE_RETURN_IF_ERROR(outputs_.SyncAndMeasure(&sizes));
  // Rows acknowledged (at-least-once), or the input offsets in the open
  // transaction, which commits once the checkpoint is saved (the one before
  // it is kept). Killed before the commit, the transaction is aborted and
  // the restart restores the checkpoint before (SelectCommitted).
  std::vector<KafkaSource*> kafka = KafkaInputs();
  std::vector<KafkaPosition> positions = KafkaPositions(at);
  KPIPE_RETURN_IF_ERROR(
      kafka_out_.BeforeSave(kafka.empty() ? nullptr : kafka[0]->handle(), positions, store_->next_seq()));
  std::string meta;
  state::Encoder e(&meta);
  e.U64(kCheckpointVersion);
  e.Str(opt_.fingerprint);
  e.U64(lanes_.size());
  for (size_t s = 0; s < lanes_.size(); s++) {
    const Lane& l = *lanes_[s];
    e.Str(l.opt.name);
    e.U64(at[s].offset);
    EncodePositions(at[s].partitions, &e);
    e.U64(l.line_no);
    e.U64(l.records);
    e.U8(static_cast<uint8_t>(l.decoder.form()));
    e.U8(l.ended);
    l.wm.Save(&e);
    e.I64(l.w_seen);
  }
  e.U64(seq_);
  e.U64(stats_->in);
  e.U64(stats_->out);
  e.U64(stats_->late);
  e.U64(stats_->dead_lettered);
  e.U8(control_out_);
  e.U8(ended_);
  e.U8(end_written_);
  e.I64(w_);
  e.I64(written_wm_);
  for (int64_t size : sizes) e.I64(size);
  for (const std::string& path : output_paths_) e.Str(path);
  std::unique_ptr<SnapshotJob> job = behind ? op_->incremental()->BeginSnapshot() : nullptr;
  if (job) {
    // The entries, the output files' data and the record: another thread.
    // Until it is done no other checkpoint starts (next_checkpoint_), and
    // the one after is due a period after it ends.
    auto b = std::make_unique<Behind>();
    b->job = std::move(job);
    b->to_sync = std::move(to_sync);
    b->positions = positions;
    b->seq = store_->next_seq();
    b->started_us = started_us;
    Behind* raw = b.get();
    state::CheckpointStore* store = store_.get();
    b->thread = std::thread([raw, store, meta = std::move(meta)] {
      // Behind the reading, at a lower priority than it (nice 10): on two
      // cores the scheduler then lets the reading thread run first.
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
      Status st = SyncAll(raw->to_sync);
      state::CountingWriter w(store->BeginChanges(/*keep_previous=*/false));
      if (st.ok()) st = raw->job->Write(&w);
      if (st.ok()) st = store->Commit(meta);
      raw->bytes = w.bytes();
      raw->status = std::move(st);
      raw->written_us = MonotonicMicros();
      raw->done.store(true, std::memory_order_release);
    });
    behind_ = std::move(b);
    ck_positions_ = std::move(at);
    std::copy(counts, counts + 4, ck_counts_);
    behind_->pause_us = MonotonicMicros() - started_us;
    reschedule.r = nullptr;
    next_checkpoint_ = INT64_MAX;
    return Status::OK();
  }
  // An operator with a large table of keys writes only what changed.
  IncrementalState* inc = op_->incremental();
  state::CountingWriter w(inc ? store_->BeginChanges(/*keep_previous=*/opt_.kafka_io.exactly_once) : store_->Begin());
  KPIPE_RETURN_IF_ERROR(inc ? inc->SaveChanges(&w) : op_->Save(&w));
  state_bytes_ = w.bytes();
  KPIPE_RETURN_IF_ERROR(store_->Commit(meta));
  fresh_ = false;
  KPIPE_RETURN_IF_ERROR(kafka_out_.AfterSave(kafka));
  ck_positions_ = std::move(at);
  std::copy(counts, counts + 4, ck_counts_);
  ck_seconds_ = (MonotonicMicros() - started_us) / 1e6;
  ck_at_ms_ = NowMs();
  if (opt_.info)
    opt_.info(fmt::format("checkpoint {}: {:.3f} ms, {} bytes written", store_->seq(), ck_seconds_ * 1e3,
                          state_bytes_));
  return Status::OK();
}

namespace {

void AppendWatermark(std::string* b, int64_t w) {
  if (w == Watermark::kMinusInfinity || w == Watermark::kPlusInfinity) b->append("null");
  else fmt::format_to(std::back_inserter(*b), "{}", w);
}

}  // namespace

// The checkpoint's record as one line, then the current row of every
// window, key or stored record the checkpoint holds.
Status Runner::DumpState() {
  Output out(1, "stdout");
  std::string* b = out.buffer();
  if (lanes_.size() == 1) {
    const Lane& l = *lanes_[0];
    state::Decoder d(store_->meta());
    d.U64();
    d.Str();
    d.U64();
    std::string_view input = d.Str();
    b->append("{\"checkpoint\":{\"input\":");
    json::AppendQuoted(b, input);
    if (!l.kafka) {
      fmt::format_to(std::back_inserter(*b), ",\"offset\":{},\"line\":{}", l.at.offset, l.line_no);
    } else {
      b->append(",\"offsets\":[");
      for (size_t i = 0; i < l.at.partitions.size(); i++) {
        const KafkaPosition& p = l.at.partitions[i];
        b->append(i ? ",{\"topic\":" : "{\"topic\":");
        json::AppendQuoted(b, p.topic);
        fmt::format_to(std::back_inserter(*b), ",\"partition\":{},\"offset\":{}}}", p.partition, p.offset);
      }
      b->push_back(']');
    }
    fmt::format_to(std::back_inserter(*b), ",\"number\":{},\"records_in\":{},\"rows_out\":{}", store_->seq(),
                   stats_->in, stats_->out);
    b->append(",\"watermark\":");
    AppendWatermark(b, w_);
    fmt::format_to(std::back_inserter(*b), ",\"input_ended\":{}}}}}\n", ended_ ? "true" : "false");
  } else {
    b->append("{\"checkpoint\":{");
    for (size_t s = 0; s < lanes_.size(); s++) {
      const Lane& l = *lanes_[s];
      json::AppendQuoted(b, l.opt.role);
      b->append(":{\"input\":");
      json::AppendQuoted(b, l.in->name());
      fmt::format_to(std::back_inserter(*b), ",\"line\":{},\"records_in\":{},\"ended\":{}}},", l.line_no,
                     l.records, l.ended ? "true" : "false");
    }
    fmt::format_to(std::back_inserter(*b), "\"rows_out\":{},\"watermark\":", stats_->out);
    AppendWatermark(b, w_);
    b->append("}}\n");
  }
  uint64_t dumped = 0;  // not output: not counted
  OutputSink sink(&out, &dumped);
  KPIPE_RETURN_IF_ERROR(op_->Dump(&sink));
  return out.Flush();
}

}  // namespace kpipe::run
