#include "kpipe/join/join.h"

#include "kpipe/json/text.h"

#include <catch2/catch.hpp>

#include "memory_state.h"
#include "vector_sink.h"

#include <string>
#include <vector>

using namespace kpipe;

namespace {

using testing::MemoryState;
using testing::VectorSink;

JoinRecord Rec(const std::string& key, int64_t t, uint64_t seq) {
  return JoinRecord{"{\"k\":" + key + ",\"t\":" + std::to_string(t) + "}", key, t, seq};
}

}  // namespace

TEST_CASE("Interval join bounds are inclusive: lt + LO = rt and lt + HI = rt") {
  VectorSink sink;
  JoinRows rows(&sink, false);
  IntervalJoin j(/*lo=*/-5, /*hi=*/10, /*lateness=*/0, JoinType::kInner);
  bool late;
  REQUIRE(j.Add(0, Rec("1", 100, 1), INT64_MIN, &rows, &late).ok());
  REQUIRE(j.Add(1, Rec("1", 95, 2), INT64_MIN, &rows, &late).ok());   // lt + LO
  REQUIRE(j.Add(1, Rec("1", 110, 3), INT64_MIN, &rows, &late).ok());  // lt + HI
  REQUIRE(j.Add(1, Rec("1", 94, 4), INT64_MIN, &rows, &late).ok());   // one before
  REQUIRE(j.Add(1, Rec("1", 111, 5), INT64_MIN, &rows, &late).ok());  // one after
  REQUIRE(j.Add(1, Rec("2", 100, 6), INT64_MIN, &rows, &late).ok());  // other key
  CHECK(sink.rows == std::vector<std::string>{
                         R"({"left":{"k":1,"t":100},"right":{"k":1,"t":95}})",
                         R"({"left":{"k":1,"t":100},"right":{"k":1,"t":110}})"});
}

TEST_CASE("A record is kept until W passes its drop time, and arrives late only past it") {
  VectorSink sink;
  JoinRows rows(&sink, false);
  IntervalJoin j(-5, 10, /*lateness=*/2, JoinType::kLeft);
  bool late;
  REQUIRE(j.Add(0, Rec("1", 100, 1), 0, &rows, &late).ok());
  // Left 100 is dropped once W > 100 + 10 + 2 = 112.
  REQUIRE(j.Advance(112, &rows).ok());
  CHECK(sink.rows.empty());
  CHECK(j.stored() == 1);
  // A right record at 110 arriving at W = 112: 110 + 2 < 112 is false, so not
  // late; it still meets the left record (W is exactly at its drop time).
  REQUIRE(j.Add(1, Rec("1", 110, 2), 112, &rows, &late).ok());
  CHECK_FALSE(late);
  REQUIRE(sink.rows.size() == 1);
  // At W = 113, 110 + 2 < 113: late.
  REQUIRE(j.Add(1, Rec("1", 110, 3), 113, &rows, &late).ok());
  CHECK(late);
  REQUIRE(j.Advance(113, &rows).ok());
  CHECK(sink.rows.size() == 1);  // left 100 matched: no outer row
}

TEST_CASE("Outer rows only after the match window closed, for keys that never match") {
  VectorSink sink;
  JoinRows rows(&sink, false);
  IntervalJoin j(-10, 10, 0, JoinType::kFull);
  bool late;
  REQUIRE(j.Add(0, Rec("\"a\"", 100, 1), INT64_MIN, &rows, &late).ok());
  REQUIRE(j.Add(1, Rec("\"b\"", 105, 2), INT64_MIN, &rows, &late).ok());
  REQUIRE(j.Advance(110, &rows).ok());  // left kept until W > 110, right until W > 115
  CHECK(sink.rows.empty());
  REQUIRE(j.Advance(111, &rows).ok());
  CHECK(sink.rows == std::vector<std::string>{R"({"left":{"k":"a","t":100},"right":null})"});
  CHECK(j.OutputWatermark(111) == 105);  // the stored right record
  REQUIRE(j.Finish(&rows).ok());
  CHECK(sink.rows.back() == R"({"left":null,"right":{"k":"b","t":105}})");
  CHECK(j.stored() == 0);
}

TEST_CASE("--merge writes the left members, then the right members not on the left") {
  VectorSink sink;
  JoinRows rows(&sink, true);
  std::string l = R"({"id":1,"a":2})", r = R"({"id":1,"b":{"c":3},"a":9})";
  REQUIRE(rows.Write("\"k\"", l, r).ok());
  REQUIRE(rows.Write("\"k\"", std::nullopt, r).ok());
  std::string empty = "{}";
  REQUIRE(rows.Write("\"k\"", empty, r).ok());
  CHECK(sink.rows == std::vector<std::string>{R"({"id":1,"a":2,"b":{"c":3}})",
                                              R"({"id":1,"b":{"c":3},"a":9})",
                                              R"({"id":1,"b":{"c":3},"a":9})"});
}

TEST_CASE("As-of join: the version with the greatest rt <= lt, after W_right passed lt") {
  VectorSink sink;
  JoinRows rows(&sink, false);
  TableJoin j(/*as_of=*/true, /*retain=*/-1, JoinType::kLeft);
  REQUIRE(j.AddRight(Rec("1", 100, 1), "", false, &rows).ok());
  REQUIRE(j.AddRight(Rec("1", 200, 2), "", false, &rows).ok());
  REQUIRE(j.AdvanceRight(200, &rows).ok());
  REQUIRE(j.AddLeft(Rec("1", 150, 3), &rows).ok());  // W_right 200 > 150: joins now
  REQUIRE(j.AddLeft(Rec("1", 250, 4), &rows).ok());  // waits for W_right > 250
  REQUIRE(j.AddLeft(Rec("1", 50, 5), &rows).ok());   // no version yet: right null
  CHECK(sink.rows == std::vector<std::string>{
                         R"({"left":{"k":1,"t":150},"right":{"k":1,"t":100}})",
                         R"({"left":{"k":1,"t":50},"right":null})"});
  REQUIRE(j.AddRight(Rec("1", 240, 6), "", false, &rows).ok());  // arrives before it is needed
  REQUIRE(j.AdvanceRight(251, &rows).ok());
  CHECK(sink.rows.back() == R"({"left":{"k":1,"t":250},"right":{"k":1,"t":240}})");
}

TEST_CASE("As-of join: a tombstone that comes before any version of its message key still ends it, restored too") {
  // A later offset may hold an earlier time: the tombstone at 200 comes
  // first, the version at 100 after it; a left record at 300 finds none.
  for (bool restore : {false, true}) {
    VectorSink sink;
    JoinRows rows(&sink, false);
    MemoryState st;
    TableJoin first(/*as_of=*/true, /*retain=*/-1, JoinType::kLeft);
    JoinRecord tomb = Rec("1", 200, 1);
    REQUIRE(first.AddRight(tomb, "\"m1\"", true, &rows).ok());
    TableJoin second(true, -1, JoinType::kLeft);
    if (restore) {
      REQUIRE(first.Save(&st).ok());
      REQUIRE(second.Load(&st).ok());
    }
    TableJoin& j = restore ? second : first;
    REQUIRE(j.AddRight(Rec("1", 100, 2), "\"m1\"", false, &rows).ok());
    REQUIRE(j.AdvanceRight(INT64_MAX - 1, &rows).ok());
    REQUIRE(j.AddLeft(Rec("1", 150, 3), &rows).ok());
    REQUIRE(j.AddLeft(Rec("1", 300, 4), &rows).ok());
    INFO("restored: " << restore);
    CHECK(sink.rows == std::vector<std::string>{R"({"left":{"k":1,"t":150},"right":{"k":1,"t":100}})",
                                                R"({"left":{"k":1,"t":300},"right":null})"});
  }
}

TEST_CASE("Table join: latest value per key; a tombstone deletes by message key") {
  VectorSink sink;
  JoinRows rows(&sink, false);
  TableJoin j(false, -1, JoinType::kInner);
  REQUIRE(j.AddRight(Rec("1", 0, 1), "\"m1\"", false, &rows).ok());
  REQUIRE(j.AddLeft(Rec("1", 0, 2), &rows).ok());
  REQUIRE(j.AddRight(JoinRecord{}, "\"m1\"", true, &rows).ok());
  REQUIRE(j.AddLeft(Rec("1", 0, 3), &rows).ok());  // inner: deleted, no row
  CHECK(sink.rows.size() == 1);
}


TEST_CASE("A restored interval join pairs new records with the restored ones, whatever the key") {
  // Records come with the hash of their key's values (as kjoin computes it);
  // a restore has only the key's text.
  simdjson::dom::parser parser;
  for (std::string key : {"-0.0", "1.0", "1e16", "\"s,\\\"]\"", "[1,\"a\"]", "{\"a\":[1,2]}", "18446744073709551615"}) {
    simdjson::dom::element v = parser.parse("[" + key + "]").get_array().at(0).value();
    std::string text, scratch;
    json::AppendCompact(&text, v);
    uint64_t hash = JoinKeyHash(&v, 1, &scratch);
    std::string left = "{\"k\":" + text + ",\"t\":100}", right = "{\"k\":" + text + ",\"t\":105}";
    MemoryState st;
    bool late;
    {
      VectorSink sink;
      JoinRows rows(&sink, false);
      IntervalJoin j(-10, 10, 0, JoinType::kFull);
      REQUIRE(j.Add(0, JoinRecordRef{left, text, 100, 1}, hash, INT64_MIN, &rows, &late).ok());
      REQUIRE(j.Save(&st).ok());
    }
    VectorSink sink;
    JoinRows rows(&sink, false);
    IntervalJoin j(-10, 10, 0, JoinType::kFull);
    REQUIRE(j.Load(&st).ok());
    REQUIRE(j.Add(1, JoinRecordRef{right, text, 105, 2}, hash, INT64_MIN, &rows, &late).ok());
    REQUIRE(j.Finish(&rows).ok());
    INFO("key " << key);
    CHECK(sink.rows == std::vector<std::string>{"{\"left\":" + left + ",\"right\":" + right + "}"});
  }
}

TEST_CASE("A key with many records is saved whole, and its records dropped from the tail, each with its outer row") {
  // One key, 200,000 records on a side, dropped in reverse of arrival (each
  // from the end of its list) with outer rows. Finding a record's key by
  // walking its list (quadratic work) made this take minutes; the test
  // asserts only the results.
  VectorSink sink;
  JoinRows rows(&sink, false);
  IntervalJoin j(0, 0, 0, JoinType::kLeft);
  bool late;
  std::string text = "{\"k\":1}";
  for (uint64_t i = 0; i < 200000; i++)
    REQUIRE(j.Add(0, JoinRecordRef{text, "1", static_cast<int64_t>(200000 - i), i + 1}, 7, INT64_MIN, &rows, &late).ok());
  MemoryState st;
  REQUIRE(j.Save(&st).ok());
  CHECK(st.entries.size() == 200000);
  REQUIRE(j.Advance(INT64_MAX - 1, &rows).ok());
  CHECK(sink.rows.size() == 200000);
  CHECK(j.stored() == 0);
}
