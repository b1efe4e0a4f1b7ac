#include "kpipe/json/rows.h"

#include <catch2/catch.hpp>

using namespace kpipe;
using namespace kpipe::json;

namespace {
// The rows written through a RowWriter in `format`, as text.
std::string Write(RowFormat format, const std::vector<Row>& rows) {
  std::string text;
  Output out([&](std::string_view block) { text.append(block); return Status::OK(); }, "test");
  RowWriter w(&out, format);
  for (const Row& r : rows) REQUIRE(w.Add(r).ok());
  REQUIRE(w.Flush().ok());
  return text;
}
}  // namespace

TEST_CASE("Rows as JSON lines keep their field order and JSON types") {
  Row r;
  r.Str("topic", "a\"b").Int("partition", 3).Bool("internal", false).Null("committed")
      .IntOrNull("low", -1).Ints("isr", {1, 2}).Strs("parts", {"t:0", "t:1"}).StrOrNull("id", nullptr);
  CHECK(Write(RowFormat::kJson, {r}) ==
        "{\"topic\":\"a\\\"b\",\"partition\":3,\"internal\":false,\"committed\":null,\"low\":null,"
        "\"isr\":[1,2],\"parts\":[\"t:0\",\"t:1\"],\"id\":null}\n");
}

TEST_CASE("Rows as a table: aligned columns, one table per shape") {
  std::vector<Row> rows(3);
  rows[0].Str("topic", "orders").Int("partition", 0).Ints("isr", {1, 2});
  rows[1].Str("topic", "t").Int("partition", 10).Ints("isr", {});
  rows[2].Str("topic", "t").Str("config_name", "retention.ms").Null("value");
  CHECK(Write(RowFormat::kTable, rows) ==
        "TOPIC   PARTITION  ISR\n"
        "orders  0          1,2\n"
        "t       10         \n"
        "\n"
        "TOPIC  CONFIG-NAME   VALUE\n"
        "t      retention.ms  -\n");
}

TEST_CASE("A table cell keeps to one line and counts UTF-8 characters as columns") {
  std::vector<Row> rows(2);
  rows[0].Str("name", "caf\xc3\xa9").Str("x", "1");
  rows[1].Str("name", "a\nb").Str("x", "2");
  CHECK(Write(RowFormat::kTable, rows) ==
        "NAME  X\n"
        "caf\xc3\xa9  1\n"
        "a b   2\n");
}
