// WindowOperator: kwindow's state and rules (kpipe(7), EVENT TIME; kwindow(1)).
//
// Tumbling and hopping windows keep one pane per open window, ordered by
// (end, start), each with its rows in the order their key first arrived.
// Session windows keep, per key, the open sessions ordered by start, and a
// global index ordered by (end, start, first arrival) for closing and output.
// A window closes, writing its rows in --emit final, when W >= end + L.
// Not thread-safe.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kpipe/agg/aggregate.h"
#include "kpipe/agg/key_index.h"
#include "kpipe/stream/operator.h"
#include "kpipe/window/assigner.h"

namespace kpipe {

struct WindowOptions {
  enum class Kind { kTumble, kHop, kSession } kind = Kind::kTumble;
  int64_t size = 0;   // tumble and hop
  int64_t slide = 0;  // hop
  int64_t gap = 0;    // session
  int64_t lateness = 0;
  EmitMode emit = EmitMode::kFinal;
  bool rfc3339 = false;  // --time-format rfc3339
};

class WindowOperator : public Operator {
 public:
  static Result<std::unique_ptr<WindowOperator>> Make(const WindowOptions& opt, agg::GroupKey by,
                                                      agg::AggSet aggs);

  Status Add(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome) override;
  Status Advance(int64_t w, RowSink* out, bool* closed) override;
  Status Finish(RowSink* out) override;
  Status Tick(RowSink* out) override;
  int64_t OutputWatermark(int64_t w) const override;
  Status Dump(RowSink* out) override;
  Status Save(state::StateWriter* w) const override;
  Status Load(state::StateReader* r) override;

 private:
  struct Row {
    std::string key;     // group key text (agg::GroupKey::Extract)
    std::string fields;  // `"name":value,...`
    uint64_t first_seq = 0;
    agg::AccRow accs;
    bool changed = false;  // since the last tick of --emit every
  };
  struct RowKey {
    std::string_view operator()(const Row& r) const { return r.key; }
  };
  // The rows of one tumbling or hopping window.
  struct Pane {
    std::deque<Row> rows;  // in order of first arrival; a deque keeps rows in place
    agg::KeyIndex<Row, RowKey> index;
  };
  struct Session {
    Window w;
    Row row;
    // With --emit every: the row a tick last wrote of it, which is retracted
    // when the session's window moves or it merges into another (empty:
    // none written, or none standing).
    std::string written;
  };
  // With --emit every: retracts the periodic row of `s`, if one stands.
  Status RetractWritten(Session* s, RowSink* out);
  using SessionOrder = std::tuple<int64_t, int64_t, uint64_t, Session*>;  // end, start, seq

  WindowOperator(const WindowOptions& opt, WindowAssigner assigner, agg::GroupKey by,
                 agg::AggSet aggs)
      : opt_(opt), assigner_(assigner), by_(std::move(by)), aggs_(std::move(aggs)) {}

  Status AddToPanes(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome);
  Status AddToSession(const RecordIn& r, int64_t w, RowSink* out, AddOutcome* outcome);
  Row NewRow(uint64_t seq);
  Status WriteRow(const Window& w, const Row& row, RowSink* out, bool retract = false);
  void AppendTime(int64_t ms);
  void Unindex(Session* s);
  void Index(Session* s);
  bool Closed(const Window& w, int64_t wm) const { return SaturatingAdd(w.end, opt_.lateness) <= wm; }

  WindowOptions opt_;
  WindowAssigner assigner_;
  agg::GroupKey by_;
  agg::AggSet aggs_;

  std::map<Window, Pane> panes_;
  std::map<Window, Pane>::iterator last_pane_ = panes_.end();  // the last record's pane

  std::unordered_map<std::string, std::vector<std::unique_ptr<Session>>> sessions_;
  std::set<SessionOrder> session_order_;

  // Reused per record.
  agg::Extracted x_;
  std::string key_;
  uint64_t key_hash_ = 0;
  std::vector<Window> windows_;
  std::vector<Row*> targets_;
  std::string row_buf_;
};

}  // namespace kpipe
