// CheckpointStore (state/store.h): whole checkpoints in two slots, and
// incremental ones whose undo record keeps the checkpoint before selectable.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include "kpipe/state/store.h"

namespace {

using kpipe::state::CheckpointStore;
using Entries = std::map<std::string, std::string>;

Entries ReadAll(std::unique_ptr<kpipe::state::StateReader> r) {
  Entries out;
  std::string_view k, v;
  while (r->Next(&k, &v)) out[std::string(k)] = std::string(v);
  return out;
}

std::unique_ptr<CheckpointStore> Open(const std::string& dir, bool point_reads) {
  auto s = CheckpointStore::Open(dir, point_reads);
  REQUIRE(s.ok());
  return std::move(*s);
}

}  // namespace

TEST_CASE("whole checkpoints: the two newest are kept, either can be selected", "[store]") {
  kpipe::testing::TempDir dir;
  {
    auto store = Open(dir.path, false);
    CHECK(store->seq() == 0);
    for (int n = 1; n <= 3; n++) {
      auto* w = store->Begin();
      REQUIRE(w->Put("a", std::to_string(n)).ok());
      if (n == 2) REQUIRE(w->Put("b", "only in 2").ok());
      REQUIRE(store->Commit("meta " + std::to_string(n)).ok());
    }
  }
  auto store = Open(dir.path, false);
  CHECK(store->seq() == 3);
  CHECK(store->meta() == "meta 3");
  CHECK(ReadAll(store->Read()) == Entries{{"a", "3"}});
  auto older = store->Select(2);
  REQUIRE(older.ok());
  CHECK(*older);
  CHECK(store->meta() == "meta 2");
  CHECK(ReadAll(store->Read()) == Entries{{"a", "2"}, {"b", "only in 2"}});
  auto gone = store->Select(1);
  REQUIRE(gone.ok());
  CHECK_FALSE(*gone);
}

TEST_CASE("incremental checkpoints: changes only; the undo record restores the one before", "[store]") {
  kpipe::testing::TempDir dir;
  {
    auto store = Open(dir.path, true);
    auto* w = store->BeginChanges(true);
    REQUIRE(w->Put("k1", "a").ok());
    REQUIRE(w->Put("k2", "b").ok());
    REQUIRE(store->Commit("one").ok());
    w = store->BeginChanges(true);
    REQUIRE(w->Put("k2", "B").ok());      // changed
    REQUIRE(w->Delete("k1").ok());        // gone
    REQUIRE(w->Put("k3", "c").ok());      // new
    REQUIRE(store->Commit("two").ok());
    CHECK(ReadAll(store->ReadKeyed()) == Entries{{"k2", "B"}, {"k3", "c"}});
  }
  // A restart whose transaction 2 never committed goes back to 1 for good.
  auto store = Open(dir.path, true);
  CHECK(store->seq() == 2);
  auto back = store->Select(1);
  REQUIRE(back.ok());
  CHECK(*back);
  CHECK(store->meta() == "one");
  CHECK(ReadAll(store->ReadKeyed()) == Entries{{"k1", "a"}, {"k2", "b"}});
  // The next checkpoint builds on 1.
  auto* w = store->BeginChanges(true);
  REQUIRE(w->Put("k1", "A").ok());
  REQUIRE(store->Commit("two again").ok());
  store.reset();
  store = Open(dir.path, true);
  CHECK(store->meta() == "two again");
  CHECK(ReadAll(store->ReadKeyed()) == Entries{{"k1", "A"}, {"k2", "b"}});
  auto one = store->Select(1);
  REQUIRE(one.ok());
  CHECK(*one);
  CHECK(ReadAll(store->ReadKeyed()) == Entries{{"k1", "a"}, {"k2", "b"}});
}

TEST_CASE("incremental checkpoints without an undo record drop the one before", "[store]") {
  kpipe::testing::TempDir dir;
  auto store = Open(dir.path, false);
  auto* w = store->BeginChanges(false);
  REQUIRE(w->Put("k", "1").ok());
  REQUIRE(store->Commit("one").ok());
  w = store->BeginChanges(false);
  REQUIRE(w->Put("k", "2").ok());
  REQUIRE(store->Commit("two").ok());
  CHECK(store->seq() == 2);
  auto one = store->Select(1);
  REQUIRE(one.ok());
  CHECK_FALSE(*one);
  CHECK(ReadAll(store->ReadKeyed()) == Entries{{"k", "2"}});
}
