// Outputs: the files a kwindow/kagg/kjoin run writes (kpipe(7), BAD INPUT,
// STATE): rows (a file or stdout), late records and dead letters. After a
// restored checkpoint each file is cut back to its size then, so that what
// follows is written again, the same; a checkpoint records their sizes.
// Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kpipe/io/dead_letter.h"
#include "kpipe/json/output.h"
#include "kpipe/status.h"

namespace kpipe {

class Outputs {
 public:
  Outputs() = default;
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;
  ~Outputs();

  // `output` empty or "-" is stdout; `late` and `dead_letter` empty: none.
  // `sizes` are a restored checkpoint's (rows, late, dead letters); -1 for
  // a fresh start, where the rows file is truncated (late records and dead
  // letters are appended to, always).
  // A destination "kafka:TOPIC" gets the writer `kafka` makes for it.
  using KafkaWriters = std::function<Result<Output::BlockWriter>(const std::string& dest)>;
  Status Open(const std::string& output, const std::string& late, const std::string& dead_letter,
              const int64_t sizes[3], const KafkaWriters& kafka = nullptr);

  Output* rows() { return rows_.get(); }
  Output* late() { return late_.get(); }           // null without --late
  DeadLetterFile* dead() { return dead_.get(); }  // null without --dead-letter

  Status Flush();
  // For a checkpoint: syncs the files and appends their sizes, in the order
  // Open() takes them back.
  Status SyncAndMeasure(std::vector<int64_t>* sizes);
  void Measure(std::vector<int64_t>* sizes, std::vector<int>* to_sync);

 private:
  int rows_fd_ = -1, late_fd_ = -1;  // owned when > 2
  std::unique_ptr<Output> rows_, late_;
  std::unique_ptr<DeadLetterFile> dead_;
};

}  // namespace kpipe
