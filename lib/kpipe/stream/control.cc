// The runner's control records, watermarks and the end of its inputs
// (kpipe(7), CONTROL RECORDS, EVENT TIME): what moves W, what it releases,
// and the watermark records written downstream.
#include <algorithm>

#include <fmt/format.h>

#include "kpipe/json/text.h"
#include "kpipe/stream/runner_core.h"
#include "kpipe/time/event_time.h"
#include "kpipe/time/time.h"

namespace kpipe::run {

Status Runner::Control(size_t s, simdjson::dom::object obj, std::string_view line) {
  Lane& l = *lanes_[s];
  auto bad = [&](std::string_view reason) {
    stats_->in++;
    l.records++;
    return Bad(s, reason, line);
  };
  std::string_view kind;
  if (obj["@kpipe"].get_string().get(kind) != simdjson::SUCCESS)
    return bad("control record: \"@kpipe\" is not a string");
  // Watermark and end records make a tool forward its own watermarks; a
  // partitions record only when it says that watermarks follow. (A bad one
  // changes nothing.)
  int64_t ts = 0;
  if (kind == "watermark" &&
      (obj["ts"].get_int64().get(ts) != simdjson::SUCCESS || !CheckEventTime(ts, "ts").ok()))
    return bad("watermark control record without an integer \"ts\" in range");
  if (!no_control_ && kind != "partitions") {
    control_out_ = true;
    KPIPE_RETURN_IF_ERROR(SayWatermarksFollow());
  }
  if (kind == "watermark") {
    l.wm.Control(ts);
    return Moved(/*force=*/true, /*refresh=*/false);
  }
  if (kind == "end") return EndInput(s);
  if (kind == "partitions") {
    bool upstream;
    Status st = ApplyPartitions(obj, &l.wm, NowMs(), &upstream);
    if (!st.ok()) return bad(st.message());
    // The names are this input's, not passed on; that watermark records
    // follow holds for the output too.
    if (upstream && !no_control_) {
      control_out_ = true;
      KPIPE_RETURN_IF_ERROR(SayWatermarksFollow());
    }
    // A partition that ended may have held W back.
    return Moved(/*force=*/false, /*refresh=*/false);
  }
  // A kind this version does not know: pass it on.
  if (no_control_) return Status::OK();
  std::string* b = out_->buffer();
  b->append(line);
  b->push_back('\n');
  return out_->Commit();
}

Status Runner::EndInput(size_t s) {
  lanes_[s]->ended = true;
  lanes_[s]->wm.End();
  for (const auto& l : lanes_)
    if (!l->ended) return Moved(/*force=*/false, /*refresh=*/false);
  return End();
}

// The end of the inputs, by end records or at their end: every window
// closes. Records after an end record are late for kwindow, but start new
// keys in kagg, so the end of the input finishes again.
Status Runner::End() {
  // The operator lets go of its keys: a checkpoint being written behind
  // must be done with them first (an end record can come mid-stream).
  KPIPE_RETURN_IF_ERROR(CollectBehind(/*wait=*/true));
  ended_ = true;
  for (auto& l : lanes_) {
    l->ended = true;
    l->wm.End();
  }
  w_ = Watermark::kPlusInfinity;
  KPIPE_RETURN_IF_ERROR(op_->Finish(sink_.get()));
  if (!control_out_ || end_written_) return Status::OK();
  end_written_ = true;
  return out_->Write("{\"@kpipe\":\"end\"}\n");
}

int64_t Runner::Combined(int64_t now) const {
  if (lanes_.size() == 1) return lanes_[0]->W();
  int64_t all = Watermark::kPlusInfinity, awake = Watermark::kPlusInfinity;
  bool any_awake = false;
  for (const auto& l : lanes_) {
    int64_t w = l->W();
    all = std::min(all, w);
    bool quiet = opt_.idle_ms >= 0 && !l->ended && now - l->last_data_ms > opt_.idle_ms;
    if (quiet) continue;
    awake = std::min(awake, w);
    // An input that ended is not active: alone, it leaves no quiet one out
    // (its W, past every time, would be the whole watermark).
    any_awake |= !l->ended;
  }
  return any_awake ? awake : all;
}

Status Runner::Moved(bool force, bool refresh) {
  int64_t now = opt_.idle_ms >= 0 ? NowMs() : 0;
  if (refresh && opt_.idle_ms >= 0 && !ended_)
    for (auto& l : lanes_)
      if (!l->ended) l->wm.Refresh(now);
  bool closed = false;
  if (lanes_.size() > 1) {
    for (size_t s = 0; s < lanes_.size(); s++) {
      Lane& l = *lanes_[s];
      if (l.W() <= l.w_seen) continue;
      l.w_seen = l.W();
      bool c = false;
      KPIPE_RETURN_IF_ERROR(op_->AdvanceInput(static_cast<int>(s), l.w_seen, sink_.get(), &c));
      closed |= c;
    }
  }
  int64_t w = Combined(now);
  if (w > w_) {
    w_ = w;
    bool c = false;
    KPIPE_RETURN_IF_ERROR(op_->Advance(w_, sink_.get(), &c));
    closed |= c;
  }
  if (closed || force) return WriteWatermark();
  return Status::OK();
}

// Watermark records follow: the reader waits for them instead of judging
// the rows by their own times (a session row may start long before the row
// written ahead of it).
Status Runner::SayWatermarksFollow() {
  if (follow_said_ || !control_out_) return Status::OK();
  follow_said_ = true;
  return out_->Write(kWatermarksFollow);
}

Status Runner::WriteWatermark() {
  if (!control_out_ || ended_) return Status::OK();
  int64_t ow = op_->OutputWatermark(w_);
  if (ow <= written_wm_ || ow == Watermark::kMinusInfinity || ow == Watermark::kPlusInfinity)
    return Status::OK();
  written_wm_ = ow;
  wm_written_at_ = NowMs();
  fmt::format_to(std::back_inserter(*out_->buffer()), "{{\"@kpipe\":\"watermark\",\"ts\":{}}}\n", ow);
  return out_->Commit();
}

Status Runner::OnIdle() {
  Monitor();
  if (opt_.idle_ms >= 0 && !ended_) KPIPE_RETURN_IF_ERROR(Moved(/*force=*/false, /*refresh=*/true));
  KPIPE_RETURN_IF_ERROR(WriteWatermark());
  if (next_tick_ != INT64_MAX && NowMs() >= next_tick_) KPIPE_RETURN_IF_ERROR(OnTick(true));
  if (out_->ReaderGone()) return Status::BrokenPipe();
  KPIPE_RETURN_IF_ERROR(outputs_.Flush());
  return MaybeCheckpoint();
}

Status Runner::OnTick(bool between_blocks) {
  Monitor();
  int64_t now = NowMs();
  if (opt_.idle_ms >= 0 && !ended_) KPIPE_RETURN_IF_ERROR(Moved(/*force=*/false, /*refresh=*/true));
  if (next_tick_ != INT64_MAX && now >= next_tick_) {
    next_tick_ = now + opt_.every_ms;
    KPIPE_RETURN_IF_ERROR(op_->Tick(sink_.get()));
  }
  KPIPE_RETURN_IF_ERROR(WriteWatermark());
  if (out_->ReaderGone()) return Status::BrokenPipe();
  KPIPE_RETURN_IF_ERROR(outputs_.Flush());
  return between_blocks ? MaybeCheckpoint() : Status::OK();
}

}  // namespace kpipe::run
