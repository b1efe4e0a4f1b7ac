// The aggregate functions (agg/aggregate.h, agg/functions.h): parsing of -a,
// each function's result, merging (session windows), checkpoints, and the
// checks that keep a bad record from changing any state.
#include "kpipe/agg/aggregate.h"

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <random>
#include <string>
#include <vector>

using namespace kpipe;
using namespace kpipe::agg;

namespace {

struct Rows {
  AggSet set;
  simdjson::dom::parser parser;
  Extracted x;
  uint64_t seq = 0;

  explicit Rows(std::vector<std::string> specs) : set(ParseAggSpecs(specs).value()) {}

  // Extract, Check, Add: as the operators do.
  Status Add(AccRow* row, const std::string& json, int64_t t = 0) {
    simdjson::padded_string p(json);
    simdjson::dom::element root = parser.parse(p).value();
    KPIPE_RETURN_IF_ERROR(set.Extract(root, &x));
    x.t = t;
    x.seq = ++seq;
    KPIPE_RETURN_IF_ERROR(set.Check(row->data(), x));
    set.Add(row->data(), x);
    return Status::OK();
  }
  std::string Out(const AccRow& row) const {
    std::string out;
    set.Append(&out, row.data());
    return out;
  }
  std::string RoundTrip(const AccRow& row) const {
    std::string saved;
    state::Encoder e(&saved);
    set.Save(&e, row.data());
    state::Decoder d(saved);
    AccRow back = set.NewRow();
    set.Load(&d, back.data());
    REQUIRE(d.Check("row").ok());
    return Out(back);
  }
};

std::string Spec(const std::string& text) {
  auto s = ParseAggSpecs({text});
  if (!s.ok()) return "error: " + s.status().message();
  std::string out;
  for (const AggSpec& a : *s) out += (out.empty() ? "" : " ") + a.name;
  return out;
}

}  // namespace

TEST_CASE("aggregates: -a specs, their default names and their errors") {
  CHECK(Spec("count") == "count");
  CHECK(Spec("count:user.id,sum:amount") == "count_user_id sum_amount");
  CHECK(Spec("n=count,total=sum:amount") == "n total");
  CHECK(Spec("median:latency") == "median_latency");
  CHECK(Spec("quantile:latency:0.99") == "quantile_latency_0_99");  // dots become _
  CHECK(Spec("top:page:3") == "top_page_3");
  CHECK(Spec("sum") == "error: sum: expected sum:PATH");
  CHECK(Spec("top:page") == "error: top:page: expected top:PATH:K");
  CHECK(Spec("quantile:x:2") == "error: quantile:x:2: Q must be a number from 0 to 1");
  CHECK(Spec("top:x:0") == "error: top:x:0: K must be a positive integer");
  CHECK(Spec("count:a:b") == "error: count:a:b: expected count or count:PATH");
  CHECK(Spec("mode:x").rfind("error: mode:x: unknown function 'mode' (expected count, sum,", 0) == 0);
  CHECK(Spec("sum:a,,count") == "error: 'sum:a,,count': empty aggregate");
  CHECK(Spec("=sum:a") == "error: =sum:a: empty name before '='");
}

TEST_CASE("aggregates: each function's result") {
  Rows r({"count", "count:v", "sum:v", "min:v", "max:v", "avg:v", "first:v", "last:v", "distinct:v",
          "approx_distinct:v", "median:v", "top:v:2", "collect:v"});
  AccRow row = r.set.NewRow();
  REQUIRE(r.Add(&row, R"({"v":3})", 20).ok());
  REQUIRE(r.Add(&row, R"({"v":1.5})", 10).ok());
  REQUIRE(r.Add(&row, R"({})", 30).ok());  // counted by count only
  REQUIRE(r.Add(&row, R"({"v":3})", 40).ok());
  REQUIRE(r.Add(&row, R"({"v":null})", 5).ok());  // null is missing
  CHECK(r.Out(row) ==
        R"("count":5,"count_v":3,"sum_v":7.5,"min_v":1.5,"max_v":3,"avg_v":2.5,"first_v":1.5,"last_v":3,)"
        R"("distinct_v":2,"approx_distinct_v":2,"median_v":3,"top_v_2":[{"value":3,"count":2},)"
        R"({"value":1.5,"count":1}],"collect_v":[3,1.5,3])");
  CHECK(r.RoundTrip(row) == r.Out(row));
}

TEST_CASE("aggregates: an empty row, integer sums, and ties") {
  Rows r({"sum:v", "min:v", "avg:v", "first:v", "last:v", "median:v", "top:v:5", "collect:v"});
  AccRow row = r.set.NewRow();
  CHECK(r.Out(row) ==
        R"("sum_v":null,"min_v":null,"avg_v":null,"first_v":null,"last_v":null,"median_v":null,)"
        R"("top_v_5":[],"collect_v":[])");
  // Equal times: first keeps the earliest arrival, last the latest.
  REQUIRE(r.Add(&row, R"({"v":"b"})", 7).ok() == false);  // sum needs numbers: bad input
  Rows t({"first:v", "last:v", "top:v:2"});
  AccRow ties = t.set.NewRow();
  REQUIRE(t.Add(&ties, R"({"v":"a"})", 7).ok());
  REQUIRE(t.Add(&ties, R"({"v":"b"})", 7).ok());
  REQUIRE(t.Add(&ties, R"({"v":"c"})", 7).ok());
  CHECK(t.Out(ties) == R"("first_v":"a","last_v":"c","top_v_2":[{"value":"a","count":1},{"value":"b","count":1}])");
  Rows s({"sum:v"});
  AccRow ints = s.set.NewRow();
  REQUIRE(s.Add(&ints, R"({"v":9007199254740993})").ok());
  REQUIRE(s.Add(&ints, R"({"v":1})").ok());
  CHECK(s.Out(ints) == R"("sum_v":9007199254740994)");  // exact, not through a double
}

TEST_CASE("aggregates: negative zero is written 0 by every function, as in keys") {
  Rows r({"sum:v", "min:v", "max:v", "avg:v", "first:v", "median:v", "quantile:v:0.9", "collect:v"});
  AccRow row = r.set.NewRow();
  REQUIRE(r.Add(&row, R"({"v":-0.0})").ok());
  REQUIRE(r.Add(&row, R"({"v":-0.0})").ok());
  CHECK(r.Out(row) ==
        R"("sum_v":0,"min_v":0,"max_v":0,"avg_v":0,"first_v":0,"median_v":0,"quantile_v_0_9":0,"collect_v":[0,0])");
}

TEST_CASE("aggregates: integers beyond a double's precision stay exact in min, max, median and quantile") {
  Rows r({"min:v", "max:v", "median:v", "q0=quantile:v:0", "q1=quantile:v:1"});
  AccRow row = r.set.NewRow();
  REQUIRE(r.Add(&row, R"({"v":123456789012345679})").ok());
  REQUIRE(r.Add(&row, R"({"v":123456789012345678})").ok());
  REQUIRE(r.Add(&row, R"({"v":123456789012345680})").ok());
  CHECK(r.Out(row) == R"("min_v":123456789012345678,"max_v":123456789012345680,"median_v":123456789012345679,)"
                      R"("q0":123456789012345678,"q1":123456789012345680)");
  CHECK(r.RoundTrip(row) == r.Out(row));  // through a checkpoint, exact too
  // An integer against a double it rounds to: compared exactly, so the
  // result does not depend on which came first.
  for (bool int_first : {true, false}) {
    Rows b({"min:v", "max:v"});
    AccRow mixed = b.set.NewRow();
    const char* i = R"({"v":9223372036854775807})";
    const char* d = R"({"v":9223372036854775808.0})";
    REQUIRE(b.Add(&mixed, int_first ? i : d).ok());
    REQUIRE(b.Add(&mixed, int_first ? d : i).ok());
    CHECK(b.Out(mixed) == R"("min_v":9223372036854775807,"max_v":9.223372036854776e+18)");
  }
}

TEST_CASE("aggregates: a bad record changes no state") {
  Rows r({"count", "sum:v", "collect:w"});
  AccRow row = r.set.NewRow();
  REQUIRE(r.Add(&row, R"({"v":9223372036854775800,"w":1})").ok());
  Status st = r.Add(&row, R"({"v":100,"w":2})");
  CHECK(st.Is(Status::Code::kBadInput));
  CHECK(st.message() == "sum_v: the integer sum leaves the 64-bit range");
  st = r.Add(&row, R"({"v":"x","w":3})");
  CHECK(st.message() == "'v' is not a number (sum_v)");
  st = r.Add(&row, R"({"v":18446744073709551615,"w":4})");
  CHECK(st.message() == "'v' is an integer beyond the 64-bit range (sum_v)");
  CHECK(r.Out(row) == R"("count":1,"sum_v":9223372036854775800,"collect_w":[1])");
}

TEST_CASE("aggregates: merging two rows equals adding all their records to one") {
  std::vector<std::string> specs = {"count", "count:v", "sum:v", "min:v", "max:v", "avg:v", "first:v",
                                    "last:v", "distinct:v", "approx_distinct:v", "top:v:3", "collect:v"};
  std::mt19937_64 rng(42);
  for (int round = 0; round < 50; round++) {
    Rows all(specs), parts(specs);
    AccRow one = all.set.NewRow(), a = parts.set.NewRow(), b = parts.set.NewRow();
    int n = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < n; i++) {
      std::string json = rng() % 5 == 0 ? std::string("{}")
                         : rng() % 2    ? "{\"v\":" + std::to_string(static_cast<int>(rng() % 7) - 3) + "}"
                                        : "{\"v\":" + std::to_string(static_cast<int>(rng() % 9)) + ".5}";
      int64_t t = static_cast<int64_t>(rng() % 10);
      REQUIRE(all.Add(&one, json, t).ok());
      // The same arrival numbers on both sides: the records split between two rows.
      parts.seq = all.seq - 1;
      REQUIRE(parts.Add(rng() % 2 ? &a : &b, json, t).ok());
    }
    std::vector<const std::byte*> rows = {b.data()};
    Extracted none;
    none.values.resize(specs.size());
    REQUIRE(parts.set.CheckMerge(rows, none).ok());
    parts.set.Merge(a.data(), b.data());
    INFO("round " << round);
    CHECK(parts.Out(a) == all.Out(one));
  }
}

// Each function keeps a state of its own size, but checkpoints keep the one
// format of a state with every field: a checkpoint written before reads
// back, and one written now reads in a build from before.
TEST_CASE("aggregates: the saved form of a row is the same whatever its states' sizes") {
  Rows r({"count", "sum:v", "max:v", "first:v", "collect:v"});
  AccRow row = r.set.NewRow();
  REQUIRE(r.Add(&row, R"({"v":3})", 20).ok());
  REQUIRE(r.Add(&row, R"({"v":1.5})", 10).ok());
  std::string want;
  state::Encoder e(&want);
  auto fields = [&](int64_t n, int64_t i, double d, double c, bool dbl, int64_t t, uint64_t seq,
                    std::string_view text) {
    e.I64(n), e.I64(i), e.F64(d), e.F64(c), e.U8(dbl), e.I64(t), e.U64(seq), e.Str(text);
  };
  fields(2, 0, 0, 0, false, 0, 0, "");       // count
  fields(2, 3, 1.5, 0, true, 0, 0, "");      // sum: 3 + 1.5
  fields(2, 3, 0, 0, false, 0, 0, "");       // max: the integer 3
  fields(2, 0, 0, 0, false, 10, 2, "1.5");   // first: by time, the second record
  fields(2, 0, 0, 0, false, 0, 0, "");       // collect, then its values
  e.U64(2), e.U64(1), e.Str("3"), e.U64(2), e.Str("1.5");
  std::string saved;
  state::Encoder s(&saved);
  r.set.Save(&s, row.data());
  CHECK(saved == want);
  CHECK(r.RoundTrip(row) == R"("count":2,"sum_v":4.5,"max_v":3,"first_v":1.5,"collect_v":[3,1.5])");
  // The states that own an allocation come first, then a count's 8 bytes,
  // a sum's 32 and a max's 32.
  CHECK(r.set.owned_states() == 2);
  CHECK(r.set.row_bytes() == 2 * AggSet::kOwnedBytes + 8 + 32 + 32);
}
