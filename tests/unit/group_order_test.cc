// GroupOperator keeps its rows in order of first arrival: forgotten rows
// leave places that are dropped later (once more than half the places are
// empty), and a checkpoint read back in the order of its keys is put back
// in order of arrival. What --emit final writes shows the order.
#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/agg/group.h"
#include "memory_state.h"
#include "vector_sink.h"

using namespace kpipe;
using kpipe::testing::MemoryState;
using kpipe::testing::VectorSink;

namespace {

std::unique_ptr<GroupOperator> MakeOp() {
  GroupOptions g;
  g.ttl = 1000;
  auto by = agg::GroupKey::Parse({"k"});
  REQUIRE(by.ok());
  auto specs = agg::ParseAggSpecs({"count"});
  REQUIRE(specs.ok());
  return std::make_unique<GroupOperator>(g, std::move(*by), agg::AggSet(std::move(*specs)));
}

void Add(GroupOperator* op, simdjson::dom::parser* parser, uint64_t seq, int key, int64_t t, VectorSink* out) {
  std::string json = fmt::format(R"({{"k":{}}})", key);
  RecordIn r;
  r.value = parser->parse(json).value();
  r.t = t;
  r.has_time = true;
  r.seq = seq;
  AddOutcome outcome;
  REQUIRE(op->Add(r, INT64_MIN, out, &outcome).ok());
}

std::string Row(int key, int count) { return fmt::format(R"({{"k":{},"count":{}}})", key, count); }

}  // namespace

TEST_CASE("rows stay in order of first arrival when most are forgotten, and when read back") {
  auto op = MakeOp();
  simdjson::dom::parser parser;
  VectorSink sink;
  // Keys 0..4999 at 10 ms apart, and key 7 again every 900 ms to 49.57 s
  // (within its TTL of the one before: one stretch, one row).
  uint64_t seq = 0;
  for (int k = 0; k < 5000; k++) Add(op.get(), &parser, ++seq, k, k * 10, &sink);
  for (int64_t t = 970; t <= 49'570; t += 900) Add(op.get(), &parser, ++seq, 7, t, &sink);
  // W 45 s: every key last seen at 44 s or before is forgotten (its final
  // row written then): 4,400 of 5,000 places empty.
  bool closed = false;
  REQUIRE(op->Advance(45'000, &sink, &closed).ok());
  REQUIRE(closed);
  REQUIRE(sink.rows.size() == 4400);
  CHECK(sink.rows.front() == Row(0, 1));
  CHECK(sink.rows.back() == Row(4400, 1));
  // Keys 0..99 again: new rows, after the ones still there (but key 7's).
  for (int k = 0; k < 100; k++) Add(op.get(), &parser, ++seq, k, 50'000 + k, &sink);
  // Key 7 was never forgotten: first, where it first came.
  std::vector<std::string> want = {Row(7, 57)};
  for (int k = 4401; k < 5000; k++) want.push_back(Row(k, 1));
  for (int k = 0; k < 100; k++)
    if (k != 7) want.push_back(Row(k, 1));

  // Saved, and read back in the order of the store's keys (not of arrival).
  MemoryState state;
  REQUIRE(op->Save(&state).ok());
  std::sort(state.entries.begin(), state.entries.end());
  auto back = MakeOp();
  REQUIRE(back->Load(&state).ok());

  sink.rows.clear();
  REQUIRE(op->Finish(&sink).ok());
  CHECK(sink.rows == want);
  VectorSink back_rows;
  REQUIRE(back->Finish(&back_rows).ok());
  CHECK(back_rows.rows == want);
}
