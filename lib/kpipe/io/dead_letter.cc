#include "kpipe/io/dead_letter.h"

#include <unistd.h>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe {

void AppendDeadLetterRow(std::string* out, std::string_view reason, std::string_view source,
                         uint64_t line, std::string_view raw) {
  out->append("{\"error\":");
  json::AppendQuoted(out, reason);
  out->append(",\"source\":");
  json::AppendQuoted(out, fmt::format("{}:{}", source, line));
  out->append(",\"raw\":");
  if (json::IsUtf8(raw)) {
    json::AppendQuoted(out, raw);
  } else {
    out->push_back('"');
    json::AppendBase64(out, raw);
    out->append("\",\"raw_encoding\":\"base64\"");
    out->push_back('}');
    return;
  }
  out->push_back('}');
}

Result<std::unique_ptr<DeadLetterFile>> DeadLetterFile::Open(const std::string& path) {
  auto fd = OpenOutput(path, /*append=*/true);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<DeadLetterFile>(new DeadLetterFile(*fd, path));
}

std::unique_ptr<DeadLetterFile> DeadLetterFile::Open(Output::BlockWriter writer, std::string name) {
  return std::unique_ptr<DeadLetterFile>(new DeadLetterFile(std::move(writer), std::move(name)));
}

DeadLetterFile::~DeadLetterFile() {
  (void)out_.Flush();
  if (fd_ > 2) ::close(fd_);
}

Status DeadLetterFile::Write(std::string_view reason, std::string_view source, uint64_t line,
                             std::string_view raw) {
  AppendDeadLetterRow(out_.buffer(), reason, source, line, raw);
  out_.buffer()->push_back('\n');
  count_++;
  return out_.Commit();
}

}  // namespace kpipe
