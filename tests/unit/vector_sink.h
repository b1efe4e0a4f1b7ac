// A RowSink that keeps the rows, for operator tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kpipe/stream/operator.h"

namespace kpipe::testing {

struct VectorSink : RowSink {
  std::vector<std::string> rows;
  Status Write(std::string_view, std::string_view row) override {
    rows.emplace_back(row);
    return Status::OK();
  }
};

}  // namespace kpipe::testing
