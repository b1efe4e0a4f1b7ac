#include "kpipe/json/block_parser.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

using kpipe::json::BlockParser;

namespace {

// `n` lines of about 70 bytes; line `bad` (if any) replaced by `bad_text`.
std::string Lines(size_t n, size_t bad = SIZE_MAX, const std::string& bad_text = "") {
  std::string s;
  for (size_t i = 0; i < n; i++) {
    if (i == bad) s += bad_text;
    else s += "{\"ts\":" + std::to_string(1732441200000 + i) + ",\"user\":\"u" + std::to_string(i % 977) +
              "\",\"amount\":" + std::to_string(i % 100) + ".25,\"id\":" + std::to_string(i) + "}";
    s += '\n';
  }
  s.append(simdjson::SIMDJSON_PADDING, ' ');  // as an input's block is followed
  return s;
}

struct Seen {
  std::vector<std::string> lines;
  size_t parsed_chunks = 0, unparsed_chunks = 0;
  std::vector<int64_t> ids;  // "id" of each parsed value, in order
};

// `pause`: how long the reader works on each chunk (beyond reading it).
Seen ReadAll(BlockParser* p, std::string_view block, std::chrono::microseconds pause = {}) {
  Seen seen;
  REQUIRE(p->Start(block));
  BlockParser::Chunk c;
  while (p->Next(&c)) {
    size_t i = 0;
    if (c.parsed) {
      seen.parsed_chunks++;
      REQUIRE(c.values.size() == c.lines->size());
      for (simdjson::dom::element v : c.values) {
        int64_t id = -1;
        REQUIRE(v["id"].get(id) == simdjson::SUCCESS);
        seen.ids.push_back(id);
        seen.lines.emplace_back((*c.lines)[i++]);
      }
    } else {
      seen.unparsed_chunks++;
      for (std::string_view l : *c.lines) seen.lines.emplace_back(l);
    }
    // The chunk's text is exactly its lines.
    std::string joined;
    for (std::string_view l : *c.lines) joined += std::string(l) + "\n";
    CHECK((joined == c.text || joined.substr(0, joined.size() - 1) == c.text));
    if (pause.count()) std::this_thread::sleep_for(pause);
  }
  p->Stop();
  return seen;
}

}  // namespace

TEST_CASE("block parser: every line once, in order, each parsed value its own line's") {
  BlockParser p;
  std::string block = Lines(20000);
  std::string_view text(block.data(), block.size() - simdjson::SIMDJSON_PADDING);
  Seen seen = ReadAll(&p, text);
  REQUIRE(seen.lines.size() == 20000);
  CHECK(seen.unparsed_chunks == 0);
  CHECK(seen.parsed_chunks > 4);
  for (size_t i = 0; i < seen.ids.size(); i++) REQUIRE(seen.ids[i] == static_cast<int64_t>(i));
  for (size_t i = 0; i < 20000; i += 997)
    CHECK(seen.lines[i].find("\"id\":" + std::to_string(i) + "}") != std::string::npos);
  // Again on the same parser, and a last line without '\n'.
  std::string_view cut = text.substr(0, text.size() - 1);
  Seen again = ReadAll(&p, cut);
  CHECK(again.lines.size() == 20000);
  CHECK(again.ids.size() == 20000);
}

TEST_CASE("block parser: a reader slower than the worker, which then waits for free slots") {
  // The worker fills every slot, sleeps until several are free, and is
  // woken by the reader only then: no chunk lost, none out of order, and
  // no wait for ever at the end of a block (whatever its length).
  BlockParser p;
  for (size_t n : {60000, 41003, 9000}) {
    std::string block = Lines(n);
    std::string_view text(block.data(), block.size() - simdjson::SIMDJSON_PADDING);
    Seen seen = ReadAll(&p, text, std::chrono::microseconds(300));
    REQUIRE(seen.lines.size() == n);
    REQUIRE(seen.ids.size() == n);
    for (size_t i = 0; i < n; i++) REQUIRE(seen.ids[i] == static_cast<int64_t>(i));
  }
}

TEST_CASE("block parser: a chunk that is not one value per line comes back unparsed") {
  for (const std::string bad : {"{\"id\":", "", "1,2", "   ", "{\"a\":1} {\"b\":2}", "[1,2"}) {
    BlockParser p;
    std::string block = Lines(20000, 12345, bad);
    Seen seen = ReadAll(&p, std::string_view(block.data(), block.size() - simdjson::SIMDJSON_PADDING));
    INFO("bad line: " << bad);
    REQUIRE(seen.lines.size() == 20000);
    CHECK(seen.lines[12345] == bad);
    CHECK(seen.unparsed_chunks == 1);
    CHECK(seen.ids.size() < 20000);
  }
}

TEST_CASE("block parser: a value over two lines beside two values on one is not taken for two lines") {
  // Joined by commas these would parse as as many values as lines.
  for (auto [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"{\"a\":1", "\"b\":2},{\"a\":3}"},
           {"{\"a\":{\"x\":1}", "\"b\":2},\"s\""},
           {"[[1]", "[2]],[3]"},
           {"\"x", "y\""},
           {"{\"s\":\"a,b\",\"t\":\"}\\\"{\",\"id\":12345}", "{\"u\":1,\"id\":12346}"}}) {
    BlockParser p;
    std::string block = Lines(20000, 12345, a);
    size_t at = block.find('\n', block.find(a)) + 1;
    block.replace(at, block.find('\n', at) - at, b);
    Seen seen = ReadAll(&p, std::string_view(block.data(), block.size() - simdjson::SIMDJSON_PADDING));
    INFO("lines: " << a << " / " << b);
    REQUIRE(seen.lines.size() == 20000);
    CHECK(seen.lines[12345] == a);
    CHECK(seen.lines[12346] == b);
    bool good_pair = b == "{\"u\":1,\"id\":12346}";  // two whole lines, brackets in strings
    CHECK(seen.unparsed_chunks == (good_pair ? 0u : 1u));
  }
}

TEST_CASE("block parser: small blocks are refused, and a block may be left midway") {
  BlockParser p;
  std::string small = Lines(10);
  CHECK_FALSE(p.Start(std::string_view(small.data(), small.size() - simdjson::SIMDJSON_PADDING)));
  std::string block = Lines(20000);
  std::string_view text(block.data(), block.size() - simdjson::SIMDJSON_PADDING);
  for (int round = 0; round < 50; round++) {
    REQUIRE(p.Start(text));
    BlockParser::Chunk c;
    for (int k = 0; k < round % 4 && p.Next(&c); k++) {
    }
    p.Stop();  // must return: the worker lets go of the block
  }
  CHECK(ReadAll(&p, text).lines.size() == 20000);
}

namespace {

// A random JSON value: nested objects and arrays, strings with brackets,
// commas, quotes and escapes in them, numbers of every kind.
void RandomValue(std::mt19937* rng, int depth, std::string* out) {
  static const char* kScalars[] = {"0", "-1", "18446744073709551615", "9223372036854775807", "-9223372036854775808",
                                   "1.5", "-2e-3", "1e308", "true", "false", "null", "\"\"", "\"a,b\"",
                                   "\"}]{[,:\"", "\"\\\"],\\\\\"", "\"\\u00e9\"",
                                   // runs of backslashes, odd and even, before quotes and brackets, and
                                   // strings long enough to cross the 64-byte steps of a scan
                                   "\"\\\\\\\\\"", "\"\\\\\\\"]\"", "\"x\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\"{\"",
                                   "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[,,,,\\\"\\\\\"",
                                   "\"}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}\\\\\\\\\""};
  int kind = depth > 3 ? 0 : static_cast<int>((*rng)() % 4);
  if (kind <= 1) {
    out->append(kScalars[(*rng)() % (sizeof kScalars / sizeof *kScalars)]);
  } else if (kind == 2) {
    out->push_back('{');
    int k = static_cast<int>((*rng)() % 4);
    for (int i = 0; i < k; i++) {
      if (i) out->append((*rng)() % 2 ? "," : " , ");
      out->append("\"k" + std::to_string(i) + "\":");
      RandomValue(rng, depth + 1, out);
    }
    out->push_back('}');
  } else {
    out->push_back('[');
    int m = static_cast<int>((*rng)() % 4);
    for (int i = 0; i < m; i++) {
      if (i) out->push_back(',');
      RandomValue(rng, depth + 1, out);
    }
    out->push_back(']');
  }
}

bool OneValue(simdjson::dom::parser* p, std::string_view line) {
  simdjson::padded_string padded(line);
  return p->parse(padded).error() == simdjson::SUCCESS;
}

struct Verdicts {
  size_t parsed = 0, unparsed = 0;  // chunks
  size_t lines = 0;                 // over all chunks
};

// `lines` as one block through a BlockParser (`scan`: ScanLines, where the
// CPU can): each chunk must come back parsed exactly when each of its lines
// alone is one value (`what` names the case in a failure).
Verdicts AgainstReference(const std::vector<std::string>& lines, bool scan, const std::string& what) {
  std::string block;
  for (const std::string& l : lines) block += l + "\n";
  block.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::dom::parser alone;
  BlockParser p(scan);
  REQUIRE(p.Start(std::string_view(block.data(), block.size() - simdjson::SIMDJSON_PADDING)));
  BlockParser::Chunk c;
  Verdicts v;
  while (p.Next(&c)) {
    bool all_good = true;
    for (std::string_view l : *c.lines) all_good = all_good && OneValue(&alone, l);
    INFO(what << (scan ? " (scan)" : "") << ", chunk from line " << v.lines);
    REQUIRE(c.parsed == all_good);
    if (c.parsed) REQUIRE(c.values.size() == c.lines->size());
    (c.parsed ? v.parsed : v.unparsed)++;
    v.lines += c.lines->size();
  }
  p.Stop();
  return v;
}

}  // namespace

// Against a naive reference: a chunk comes back parsed exactly when each of
// its lines, parsed alone, is one JSON value. Lines of random values, with
// now and then a value cut over two lines and the next line holding two
// values (which joined by commas would parse as as many values as lines).
TEST_CASE("block parser: a chunk is parsed exactly when each of its lines alone is one value") {
  std::mt19937 rng(11);
  size_t total_parsed = 0, total_unparsed = 0;
  // The check on the text as it is copied (where the CPU has AVX-512) and
  // the one on simdjson's structural index, each on every other round.
  INFO("this CPU scans lines: " << BlockParser::CanScanLines());
  for (int round = 0; round < 12; round++) {
    bool scan = round % 2 == 0 && BlockParser::CanScanLines();
    std::vector<std::string> lines;
    size_t bytes = 0;
    while (bytes < (300 << 10)) {
      std::string v;
      RandomValue(&rng, 0, &v);
      if (rng() % 3000 == 0 && v.size() > 2) {  // a value over two lines, then two on one
        size_t cut = 1 + rng() % (v.size() - 1);
        std::string w;
        RandomValue(&rng, 0, &w);
        lines.push_back(v.substr(0, cut));
        lines.push_back(v.substr(cut) + "," + w);
      } else if (rng() % 3000 == 0) {
        std::string w;
        RandomValue(&rng, 0, &w);
        lines.push_back(v + " " + w);  // two values, no comma
      } else {
        lines.push_back(v);
      }
      bytes += lines.back().size() + 1;
    }
    Verdicts v = AgainstReference(lines, scan, "round " + std::to_string(round));
    REQUIRE(v.lines == lines.size());
    total_parsed += v.parsed;
    total_unparsed += v.unparsed;
  }
  CHECK(total_parsed > 40);
  CHECK(total_unparsed > 10);
}

// Lines that make an array of as many values as lines though they are not
// one value each (their line breaks, made commas, join them validly): a
// value over two lines (at depths 1, 2 and 3, and with 64 bytes without a
// bracket around the line break), beside two values on one line. Each
// chunk must come back as the naive reference says.
TEST_CASE("block parser: values over two lines beside two on one, at any depth") {
  std::vector<std::vector<std::string>> tricks = {
      {"{\"a\":{\"b\":1", "\"c\":2}}", "1,2"},
      {"[[[1", "2]]]", "5,6"},
      {"{\"k\":\"" + std::string(80, 'x') + "\",\"m\":1", "\"n\":\"" + std::string(80, 'y') + "\"}", "3,4"},
      {"[\"" + std::string(90, '[') + "\"", "\"" + std::string(90, ']') + "\"]", "{},[]"},
  };
  for (bool scan : {true, false}) {
    if (scan && !BlockParser::CanScanLines()) continue;
    for (size_t t = 0; t < tricks.size(); t++) {
      std::vector<std::string> lines;
      for (int i = 0; lines.size() < 6000; i++) {
        lines.push_back("{\"i\":" + std::to_string(i) + ",\"pad\":[\"" + std::string(i % 37, 'p') + "\"]}");
        if (i == 3000)
          for (const std::string& l : tricks[t]) lines.push_back(l);
      }
      CHECK(AgainstReference(lines, scan, "trick " + std::to_string(t)).unparsed >= 1);
    }
  }
}

