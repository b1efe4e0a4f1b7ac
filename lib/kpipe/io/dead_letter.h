// Dead-letter rows (kpipe(7), BAD INPUT): a bad record goes to the dead-letter
// destination as
//   {"error":"reason","source":"stdin:1234","raw":"<the line>"}
// and processing goes on. A raw line that is not UTF-8 is written as base64
// with "raw_encoding":"base64", so nothing is lost.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kpipe/json/output.h"
#include "kpipe/status.h"

namespace kpipe {

// Appends one dead-letter row (without '\n').
void AppendDeadLetterRow(std::string* out, std::string_view reason, std::string_view source,
                         uint64_t line, std::string_view raw);

// A dead-letter file. Rows are flushed with Flush() and at destruction.
class DeadLetterFile {
 public:
  static Result<std::unique_ptr<DeadLetterFile>> Open(const std::string& path);
  // Rows go to `writer` (a Kafka topic) instead of a file; fd() is -1.
  static std::unique_ptr<DeadLetterFile> Open(Output::BlockWriter writer, std::string name);
  ~DeadLetterFile();
  Status Write(std::string_view reason, std::string_view source, uint64_t line,
               std::string_view raw);
  Status Flush() { return out_.Flush(); }
  uint64_t count() const { return count_; }
  int fd() const { return fd_; }

 private:
  DeadLetterFile(int fd, std::string path) : fd_(fd), out_(fd, std::move(path)) {}
  DeadLetterFile(Output::BlockWriter w, std::string name) : fd_(-1), out_(std::move(w), std::move(name)) {}
  int fd_;
  Output out_;
  uint64_t count_ = 0;
};

}  // namespace kpipe
