// FileInput: a file, FIFO, <(...) or stdin as an Input (io/input.h), read
// through a LineReader. Its position is a byte offset: a restart seeks a
// regular file back to it; a pipe cannot be rewound. Lines are numbered by
// the caller (Input::Locate). With set_read_ahead (the tool parses on a
// second thread), a regular file is read ahead on a thread of its own and a
// pipe is grown to hold 1 MiB (kpipe(7), Input).
// Not thread-safe.
#pragma once

#include <memory>
#include <string>

#include "kpipe/io/input.h"
#include "kpipe/io/line_reader.h"

namespace kpipe {

class FileInput : public Input {
 public:
  // Opens `path` ("-": stdin, named "stdin" in diagnostics).
  static Result<std::unique_ptr<FileInput>> Open(const std::string& path);
  ~FileInput() override;
  FileInput(const FileInput&) = delete;
  FileInput& operator=(const FileInput&) = delete;

  const std::string& name() const override { return name_; }
  Status Start(const InputPosition* at, bool* rewound) override;
  void set_idle_callback(std::function<Status()> cb) override { reader_.set_idle_callback(std::move(cb)); }
  void set_tick(int64_t period_ms, std::function<Status()> cb) override {
    reader_.set_tick(period_ms, std::move(cb));
  }
  void set_signal_watch(SignalWatch* signals) override { reader_.set_signal_watch(signals); }
  void set_output_watch(int fd) override { reader_.set_output_watch(fd); }
  void set_read_ahead(bool on) override { read_ahead_ = on; }
  bool NextBlock(std::string_view* block) override { return reader_.NextBlock(block); }
  bool TryBlock(std::string_view* block) override;
  Result<int> ReadyFd() override { return fd_; }
  bool ended() const override { return done_; }
  const Status& status() const override { return reader_.status(); }
  void Locate(size_t i, uint64_t line_no, std::string* source, uint64_t* line) const override {
    *source = name_;
    *line = line_no;
  }
  InputPosition position() const override { return {base_ + reader_.offset(), {}}; }
  bool Progress(uint64_t* done, uint64_t* total) const override;
  void AddMetrics(service::Snapshot* s) const override;

 private:
  FileInput(int fd, std::string name) : fd_(fd), name_(name), reader_(fd, std::move(name)) {}

  int fd_;
  std::string name_;
  LineReader reader_;
  uint64_t base_ = 0;   // the offset reading started at (a restored checkpoint's)
  int64_t size_ = -1;   // of a regular file, at Start()
  bool done_ = false;   // TryBlock() has seen the end
  bool read_ahead_ = false;  // asked for: done for a regular file
};

}  // namespace kpipe
