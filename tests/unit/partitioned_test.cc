#include "kpipe/stream/partitioned.h"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <string>
#include <vector>

#include "kpipe/agg/group.h"
#include "kpipe/join/operator.h"
#include "kpipe/window/operator.h"
#include "memory_state.h"
#include "vector_sink.h"

using namespace kpipe;

namespace {

using testing::VectorSink;

std::unique_ptr<Operator> Window10() {
  WindowOptions o;
  o.kind = WindowOptions::Kind::kTumble;
  o.size = 10;
  o.emit = EmitMode::kFinal;
  auto op = WindowOperator::Make(o, *agg::GroupKey::Parse({"k"}), agg::AggSet(*agg::ParseAggSpecs({"count"})));
  REQUIRE(op.ok());
  return std::move(*op);
}

std::unique_ptr<Operator> CountByK() {
  GroupOptions g;
  g.emit = EmitMode::kChanges;
  return std::make_unique<GroupOperator>(g, *agg::GroupKey::Parse({"k"}),
                                         agg::AggSet(*agg::ParseAggSpecs({"count"})));
}

// Drives a PartitionedOperator as the runner does for a group member.
struct Member {
  PartitionedOperator op;
  VectorSink sink;
  simdjson::dom::parser parser;
  std::vector<std::string> keep;  // the records' text, alive while parsed
  AddOutcome last;
  uint64_t seq = 0;

  explicit Member(PartitionedOperator::Factory make, PartitionedOperator::Check check = nullptr, int inputs = 1)
      : op(std::move(make), /*max_delay=*/0, std::move(check), inputs) {}

  Status Add(const std::string& partition, const std::string& json, int64_t t, int input = 0) {
    RecordIn r;
    keep.push_back(json);
    r.value = parser.parse(keep.back()).value();
    r.raw = keep.back();
    r.input = input;
    r.t = t;
    r.has_time = true;
    r.seq = ++seq;
    r.partition = partition;
    last = AddOutcome();
    // W, the runner's minimum, is never what a partition is judged by.
    return op.Add(r, INT64_MIN, &sink, &last);
  }
};

// What an operator saves, and loads back.
using Entries = testing::MemoryState;

// The incremental form (kagg): puts and deletes kept by key.
struct Keyed : state::StateWriter {
  std::map<std::string, std::string> all;
  Status Put(std::string_view k, std::string_view v) override {
    all[std::string(k)] = v;
    return Status::OK();
  }
  Status Delete(std::string_view k) override {
    all.erase(std::string(k));
    return Status::OK();
  }
};

}  // namespace

TEST_CASE("Each partition closes its windows by its own watermark") {
  Member m(Window10);
  m.op.Gain(0, INT64_MIN);
  m.op.Gain(1, INT64_MIN);
  REQUIRE(m.Add("t/1", R"({"k":"b"})", 5).ok());
  REQUIRE(m.Add("t/0", R"({"k":"a"})", 5).ok());
  REQUIRE(m.Add("t/0", R"({"k":"a"})", 100).ok());  // W_0 = 100 closes a's [0, 10) only
  REQUIRE(m.sink.rows == std::vector<std::string>{R"({"window_start":0,"window_end":10,"k":"a","count":1})"});
  // Not late: t/1's watermark is still 5.
  REQUIRE(m.Add("t/1", R"({"k":"b"})", 6).ok());
  CHECK_FALSE(m.last.late);
  // Late against t/0's watermark, which the outcome names.
  REQUIRE(m.Add("t/0", R"({"k":"a"})", 7).ok());
  CHECK(m.last.late);
  REQUIRE(m.last.watermark);
  CHECK(*m.last.watermark == 100);
  // The output watermark is the lower partition's.
  CHECK(m.op.OutputWatermark(INT64_MIN) < 10);
  // The end closes every partition's windows.
  bool closed = false;
  REQUIRE(m.op.Advance(INT64_MAX, &m.sink, &closed).ok());
  CHECK(closed);
  CHECK(m.sink.rows.back().find(R"("k":"b","count":2)") != std::string::npos);
}

TEST_CASE("A record of a partition not owned is an internal error, a rejected one changes nothing") {
  Member m(Window10, [](const RecordIn& r) {
    return r.value["k"].get_string().value() == "bad" ? Status::BadInput("not its key") : Status::OK();
  });
  m.op.Gain(0, INT64_MIN);
  CHECK(m.Add("t/9", R"({"k":"a"})", 5).Is(Status::Code::kInternal));
  CHECK(m.Add("t/0", R"({"k":"bad"})", 50).Is(Status::Code::kBadInput));
  REQUIRE(m.Add("t/0", R"({"k":"a"})", 5).ok());  // W_0 did not move to 50
  CHECK_FALSE(m.last.late);
  m.op.Lose(0);
  CHECK(m.Add("t/0", R"({"k":"a"})", 6).Is(Status::Code::kInternal));
}

TEST_CASE("A partition moved with its saved state and watermark writes the same rows") {
  // One member reads it all...
  Member whole(Window10);
  whole.op.Gain(0, INT64_MIN);
  std::vector<std::pair<std::string, int64_t>> in = {{"a", 1}, {"b", 3}, {"a", 12}, {"a", 14}, {"b", 25}, {"a", 31}};
  for (auto& [k, t] : in) REQUIRE(whole.Add("t/0", R"({"k":")" + k + "\"}", t).ok());
  // ...another hands it over after three records.
  Member first(Window10), second(Window10);
  first.op.Gain(0, INT64_MIN);
  for (size_t i = 0; i < 3; i++) REQUIRE(first.Add("t/0", R"({"k":")" + in[i].first + "\"}", in[i].second).ok());
  Entries saved;
  auto& part = first.op.parts().at(0);
  REQUIRE(part.op->Save(&saved).ok());
  PartitionedOperator::Part* p = second.op.Gain(0, part.w);
  REQUIRE(p->op->Load(&saved).ok());
  for (size_t i = 3; i < in.size(); i++)
    REQUIRE(second.Add("t/0", R"({"k":")" + in[i].first + "\"}", in[i].second).ok());
  std::vector<std::string> handed = first.sink.rows;
  handed.insert(handed.end(), second.sink.rows.begin(), second.sink.rows.end());
  CHECK(handed == whole.sink.rows);
}

TEST_CASE("An incremental operator's changes since it was gained are what the changelog needs") {
  Member first(CountByK), second(CountByK);
  first.op.Gain(0, INT64_MIN);  // tracks its changes from the start
  REQUIRE(first.Add("t/0", R"({"k":"a"})", 1).ok());
  REQUIRE(first.Add("t/0", R"({"k":"a"})", 2).ok());
  Keyed changelog;
  auto* inc = first.op.parts().at(0).op->incremental();
  REQUIRE(inc);
  REQUIRE(inc->SaveChanges(&changelog).ok());
  REQUIRE_FALSE(changelog.all.empty());
  REQUIRE(first.Add("t/0", R"({"k":"b"})", 3).ok());
  REQUIRE(inc->SaveChanges(&changelog).ok());
  Entries back;
  for (auto& [k, v] : changelog.all) back.entries.emplace_back(k, v);
  PartitionedOperator::Part* p = second.op.Gain(0, 3);
  REQUIRE(p->op->Load(&back).ok());
  REQUIRE(second.Add("t/0", R"({"k":"a"})", 4).ok());
  REQUIRE(second.Add("t/0", R"({"k":"b"})", 5).ok());
  CHECK(second.sink.rows == std::vector<std::string>{R"({"k":"a","count":3})", R"({"k":"b","count":2})"});
}

namespace {

// An inner interval join on k, |lt - rt| <= 5.
std::unique_ptr<Operator> JoinWithin5() {
  JoinSpec spec;
  for (auto& side : spec.keys) side.push_back(*json::FieldPath::Parse("k"));
  spec.lo = -5;
  spec.hi = 5;
  return std::make_unique<JoinOperator>(spec);
}

}  // namespace

TEST_CASE("Two inputs: partition p of each is one join, judged by the lower of their watermarks") {
  Member m(JoinWithin5, nullptr, /*inputs=*/2);
  m.op.Gain(0, INT64_MIN);
  m.op.Gain(1, INT64_MIN);
  REQUIRE(m.Add("left/0", R"({"k":"a","l":1})", 10, 0).ok());
  REQUIRE(m.Add("right/0", R"({"k":"a","r":1})", 12, 1).ok());  // LEFT's partition 0: joined
  REQUIRE(m.sink.rows == std::vector<std::string>{R"({"left":{"k":"a","l":1},"right":{"k":"a","r":1}})"});
  REQUIRE(m.Add("right/1", R"({"k":"a","r":2})", 12, 1).ok());  // partition 1 has no LEFT record
  CHECK(m.sink.rows.size() == 1);
  auto& p0 = m.op.parts().at(0);
  CHECK(p0.w[0] == 10);
  CHECK(p0.w[1] == 12);
  CHECK(p0.W() == 10);
  CHECK(p0.seq == 2);
  // Late below the lower side's watermark, not below the other's.
  REQUIRE(m.Add("right/0", R"({"k":"a","r":3})", 9, 1).ok());
  CHECK(m.last.late);
  REQUIRE(m.last.watermark);
  CHECK(*m.last.watermark == 10);
  REQUIRE(m.Add("left/0", R"({"k":"a","l":2})", 11, 0).ok());
  CHECK_FALSE(m.last.late);
  CHECK(m.sink.rows.size() == 2);
  // The runner's W (the minimum over what it tracks) moves no partition: one
  // gained late, or not read for a while, would have its records late.
  bool moved = false;
  REQUIRE(m.op.Advance(1000, &m.sink, &moved).ok());
  REQUIRE(m.op.AdvanceInput(1, 1000, &m.sink, &moved).ok());
  CHECK(m.op.parts().at(0).W() == 11);
  CHECK(m.op.parts().at(1).W() == INT64_MIN);  // no LEFT record there yet
  REQUIRE(m.Add("left/0", R"({"k":"a","l":3})", 11, 0).ok());
  CHECK_FALSE(m.last.late);
  // One input's end moves only its side.
  bool closed = false;
  REQUIRE(m.op.AdvanceInput(0, INT64_MAX, &m.sink, &closed).ok());
  CHECK(m.op.parts().at(0).W() == 12);
  CHECK(m.op.parts().at(1).W() == 12);
}

TEST_CASE("A join's partition handed over by its keyed entries writes the same rows") {
  std::vector<std::tuple<std::string, int64_t, int>> in = {
      {R"({"k":"a","n":1})", 10, 0}, {R"({"k":"b","n":2})", 11, 1}, {R"({"k":"a","n":3})", 13, 1},
      {R"({"k":"b","n":4})", 14, 0}, {R"({"k":"a","n":5})", 16, 0}, {R"({"k":"a","n":6})", 18, 1},
      {R"({"k":"b","n":7})", 30, 1}, {R"({"k":"b","n":8})", 31, 0}};
  auto name = [](int side) { return side == 0 ? std::string("left/0") : std::string("right/0"); };
  Member whole(JoinWithin5, nullptr, 2);
  whole.op.Gain(0, INT64_MIN);
  for (auto& [json, t, side] : in) REQUIRE(whole.Add(name(side), json, t, side).ok());
  for (size_t cut = 1; cut < in.size(); cut++) {
    Member first(JoinWithin5, nullptr, 2), second(JoinWithin5, nullptr, 2);
    first.op.Gain(0, INT64_MIN);
    for (size_t i = 0; i < cut; i++)
      REQUIRE(first.Add(name(std::get<2>(in[i])), std::get<0>(in[i]), std::get<1>(in[i]), std::get<2>(in[i])).ok());
    auto& part = first.op.parts().at(0);
    REQUIRE(part.op->keyed_save());
    Entries saved;
    REQUIRE(part.op->Save(&saved).ok());
    // The changelog gives them back in key order, not in the order saved.
    std::sort(saved.entries.begin(), saved.entries.end());
    PartitionedOperator::Part* p = second.op.Gain(0, part.w);
    p->seq = part.seq;
    REQUIRE(p->op->Load(&saved).ok());
    for (size_t i = cut; i < in.size(); i++)
      REQUIRE(second.Add(name(std::get<2>(in[i])), std::get<0>(in[i]), std::get<1>(in[i]), std::get<2>(in[i])).ok());
    std::vector<std::string> handed = first.sink.rows;
    handed.insert(handed.end(), second.sink.rows.begin(), second.sink.rows.end());
    INFO("handed over after " << cut << " records");
    CHECK(handed == whole.sink.rows);
  }
}
