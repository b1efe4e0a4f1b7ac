// A StateWriter and StateReader in memory, for operator tests: entries are
// read back in the order they were put.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpipe/state/codec.h"

namespace kpipe::testing {

struct MemoryState : state::StateWriter, state::StateReader {
  std::vector<std::pair<std::string, std::string>> entries;
  size_t next = 0;
  Status Put(std::string_view k, std::string_view v) override {
    entries.emplace_back(k, v);
    return Status::OK();
  }
  bool Next(std::string_view* k, std::string_view* v) override {
    if (next >= entries.size()) return false;
    *k = entries[next].first;
    *v = entries[next].second;
    next++;
    return true;
  }
};

}  // namespace kpipe::testing
