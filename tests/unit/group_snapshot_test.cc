// GroupOperator::BeginSnapshot: a checkpoint written by another thread while
// the operator goes on must hold the state as it was when the snapshot was
// taken, exactly what SaveChanges() would have written then.
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "kpipe/agg/group.h"
#include "vector_sink.h"

using namespace kpipe;
using kpipe::testing::VectorSink;

namespace {

// The store as the checkpoints leave it: Put and Delete on one map.
// `slow`: a pause every 256 entries, so that a snapshot's writing surely
// overlaps the operator's work.
struct MapState : state::StateWriter {
  std::map<std::string, std::string> entries;
  bool slow = false;
  size_t puts = 0;
  Status Put(std::string_view k, std::string_view v) override {
    entries[std::string(k)] = std::string(v);
    if (slow && ++puts % 256 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
    return Status::OK();
  }
  Status Delete(std::string_view k) override {
    entries.erase(std::string(k));
    return Status::OK();
  }
};

struct Feeder {
  GroupOperator* op;
  VectorSink sink;
  simdjson::dom::parser parser;
  uint64_t seq = 0;
  int64_t w = INT64_MIN;
  std::mt19937_64 rng;
  int keys;

  Feeder(GroupOperator* o, int k, uint64_t seed) : op(o), rng(seed), keys(k) {}

  // `n` records over the keys; event time grows, so --ttl forgets the keys
  // not seen for a while (and some come back).
  void Add(int n) {
    for (int i = 0; i < n; i++) {
      seq++;
      int k = static_cast<int>(rng() % keys);
      int64_t t = static_cast<int64_t>(seq) * 10 + static_cast<int64_t>(rng() % 50);
      std::string json = fmt::format(R"({{"k":"k{}","v":{}}})", k, static_cast<int>(rng() % 100));
      RecordIn r;
      r.value = parser.parse(json).value();
      r.t = t;
      r.has_time = true;
      r.seq = seq;
      AddOutcome outcome;
      Status st = op->Add(r, w, &sink, &outcome);
      if (st.ok() && seq % 64 == 0) {
        w = t - 20'000;
        bool closed;
        st = op->Advance(w, &sink, &closed);
      }
      if (!st.ok()) FAIL(st.ToString());
    }
  }
};

std::unique_ptr<GroupOperator> MakeOp(int64_t ttl, EmitMode emit) {
  GroupOptions g;
  g.ttl = ttl;
  g.emit = emit;
  auto by = agg::GroupKey::Parse({"k"});
  REQUIRE(by.ok());
  auto specs = agg::ParseAggSpecs({"count", "sum:v", "max:v", "distinct:v"});
  REQUIRE(specs.ok());
  auto op = std::make_unique<GroupOperator>(g, std::move(*by), agg::AggSet(std::move(*specs)));
  op->TrackChanges(/*whole=*/false);  // as the runner does with --state
  return op;
}

}  // namespace

TEST_CASE("a snapshot written behind holds the state at the moment it was taken") {
  for (int64_t ttl : {int64_t{-1}, int64_t{15'000}}) {
    for (EmitMode emit : {EmitMode::kFinal, EmitMode::kEvery}) {
      auto op = MakeOp(ttl, emit);
      Feeder f(op.get(), 10'000, 7 + static_cast<uint64_t>(ttl));
      // `behind`: the store written by snapshots; `sync`: the same through
      // SaveChanges() of a twin fed the same records, for the state as it
      // was when each snapshot was taken.
      auto twin = MakeOp(ttl, emit);
      Feeder g(twin.get(), 10'000, 7 + static_cast<uint64_t>(ttl));
      MapState behind, sync;
      behind.slow = true;
      int rounds = 0, overlapped = 0;
      for (int round = 0; round < 6; round++) {
        f.Add(15'000);
        g.Add(15'000);
        if (emit == EmitMode::kEvery && round % 3 == 1) {
          REQUIRE(op->Tick(&f.sink).ok());
          REQUIRE(twin->Tick(&g.sink).ok());
        }
        REQUIRE(twin->SaveChanges(&sync).ok());
        auto job = op->BeginSnapshot();
        REQUIRE(job);
        Status written;
        std::atomic<bool> done{false};
        std::thread t([&] {
          written = job->Write(&behind);
          done = true;
        });
        // Meanwhile the operator changes, forgets and re-adds keys.
        uint64_t kept = op->preserved();
        f.Add(10'000);
        if (op->preserved() > kept) overlapped++;
        t.join();
        op->EndSnapshot();
        REQUIRE(written.ok());
        job.reset();
        // The twin catches up without a checkpoint in between.
        g.Add(10'000);
        CHECK(behind.entries == sync.entries);
        rounds++;
      }
      // The rows written are the same, and at the end the same as the twin's.
      CHECK(f.sink.rows == g.sink.rows);
      REQUIRE(op->Finish(&f.sink).ok());
      REQUIRE(twin->Finish(&g.sink).ok());
      CHECK(f.sink.rows == g.sink.rows);
      // In most rounds the operator changed rows the job had not written
      // yet, and wrote them for it first (copy on write).
      CHECK(rounds == 6);
      CHECK(overlapped >= 3);
    }
  }
}

TEST_CASE("an end of input while a snapshot is written behind keeps the rows the job needs") {
  auto op = MakeOp(-1, EmitMode::kFinal);
  Feeder f(op.get(), 10'000, 3);
  auto twin = MakeOp(-1, EmitMode::kFinal);
  Feeder g(twin.get(), 10'000, 3);
  MapState behind, sync;
  behind.slow = true;
  for (int round = 0; round < 4; round++) {
    f.Add(15'000);
    g.Add(15'000);
    REQUIRE(twin->SaveChanges(&sync).ok());
    auto job = op->BeginSnapshot();
    REQUIRE(job);
    Status written;
    std::thread t([&] { written = job->Write(&behind); });
    // An end record mid-stream: every row is written out and let go of,
    // then new keys come (in memory that was freed, were it not kept).
    REQUIRE(op->Finish(&f.sink).ok());
    f.Add(5'000);
    t.join();
    op->EndSnapshot();
    job.reset();
    REQUIRE(written.ok());
    CHECK(behind.entries == sync.entries);
    REQUIRE(twin->Finish(&g.sink).ok());
    g.Add(5'000);
  }
  CHECK(f.sink.rows == g.sink.rows);
}
