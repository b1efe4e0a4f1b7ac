#include "kpipe/stream/changelog.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace kpipe;
using namespace kpipe::changelog;

namespace {

std::vector<std::pair<std::string, std::string>> All(const Records& r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < r.size(); i++) out.emplace_back(r.key(i), r.value(i));
  return out;
}

}  // namespace

TEST_CASE("Records keep each key's latest record, in the order written, without the deleted") {
  Records r;
  r.Add("ka", "v1", 2);
  r.Add("kb", "v2", 2);
  r.Add("ka", "v3", 2);   // replaces the first
  r.Add("kc", "v4", 2);
  r.Add("kb", nullptr, 0);  // a tombstone
  r.Add("kd", "", 0);     // an empty value is not a tombstone
  r.Latest();
  CHECK(All(r) == std::vector<std::pair<std::string, std::string>>{{"ka", "v3"}, {"kc", "v4"}, {"kd", ""}});
}

TEST_CASE("Records' Latest agrees with a map over randomized keys") {
  std::mt19937 rng(7);
  Records r;
  std::map<std::string, std::pair<size_t, std::string>> want;  // key -> (last write, value); "" value: deleted
  std::vector<bool> deleted;
  for (size_t i = 0; i < 20000; i++) {
    std::string key = "k" + std::to_string(rng() % 3000);
    bool del = rng() % 5 == 0;
    std::string value = "v" + std::to_string(i);
    r.Add(key, del ? nullptr : value.data(), value.size());
    want[key] = {i, del ? std::string() : value};
  }
  r.Latest();
  std::vector<std::pair<size_t, std::pair<std::string, std::string>>> kept;
  for (const auto& [k, v] : want)
    if (!v.second.empty()) kept.push_back({v.first, {k, v.second}});
  std::sort(kept.begin(), kept.end());
  std::vector<std::pair<std::string, std::string>> expect;
  for (const auto& [at, kv] : kept) expect.push_back(kv);
  CHECK(All(r) == expect);
}

TEST_CASE("A RecordReader gives the records of one kind without their letters") {
  Records r;
  r.Add("kuser", "v12", 3);
  r.Add("p", "pos", 3);
  r.Add("s17", "vxy", 3);
  r.Add("kempty", "v", 1);
  RecordReader reader(&r, 'k');
  std::string_view k, v;
  REQUIRE(reader.Next(&k, &v));
  CHECK(k == "user");
  CHECK(v == "12");
  REQUIRE(reader.Next(&k, &v));
  CHECK(k == "empty");
  CHECK(v.empty());
  CHECK_FALSE(reader.Next(&k, &v));
  CHECK(reader.count() == 2);
}

TEST_CASE("Entry keys sort in the entries' order") {
  std::vector<std::string> keys;
  for (uint64_t i : {0u, 1u, 255u, 256u, 65536u}) keys.push_back(EntryKey(i));
  CHECK(std::is_sorted(keys.begin(), keys.end()));
}
