// --validate FILE of kproduce, kjq, kwindow, kagg and kjoin: the JSON Schema
// that records must fit (kpipe(7), VALIDATION).
#pragma once

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "kpipe/cli/flags.h"
#include "kpipe/json/schema.h"
#include "kpipe/status.h"

namespace kpipe::tools {

inline void AddValidateFlag(cli::Command* cmd, std::string* path) {
  cmd->Option({"--validate", "SCHEMA", "Records must fit this JSON Schema (draft 7); others are bad input",
               cli::Complete::kFile},
              path);
}

// The whole of file `path`; a usage error naming it when it cannot be read.
inline Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Usage(fmt::format("{}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << f.rdbuf();
  return text.str();
}

// The schema in file `path`; null when `path` is empty. A usage error when
// it cannot be read or used.
inline Result<std::shared_ptr<const json::Schema>> LoadSchema(const std::string& path) {
  if (path.empty()) return std::shared_ptr<const json::Schema>();
  auto text = ReadWholeFile(path);
  if (!text.ok()) return Status::Usage("--validate " + text.status().message());
  auto schema = json::Schema::Parse(*text, path);
  if (!schema.ok()) return Status::Usage("--validate: " + schema.status().message());
  return std::shared_ptr<const json::Schema>(std::move(*schema));
}

}  // namespace kpipe::tools
