#include "kpipe/join/key_table.h"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "kpipe/json/text.h"
#include "kpipe/join/join.h"

using namespace kpipe;

namespace {

// Few distinct hashes, so that keys share hashes and probe runs are long:
// every lookup must still compare keys, and every erase keep the runs whole.
uint64_t WeakHash(const std::string& key) { return std::hash<std::string>()(key) % 13; }

std::string Key(std::mt19937_64& rng) {
  int n = static_cast<int>(rng() % 300);
  std::string k = "\"k" + std::to_string(n) + "\"";
  if (n % 7 == 0) k += std::string(40 + n % 30, 'x');  // beyond the slot's bytes
  return k;
}

}  // namespace

TEST_CASE("JoinKeyTable against a map: inserts, lookups, list ends and erases") {
  std::mt19937_64 rng(11);
  JoinKeyTable t;
  std::map<std::string, uint32_t> ref;  // key -> its head[0], as an identity
  uint32_t next_id = 0;
  for (int op = 0; op < 200000; op++) {
    std::string k = Key(rng);
    uint64_t h = WeakHash(k);
    JoinKeyTable::Slot* s = t.Find(h, k);
    auto it = ref.find(k);
    REQUIRE((s != nullptr) == (it != ref.end()));
    if (!s) {
      s = t.Insert(h, k);
      CHECK(s->key() == k);
      CHECK(s->head[0] == JoinKeyTable::kNone);
      s->head[0] = s->tail[1] = next_id;
      ref[k] = next_id++;
    } else {
      CHECK(s->key() == k);
      REQUIRE(s->head[0] == it->second);
      // Found again by a list end alone, with no key.
      CHECK(t.FindEnd(h, /*tail=*/false, 0, it->second) == s);
      CHECK(t.FindEnd(h, /*tail=*/true, 1, it->second) == s);
      if (rng() % 2) {
        t.Erase(s);
        ref.erase(it);
      }
    }
    REQUIRE(t.size() == ref.size());
  }
  for (const auto& [k, id] : ref) {
    JoinKeyTable::Slot* s = t.Find(WeakHash(k), k);
    REQUIRE(s);
    CHECK(s->head[0] == id);
  }
}

TEST_CASE("JoinKeyHash is the same from a key's values as from the text a checkpoint keeps") {
  simdjson::dom::parser parser;
  for (std::string doc : {R"(["u1"])", R"(["u1",3])", R"([3,"u1"])", R"([1.5,true,null])", R"([-0.0])",
                          R"([1.0,1e16,-0,0.1])", R"(["a\"b\\c\n,]"])", R"([{"x":[1,"]",2],"y":"}"}])",
                          R"(["é\u0001",[]])", R"([18446744073709551615,-9223372036854775808])"}) {
    simdjson::dom::array a = parser.parse(doc).get_array().value();
    std::vector<simdjson::dom::element> values(a.begin(), a.end());
    std::string scratch, text;
    for (size_t i = 0; i < values.size(); i++) {  // as JoinOperator writes JoinRecord::key
      if (i) text.push_back(',');
      json::AppendCompact(&text, values[i]);
    }
    Result<uint64_t> from_text = JoinKeyHashOfText(text);
    REQUIRE(from_text.ok());
    CHECK(*from_text == JoinKeyHash(values.data(), values.size(), &scratch));
  }
  CHECK(*JoinKeyHashOfText("\"1\"") != *JoinKeyHashOfText("1"));
  CHECK(*JoinKeyHashOfText("\"a\",\"b\"") != *JoinKeyHashOfText("\"b\",\"a\""));
  for (std::string bad : {"\"a", "[1", "1,", ",1", "", "\"a\\"})
    CHECK_FALSE(JoinKeyHashOfText(bad).ok());
}
