#include "kpipe/window/operator.h"

#include <catch2/catch.hpp>

#include "memory_state.h"
#include "vector_sink.h"
#include <fmt/format.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "kpipe/time/watermark.h"

using namespace kpipe;

namespace {

using testing::MemoryState;
using testing::VectorSink;

// Drives an operator as the runner does: judge against W before the record,
// then raise W, then let the operator close what W closes.
struct Harness {
  std::unique_ptr<Operator> op;
  Watermark wm;
  VectorSink sink;
  std::vector<int64_t> late_ends;  // window_end of each late record
  simdjson::dom::parser parser;
  uint64_t seq = 0;

  Harness(std::unique_ptr<Operator> o, int64_t max_delay) : op(std::move(o)), wm(max_delay, -1) {}

  Status Add(const std::string& json, int64_t t) {
    RecordIn r;
    std::string padded = json;
    r.value = parser.parse(padded).value();
    r.t = t;
    r.has_time = true;
    r.seq = ++seq;
    AddOutcome outcome;
    KPIPE_RETURN_IF_ERROR(op->Add(r, wm.current(), &sink, &outcome));
    if (outcome.late) late_ends.push_back(outcome.window_end);
    int64_t before = wm.current();
    wm.Observe("", t, 0);
    bool closed;
    if (wm.current() != before) return op->Advance(wm.current(), &sink, &closed);
    return Status::OK();
  }
  void Control(int64_t ts) {
    wm.Control(ts);
    bool closed;
    REQUIRE(op->Advance(wm.current(), &sink, &closed).ok());
  }
  void End() { REQUIRE(op->Finish(&sink).ok()); }
};

std::unique_ptr<Operator> Make(WindowOptions::Kind kind, int64_t a, int64_t b, int64_t lateness,
                               EmitMode emit, std::vector<std::string> aggs = {"count"},
                               std::vector<std::string> by = {"k"}) {
  WindowOptions o;
  o.kind = kind;
  if (kind == WindowOptions::Kind::kSession) o.gap = a;
  else o.size = a;
  o.slide = b;
  o.lateness = lateness;
  o.emit = emit;
  auto op = WindowOperator::Make(o, *agg::GroupKey::Parse(by), agg::AggSet(*agg::ParseAggSpecs(aggs)));
  REQUIRE(op.ok());
  return std::move(*op);
}

using K = WindowOptions::Kind;

}  // namespace

TEST_CASE("A record exactly at a window end belongs to the next window") {
  Harness h(Make(K::kTumble, 10, 0, 0, EmitMode::kFinal), 0);
  REQUIRE(h.Add(R"({"k":"a"})", 0).ok());
  REQUIRE(h.Add(R"({"k":"a"})", 10).ok());  // W = 10 closes [0, 10)
  REQUIRE(h.sink.rows == std::vector<std::string>{
                             R"({"window_start":0,"window_end":10,"k":"a","count":1})"});
  h.End();
  CHECK(h.sink.rows.back() == R"({"window_start":10,"window_end":20,"k":"a","count":1})");
}

TEST_CASE("A window closes when W is exactly end + L, and then takes no records") {
  Harness h(Make(K::kTumble, 10, 0, /*lateness=*/5, EmitMode::kFinal), 0);
  REQUIRE(h.Add(R"({"k":"a"})", 3).ok());
  REQUIRE(h.Add(R"({"k":"a"})", 14).ok());  // W = 14 = e + L - 1: still open
  CHECK(h.sink.rows.empty());
  REQUIRE(h.Add(R"({"k":"a"})", 9).ok());   // accepted: late data within L
  REQUIRE(h.Add(R"({"k":"a"})", 15).ok());  // W = 15 = e + L: closes
  REQUIRE(h.sink.rows.size() == 1);
  CHECK(h.sink.rows[0] == R"({"window_start":0,"window_end":10,"k":"a","count":2})");
  REQUIRE(h.Add(R"({"k":"a"})", 9).ok());   // judged against W = 15: late
  CHECK(h.late_ends == std::vector<int64_t>{10});
  h.End();
  CHECK(h.sink.rows.back() == R"({"window_start":10,"window_end":20,"k":"a","count":2})");
}

TEST_CASE("Negative times floor to earlier windows") {
  Harness h(Make(K::kTumble, 10, 0, 0, EmitMode::kFinal), 0);
  REQUIRE(h.Add(R"({"k":"a"})", -1).ok());
  REQUIRE(h.Add(R"({"k":"a"})", -10).ok());
  REQUIRE(h.Add(R"({"k":"a"})", -11).ok());  // late: W = -1 >= -10
  h.End();
  CHECK(h.late_ends == std::vector<int64_t>{-10});
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":-10,"window_end":0,"k":"a","count":2})"});
}

TEST_CASE("Hop size not a multiple of the slide; late for some but not all windows") {
  // size 25, slide 10: t = 22 is in [0,25), [10,35), [20,45).
  Harness h(Make(K::kHop, 25, 10, 0, EmitMode::kFinal), 0);
  REQUIRE(h.Add(R"({"k":"a"})", 30).ok());  // W = 30 closes [0,25) (not yet open here)
  REQUIRE(h.Add(R"({"k":"a"})", 22).ok());  // late for [0,25) only
  CHECK(h.late_ends.empty());
  h.End();
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":10,"window_end":35,"k":"a","count":2})",
                           R"({"window_start":20,"window_end":45,"k":"a","count":2})",
                           R"({"window_start":30,"window_end":55,"k":"a","count":1})"});
  // t = 22 again after W = 45: late for all three, reported with the last end.
  Harness g(Make(K::kHop, 25, 10, 0, EmitMode::kFinal), 0);
  REQUIRE(g.Add(R"({"k":"a"})", 45).ok());
  REQUIRE(g.Add(R"({"k":"a"})", 22).ok());
  CHECK(g.late_ends == std::vector<int64_t>{45});
}

TEST_CASE("Touching sessions merge; changes mode retracts rows that no longer exist") {
  Harness h(Make(K::kSession, 10, 0, 0, EmitMode::kChanges), 0);
  h.wm = Watermark(100, -1);  // no closing during this test
  REQUIRE(h.Add(R"({"k":"a"})", 0).ok());   // [0,10)
  REQUIRE(h.Add(R"({"k":"a"})", 20).ok());  // [20,30)
  REQUIRE(h.Add(R"({"k":"a"})", 5).ok());   // [0,15): extends the first
  REQUIRE(h.Add(R"({"k":"a"})", 10).ok());  // [10,20) touches both: [0,30)
  REQUIRE(h.Add(R"({"k":"a"})", 12).ok());  // inside: no bounds change
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":0,"window_end":10,"k":"a","count":1})",
                           R"({"window_start":20,"window_end":30,"k":"a","count":1})",
                           R"({"window_start":0,"window_end":10,"k":"a","count":1,"retract":true})",
                           R"({"window_start":0,"window_end":15,"k":"a","count":2})",
                           R"({"window_start":0,"window_end":15,"k":"a","count":2,"retract":true})",
                           R"({"window_start":20,"window_end":30,"k":"a","count":1,"retract":true})",
                           R"({"window_start":0,"window_end":30,"k":"a","count":4})",
                           R"({"window_start":0,"window_end":30,"k":"a","count":5})"});
}

TEST_CASE("Sessions with --emit every: a periodic row of a session that moves or merges is retracted") {
  for (bool restart : {false, true}) {
    Harness h(Make(K::kSession, 10, 0, 0, EmitMode::kEvery), 0);
    h.wm = Watermark(100, -1);  // no closing until the end
    REQUIRE(h.Add(R"({"k":"a"})", 0).ok());   // [0,10)
    REQUIRE(h.Add(R"({"k":"a"})", 20).ok());  // [20,30)
    REQUIRE(h.op->Tick(&h.sink).ok());        // both written
    REQUIRE(h.Add(R"({"k":"a"})", 3).ok());   // inside [0,10): nothing to retract
    if (restart) {  // the standing rows go through a checkpoint
      MemoryState st;
      REQUIRE(h.op->Save(&st).ok());
      auto fresh = Make(K::kSession, 10, 0, 0, EmitMode::kEvery);
      REQUIRE(fresh->Load(&st).ok());
      h.op = std::move(fresh);
    }
    REQUIRE(h.Add(R"({"k":"a"})", 12).ok());  // [12,22) bridges both: [0,30)
    REQUIRE(h.op->Tick(&h.sink).ok());
    REQUIRE(h.Add(R"({"k":"a"})", 29).ok());  // extends it to [0,39)
    h.End();
    CHECK(h.sink.rows == std::vector<std::string>{
                             R"({"window_start":0,"window_end":10,"k":"a","count":1})",
                             R"({"window_start":20,"window_end":30,"k":"a","count":1})",
                             R"({"window_start":0,"window_end":10,"k":"a","count":1,"retract":true})",
                             R"({"window_start":20,"window_end":30,"k":"a","count":1,"retract":true})",
                             R"({"window_start":0,"window_end":30,"k":"a","count":4})",
                             R"({"window_start":0,"window_end":30,"k":"a","count":4,"retract":true})",
                             R"({"window_start":0,"window_end":39,"k":"a","count":5})"});
  }
}

TEST_CASE("Sessions: gaps per key, late only when touching no open session") {
  Harness h(Make(K::kSession, 10, 0, 0, EmitMode::kFinal), 0);
  REQUIRE(h.Add(R"({"k":"a"})", 0).ok());
  REQUIRE(h.Add(R"({"k":"b"})", 25).ok());  // W = 25 closes a's [0,10)
  REQUIRE(h.Add(R"({"k":"b"})", 16).ok());  // [16,26) touches b's [25,35): merges
  REQUIRE(h.Add(R"({"k":"a"})", 14).ok());  // [14,24): W = 25 >= 24 and nothing open: late
  CHECK(h.late_ends == std::vector<int64_t>{24});
  h.End();
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":0,"window_end":10,"k":"a","count":1})",
                           R"({"window_start":16,"window_end":35,"k":"b","count":2})"});
}

TEST_CASE("End of input closes every window, in order of end, start, first arrival") {
  Harness h(Make(K::kTumble, 10, 0, 0, EmitMode::kFinal), 1000);
  REQUIRE(h.Add(R"({"k":"b"})", 15).ok());
  REQUIRE(h.Add(R"({"k":"a"})", 5).ok());
  REQUIRE(h.Add(R"({"k":"a"})", 16).ok());
  CHECK(h.sink.rows.empty());
  h.End();
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":0,"window_end":10,"k":"a","count":1})",
                           R"({"window_start":10,"window_end":20,"k":"b","count":1})",
                           R"({"window_start":10,"window_end":20,"k":"a","count":1})"});
}

TEST_CASE("A control watermark closes windows like a record would") {
  Harness h(Make(K::kTumble, 10, 0, 0, EmitMode::kFinal), 0);
  h.wm.Upstream();  // watermark records follow: W = min(W_in, W_own)
  REQUIRE(h.Add(R"({"k":"a"})", 1).ok());
  REQUIRE(h.Add(R"({"k":"a"})", 12).ok());
  h.Control(9);
  CHECK(h.sink.rows.empty());
  h.Control(10);
  CHECK(h.sink.rows.size() == 1);
  CHECK(h.op->OutputWatermark(10) == 10);  // a later window ends after 10: starts at 10
  CHECK(h.op->OutputWatermark(19) == 10);
  // Hopping, size 25 every 10: W = 30 leaves [10,35) as the earliest open start.
  auto hop = Make(K::kHop, 25, 10, 0, EmitMode::kFinal);
  CHECK(hop->OutputWatermark(30) == 10);
  CHECK(hop->OutputWatermark(35) == 20);
  // Sessions: a record at t > W - G may still open one.
  auto ses = Make(K::kSession, 10, 0, 0, EmitMode::kFinal);
  CHECK(ses->OutputWatermark(30) == 21);
}

TEST_CASE("An integer sum leaving int64 is bad input and changes nothing") {
  Harness h(Make(K::kHop, 20, 10, 0, EmitMode::kFinal, {"count", "sum:v"}), 100);
  REQUIRE(h.Add(R"({"k":"a","v":9223372036854775800})", 15).ok());  // [0,20) and [10,30)
  REQUIRE(h.Add(R"({"k":"a","v":-5})", 5).ok());                    // [-10,10) and [0,20)
  Status st = h.Add(R"({"k":"a","v":100})", 12);
  CHECK(st.Is(Status::Code::kBadInput));
  CHECK(st.message().find("sum_v") != std::string::npos);
  CHECK(h.Add(R"({"k":"a","v":"12"})", 12).Is(Status::Code::kBadInput));  // not a number
  h.End();
  CHECK(h.sink.rows == std::vector<std::string>{
                           R"({"window_start":-10,"window_end":10,"k":"a","count":1,"sum_v":-5})",
                           R"({"window_start":0,"window_end":20,"k":"a","count":2,"sum_v":9223372036854775795})",
                           R"({"window_start":10,"window_end":30,"k":"a","count":1,"sum_v":9223372036854775800})"});
}


TEST_CASE("Saved and loaded state continues exactly like uninterrupted state") {
  std::vector<std::string> aggs = {"count", "sum:v", "avg:v", "first:v", "last:v", "distinct:v",
                                   "approx_distinct:v", "median:v", "top:v:2", "collect:v", "min:v"};
  for (K kind : {K::kTumble, K::kHop, K::kSession}) {
    auto run = [&](bool restart) {
      Harness h(Make(kind, 30, 10, 5, EmitMode::kFinal, aggs), 7);
      for (int i = 0; i < 200; i++) {
        if (restart && i == 100) {
          MemoryState st;
          REQUIRE(h.op->Save(&st).ok());
          auto fresh = Make(kind, 30, 10, 5, EmitMode::kFinal, aggs);
          REQUIRE(fresh->Load(&st).ok());
          h.op = std::move(fresh);
        }
        int t = (i * 37) % 50 + i * 3;
        std::string json = fmt::format(R"({{"k":"{}","v":{}}})", "abc"[i % 3], (i * 7) % 11);
        REQUIRE(h.Add(json, t).ok());
      }
      h.End();
      return h.sink.rows;
    };
    auto straight = run(false);
    CHECK(straight.size() >= 3);
    CHECK(run(true) == straight);
  }
}
