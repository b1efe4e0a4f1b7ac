#include "kpipe/state/partition_copy.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include <catch2/catch.hpp>

#include "temp_dir.h"

#include "kpipe/state/store.h"

using kpipe::state::PartitionCopy;

namespace {

std::map<std::string, std::string> ReadAll(PartitionCopy* copy, int32_t partition, PartitionCopy::Meta* meta,
                                           bool* found) {
  std::map<std::string, std::string> out;
  auto r = copy->Read(partition, meta, [&](std::string_view k, std::string_view v) { out[std::string(k)] = v; });
  REQUIRE(r.ok());
  *found = *r;
  return out;
}

}  // namespace

TEST_CASE("A member's copy applies each commit's records per partition, and survives a reopen") {
  kpipe::testing::TempDir dir;
  {
    auto copy = PartitionCopy::Open(dir.path);
    REQUIRE(copy.ok());
    REQUIRE((*copy)->Apply(3, {{"ka", "v1"}, {"kb", "v2"}, {"p", "pos1"}}, {"fp", 10, 1000}).ok());
    REQUIRE((*copy)->Apply(4, {{"ka", "other"}}, {"fp", 7, 1000}).ok());
    // The next commit: kb deleted, ka changed.
    REQUIRE((*copy)->Apply(3, {{"kb", "", true}, {"ka", "v3"}, {"p", "pos2"}}, {"fp", 25, 2000}).ok());
  }
  auto copy = PartitionCopy::Open(dir.path);
  REQUIRE(copy.ok());
  PartitionCopy::Meta meta;
  bool found = false;
  auto got = ReadAll(copy->get(), 3, &meta, &found);
  REQUIRE(found);
  CHECK(got == std::map<std::string, std::string>{{"ka", "v3"}, {"p", "pos2"}});
  CHECK(meta.fingerprint == "fp");
  CHECK(meta.offset == 25);
  CHECK(meta.written_ms == 2000);
  // Partitions do not mix.
  got = ReadAll(copy->get(), 4, &meta, &found);
  REQUIRE(found);
  CHECK(got == std::map<std::string, std::string>{{"ka", "other"}});
  CHECK(meta.offset == 7);
  REQUIRE((*copy)->Forget(3).ok());
  got = ReadAll(copy->get(), 3, &meta, &found);
  CHECK_FALSE(found);
  CHECK(got.empty());
  ReadAll(copy->get(), 5, &meta, &found);
  CHECK_FALSE(found);
}

TEST_CASE("A single process's checkpoint directory is not a member's copy, nor the other way round") {
  kpipe::testing::TempDir dir;
  {
    auto store = kpipe::state::CheckpointStore::Open(dir.path);
    REQUIRE(store.ok());
    (*store)->BeginChanges(false)->Put("kx", "1");
    REQUIRE((*store)->Commit("meta").ok());
  }
  auto copy = PartitionCopy::Open(dir.path);
  REQUIRE_FALSE(copy.ok());
  CHECK(copy.status().message().find("holds the checkpoints of a single process") != std::string::npos);

  kpipe::testing::TempDir member;
  REQUIRE(PartitionCopy::Open(member.path).ok());
  auto store = kpipe::state::CheckpointStore::Open(member.path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find("a group member's local copy") != std::string::npos);
}

TEST_CASE("A restore replaces a partition's copy whole, and leaves the others") {
  kpipe::testing::TempDir dir;
  auto copy = PartitionCopy::Open(dir.path);
  REQUIRE(copy.ok());
  REQUIRE((*copy)->Apply(3, {{"ka", "v1"}, {"kb", "v2"}, {"p", "pos1"}}, {"fp", 10, 1000}).ok());
  REQUIRE((*copy)->Apply(4, {{"ka", "other"}}, {"fp", 7, 1000}).ok());
  std::pair<std::string_view, std::string_view> restored[] = {{"kc", "v9"}, {"p", "pos9"}};
  REQUIRE((*copy)->Replace(3, 2, [&](size_t i) { return restored[i]; }, {"fp2", 40, 3000}).ok());
  PartitionCopy::Meta meta;
  bool found = false;
  auto got = ReadAll(copy->get(), 3, &meta, &found);
  REQUIRE(found);
  CHECK(got == std::map<std::string, std::string>{{"kc", "v9"}, {"p", "pos9"}});
  CHECK(meta.fingerprint == "fp2");
  CHECK(meta.offset == 40);
  CHECK(meta.written_ms == 3000);
  got = ReadAll(copy->get(), 4, &meta, &found);
  REQUIRE(found);
  CHECK(got == std::map<std::string, std::string>{{"ka", "other"}});
  CHECK(meta.offset == 7);
}
