#include "kpipe/json/line.h"

#include <fmt/format.h>

namespace kpipe::json {

Status ParseLine(simdjson::dom::parser* parser, std::string_view line, simdjson::dom::element* root) {
  if (line.empty()) return Status::BadInput("invalid JSON (empty line)");
  if (auto err = parser->parse(line.data(), line.size(), false).get(*root))
    return Status::BadInput(fmt::format("invalid JSON ({})", simdjson::error_message(err)));
  return Status::OK();
}

}  // namespace kpipe::json
