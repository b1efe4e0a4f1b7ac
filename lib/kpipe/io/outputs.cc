#include "kpipe/io/outputs.h"

#include <unistd.h>

namespace kpipe {

Outputs::~Outputs() {
  rows_.reset();
  late_.reset();
  for (int fd : {rows_fd_, late_fd_})
    if (fd > 2) ::close(fd);
}

Status Outputs::Open(const std::string& output, const std::string& late,
                     const std::string& dead_letter, const int64_t sizes[3],
                     const KafkaWriters& kafka) {
  auto to_kafka = [&](const std::string& dest) { return kafka && dest.rfind("kafka:", 0) == 0; };
  if (to_kafka(output)) {
    auto w = kafka(output);
    if (!w.ok()) return w.status();
    rows_ = std::make_unique<Output>(std::move(*w), output);
  } else if (output.empty() || output == "-") {
    rows_ = std::make_unique<Output>(1, "stdout");
  } else {
    auto fd = OpenOutput(output, /*append=*/sizes[0] >= 0);
    if (!fd.ok()) return fd.status();
    rows_fd_ = *fd;
    rows_ = std::make_unique<Output>(*fd, output);
    KPIPE_RETURN_IF_ERROR(TruncateTo(*fd, sizes[0], output));
  }
  if (to_kafka(late)) {
    auto w = kafka(late);
    if (!w.ok()) return w.status();
    late_ = std::make_unique<Output>(std::move(*w), late);
  } else if (!late.empty()) {
    auto fd = OpenOutput(late, /*append=*/true);  // like --dead-letter
    if (!fd.ok()) return fd.status();
    late_fd_ = *fd;
    late_ = std::make_unique<Output>(*fd, late);
    KPIPE_RETURN_IF_ERROR(TruncateTo(*fd, sizes[1], late));
  }
  if (to_kafka(dead_letter)) {
    auto w = kafka(dead_letter);
    if (!w.ok()) return w.status();
    dead_ = DeadLetterFile::Open(std::move(*w), dead_letter);
  } else if (!dead_letter.empty()) {
    auto d = DeadLetterFile::Open(dead_letter);
    if (!d.ok()) return d.status();
    dead_ = std::move(*d);
    KPIPE_RETURN_IF_ERROR(TruncateTo(dead_->fd(), sizes[2], dead_letter));
  }
  return Status::OK();
}

Status Outputs::Flush() {
  Status s = rows_->Flush();
  if (late_) {
    Status l = late_->Flush();
    if (s.ok()) s = l;
  }
  if (dead_) {
    Status d = dead_->Flush();
    if (s.ok()) s = d;
  }
  return s;
}

void Outputs::Measure(std::vector<int64_t>* sizes, std::vector<int>* to_sync) {
  kpipe::Measure({rows_fd_, late_fd_, dead_ ? dead_->fd() : -1}, sizes, to_sync);
}

Status Outputs::SyncAndMeasure(std::vector<int64_t>* sizes) {
  return kpipe::SyncAndMeasure({rows_fd_, late_fd_, dead_ ? dead_->fd() : -1}, sizes);
}

}  // namespace kpipe
