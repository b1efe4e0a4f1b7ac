#include "kpipe/window/operator.h"

#include <algorithm>

#include <fmt/format.h>

#include "kpipe/time/time.h"

namespace kpipe {

Result<std::unique_ptr<WindowOperator>> WindowOperator::Make(const WindowOptions& opt,
                                                             agg::GroupKey by, agg::AggSet aggs) {
  if (opt.lateness < 0) return Status::Usage("the allowed lateness must not be negative");
  Result<WindowAssigner> assigner = Status::Usage("no window");
  switch (opt.kind) {
    case WindowOptions::Kind::kTumble:
      assigner = WindowAssigner::Tumbling(opt.size);
      break;
    case WindowOptions::Kind::kHop:
      assigner = WindowAssigner::Hopping(opt.size, opt.slide);
      break;
    case WindowOptions::Kind::kSession:
      if (opt.gap <= 0) return Status::Usage("the session gap must be positive");
      assigner = WindowAssigner::Tumbling(opt.gap);  // unused by sessions
      break;
  }
  if (!assigner.ok()) return assigner.status();
  return std::unique_ptr<WindowOperator>(
      new WindowOperator(opt, *assigner, std::move(by), std::move(aggs)));
}

WindowOperator::Row WindowOperator::NewRow(uint64_t seq) {
  Row row;
  row.key = key_;
  by_.AppendFields(&row.fields, key_);
  row.first_seq = seq;
  row.accs = aggs_.NewRow();
  return row;
}

void WindowOperator::AppendTime(int64_t ms) {
  if (opt_.rfc3339) {
    row_buf_.push_back('"');
    row_buf_.append(FormatRfc3339(ms));
    row_buf_.push_back('"');
  } else {
    fmt::format_to(std::back_inserter(row_buf_), "{}", ms);
  }
}

Status WindowOperator::WriteRow(const Window& w, const Row& row, RowSink* out, bool retract) {
  row_buf_.assign("{\"window_start\":");
  AppendTime(w.start);
  row_buf_.append(",\"window_end\":");
  AppendTime(w.end);
  if (!row.fields.empty()) {
    row_buf_.push_back(',');
    row_buf_.append(row.fields);
  }
  row_buf_.push_back(',');
  aggs_.Append(&row_buf_, row.accs.data());
  if (retract) row_buf_.append(",\"retract\":true");
  row_buf_.push_back('}');
  return out->Write(row.fields, row_buf_);
}

Status WindowOperator::Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) {
  by_.Extract(r.value, &key_);
  // The key is hashed after the values are read: its bytes, just written a
  // few at a time, cannot be loaded in words until those stores are done.
  KPIPE_RETURN_IF_ERROR(aggs_.Extract(r.value, &x_));
  key_hash_ = agg::HashValue(key_);
  x_.t = r.t;
  x_.seq = r.seq;
  outcome->Reset();
  if (opt_.kind == WindowOptions::Kind::kSession) return AddToSession(r, w, out, outcome);
  return AddToPanes(r, w, out, outcome);
}

Status WindowOperator::AddToPanes(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) {
  if (opt_.kind == WindowOptions::Kind::kTumble) {
    int64_t start = FloorDiv(r.t, opt_.size) * opt_.size;
    windows_.assign(1, Window{start, start + opt_.size});
  } else {
    assigner_.Assign(r.t, &windows_);
  }
  // A record is added to each of its windows that has not closed.
  auto open_end = std::remove_if(windows_.begin(), windows_.end(),
                                 [&](const Window& win) { return Closed(win, w); });
  if (open_end == windows_.begin()) {
    outcome->late = true;
    outcome->window_end = windows_.back().end;
    return Status::OK();
  }
  windows_.erase(open_end, windows_.end());

  // Find the existing rows and check them all first, so that a failing sum
  // changes nothing; then create the missing rows and add.
  targets_.clear();
  for (const Window& win : windows_) {
    if (last_pane_ == panes_.end() || !(last_pane_->first == win)) last_pane_ = panes_.find(win);
    Row* row = last_pane_ == panes_.end() ? nullptr : last_pane_->second.index.Find(key_hash_, key_);
    if (row && aggs_.has_sum()) KPIPE_RETURN_IF_ERROR(aggs_.Check(row->accs.data(), x_));
    targets_.push_back(row);
  }
  for (size_t i = 0; i < windows_.size(); i++) {
    const Window& win = windows_[i];
    Row* row = targets_[i];
    if (!row) {
      if (last_pane_ == panes_.end() || !(last_pane_->first == win))
        last_pane_ = panes_.try_emplace(win).first;
      Pane& pane = last_pane_->second;
      row = &pane.rows.emplace_back(NewRow(r.seq));
      pane.index.Insert(key_hash_, row);
    }
    aggs_.Add(row->accs.data(), x_);
    row->changed = true;
    if (opt_.emit == EmitMode::kChanges) KPIPE_RETURN_IF_ERROR(WriteRow(win, *row, out));
  }
  return Status::OK();
}

void WindowOperator::Index(Session* s) {
  session_order_.emplace(s->w.end, s->w.start, s->row.first_seq, s);
}

void WindowOperator::Unindex(Session* s) {
  session_order_.erase(SessionOrder(s->w.end, s->w.start, s->row.first_seq, s));
}

Status WindowOperator::AddToSession(const RecordIn& r, int64_t w, RowSink* out,
                                    AddOutcome* outcome) {
  Window own{r.t, SaturatingAdd(r.t, opt_.gap)};
  auto kit = sessions_.find(key_);
  std::vector<Session*> touched;
  if (kit != sessions_.end()) {
    for (auto& s : kit->second)
      if (s->w.start <= own.end && s->w.end >= own.start) touched.push_back(s.get());
  }
  if (touched.empty()) {
    // Open sessions never closed (W < end + L), so only a record touching
    // none can be late.
    if (Closed(own, w)) {
      outcome->late = true;
      outcome->window_end = own.end;
      return Status::OK();
    }
    auto& list = kit != sessions_.end() ? kit->second : sessions_[key_];
    auto s = std::make_unique<Session>(Session{own, NewRow(r.seq)});
    Session* sp = s.get();
    list.push_back(std::move(s));
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->w.start < b->w.start; });
    Index(sp);
    aggs_.Add(sp->row.accs.data(), x_);
    sp->row.changed = true;
    if (opt_.emit == EmitMode::kChanges) return WriteRow(sp->w, sp->row, out);
    return Status::OK();
  }

  std::vector<const std::byte*> rows;
  for (Session* s : touched) rows.push_back(s->row.accs.data());
  KPIPE_RETURN_IF_ERROR(aggs_.CheckMerge(rows, x_));

  Window merged = own;
  Session* target = touched[0];
  for (Session* s : touched) {
    merged.start = std::min(merged.start, s->w.start);
    merged.end = std::max(merged.end, s->w.end);
    if (s->row.first_seq < target->row.first_seq) target = s;
  }
  if (opt_.emit == EmitMode::kChanges) {
    for (Session* s : touched)  // rows that no longer exist, as last written
      if (!(s->w == merged)) KPIPE_RETURN_IF_ERROR(WriteRow(s->w, s->row, out, /*retract=*/true));
  } else if (opt_.emit == EmitMode::kEvery) {
    for (Session* s : touched)  // periodic rows of windows that no longer exist
      if (!(s->w == merged)) KPIPE_RETURN_IF_ERROR(RetractWritten(s, out));
  }
  for (Session* s : touched) Unindex(s);
  auto& list = kit->second;
  for (Session* s : touched) {
    if (s == target) continue;
    aggs_.Merge(target->row.accs.data(), s->row.accs.data());
    target->row.first_seq = std::min(target->row.first_seq, s->row.first_seq);
    list.erase(std::find_if(list.begin(), list.end(), [s](const auto& p) { return p.get() == s; }));
  }
  target->w = merged;
  std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->w.start < b->w.start; });
  Index(target);
  aggs_.Add(target->row.accs.data(), x_);
  target->row.changed = true;
  if (opt_.emit == EmitMode::kChanges) return WriteRow(target->w, target->row, out);
  return Status::OK();
}

Status WindowOperator::Advance(int64_t w, RowSink* out, bool* closed) {
  *closed = false;
  bool write = opt_.emit != EmitMode::kChanges;
  while (!panes_.empty() && Closed(panes_.begin()->first, w)) {
    auto p = panes_.begin();
    if (write)
      for (const Row& row : p->second.rows) KPIPE_RETURN_IF_ERROR(WriteRow(p->first, row, out));
    if (last_pane_ == p) last_pane_ = panes_.end();
    panes_.erase(p);
    *closed = true;
  }
  while (!session_order_.empty()) {
    Session* s = std::get<3>(*session_order_.begin());
    if (!Closed(s->w, w)) break;
    if (write) KPIPE_RETURN_IF_ERROR(WriteRow(s->w, s->row, out));
    Unindex(s);
    auto kit = sessions_.find(s->row.key);
    auto& list = kit->second;
    list.erase(std::find_if(list.begin(), list.end(), [s](const auto& p) { return p.get() == s; }));
    if (list.empty()) sessions_.erase(kit);
    *closed = true;
  }
  return Status::OK();
}

Status WindowOperator::Finish(RowSink* out) {
  bool closed;
  return Advance(INT64_MAX, out, &closed);
}

Status WindowOperator::Tick(RowSink* out) {
  if (opt_.emit != EmitMode::kEvery) return Status::OK();
  for (auto& [win, pane] : panes_) {
    for (Row& row : pane.rows) {
      if (!row.changed) continue;
      row.changed = false;
      KPIPE_RETURN_IF_ERROR(WriteRow(win, row, out));
    }
  }
  for (const SessionOrder& o : session_order_) {
    Session* s = std::get<3>(o);
    if (!s->row.changed) continue;
    s->row.changed = false;
    KPIPE_RETURN_IF_ERROR(WriteRow(s->w, s->row, out));
    s->written = row_buf_;
  }
  return Status::OK();
}

Status WindowOperator::RetractWritten(Session* s, RowSink* out) {
  if (s->written.empty()) return Status::OK();
  // As it was written, with "retract":true as its last field (as --emit
  // changes retracts).
  s->written.pop_back();
  s->written.append(",\"retract\":true}");
  Status st = out->Write(s->row.fields, s->written);
  s->written.clear();
  return st;
}

Status WindowOperator::Dump(RowSink* out) {
  for (auto& [win, pane] : panes_)
    for (const Row& row : pane.rows) KPIPE_RETURN_IF_ERROR(WriteRow(win, row, out));
  for (const SessionOrder& o : session_order_) {
    Session* s = std::get<3>(o);
    KPIPE_RETURN_IF_ERROR(WriteRow(s->w, s->row, out));
  }
  return Status::OK();
}

int64_t WindowOperator::OutputWatermark(int64_t w) const {
  if (w == INT64_MIN) return INT64_MIN;
  // A later record is accepted only into a window with end + L > W, whose
  // start is at least W - L - span + 1; rows of open windows start no
  // earlier than the earliest open window.
  int64_t bound;
  if (opt_.kind == WindowOptions::Kind::kSession) {
    // An open session takes every record that touches it, each one up to G
    // earlier than its start: while one is open its start has no bound.
    if (!session_order_.empty()) return INT64_MIN;
    bound = SaturatingAdd(SaturatingAdd(w, -opt_.lateness), -(opt_.gap - 1));
  } else {
    // Starts are multiples of the slide: the first k*P with k*P + S > W - L.
    int64_t p = opt_.kind == WindowOptions::Kind::kHop ? opt_.slide : opt_.size;
    int64_t x = SaturatingAdd(SaturatingAdd(w, -opt_.lateness), -opt_.size);
    bound = x <= INT64_MIN + p ? INT64_MIN : SaturatingAdd(FloorDiv(x, p) * p, p);
  }
  if (!panes_.empty()) bound = std::min(bound, panes_.begin()->first.start);
  return bound;
}

namespace {

std::string StateKey(char tag, const Window& w, std::string_view key) {
  std::string k;
  state::Encoder e(&k);
  e.U8(static_cast<uint8_t>(tag));
  e.I64(w.start);
  e.I64(w.end);
  e.Str(key);
  return k;
}

}  // namespace

Status WindowOperator::Save(state::StateWriter* writer) const {
  std::string value;
  // A session's standing periodic row follows, when it has one (so that a
  // checkpoint without one reads as before).
  auto save_row = [&](char tag, const Window& w, const Row& row, std::string_view written = {}) {
    value.clear();
    state::Encoder e(&value);
    e.U64(row.first_seq);
    e.U8(row.changed);
    aggs_.Save(&e, row.accs.data());
    if (!written.empty()) e.Str(written);
    return writer->Put(StateKey(tag, w, row.key), value);
  };
  for (const auto& [win, pane] : panes_)
    for (const Row& row : pane.rows) KPIPE_RETURN_IF_ERROR(save_row('p', win, row));
  for (const SessionOrder& o : session_order_) {
    const Session* s = std::get<3>(o);
    KPIPE_RETURN_IF_ERROR(save_row('s', s->w, s->row, s->written));
  }
  return Status::OK();
}

Status WindowOperator::Load(state::StateReader* reader) {
  panes_.clear();
  last_pane_ = panes_.end();
  sessions_.clear();
  session_order_.clear();
  std::string_view k, v;
  while (reader->Next(&k, &v)) {
    state::Decoder kd(k), vd(v);
    char tag = static_cast<char>(kd.U8());
    Window win{kd.I64(), 0};
    win.end = kd.I64();
    key_ = std::string(kd.Str());
    KPIPE_RETURN_IF_ERROR(kd.Check("window state key"));
    Row row = NewRow(vd.U64());
    row.changed = vd.U8() != 0;
    aggs_.Load(&vd, row.accs.data());
    std::string written;
    if (tag == 's' && vd.ok() && !vd.done()) written = vd.Str();
    KPIPE_RETURN_IF_ERROR(vd.Check("window state"));
    if (tag == 'p') {
      Pane& pane = panes_[win];
      Row* r = &pane.rows.emplace_back(std::move(row));
      pane.index.Insert(agg::HashValue(r->key), r);
    } else if (tag == 's') {
      auto& list = sessions_[key_];
      list.push_back(std::make_unique<Session>(Session{win, std::move(row), std::move(written)}));
      Index(list.back().get());
      std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a->w.start < b->w.start; });
    } else {
      return Status::BadInput("window state: unknown entry");
    }
  }
  return Status::OK();
}

}  // namespace kpipe
