#include "kpipe/json/line.h"

#include <fmt/format.h>

namespace kpipe::json {

std::string BadLineReason(std::string_view line, simdjson::error_code err) {
  if (line.empty() || err == simdjson::EMPTY) return "invalid JSON (empty line)";
  // (Windows tools write one at the start of a file; jq skips it.)
  if (line.substr(0, 3) == "\xEF\xBB\xBF") return "invalid JSON (the line starts with a UTF-8 byte order mark, U+FEFF)";
  if (err == simdjson::NUMBER_ERROR)
    return "invalid JSON (a number that is not JSON, or that cannot be read: an integer beyond 64 bits, a number "
           "past the largest double)";
  return fmt::format("invalid JSON ({})", simdjson::error_message(err));
}

Status ParseLine(simdjson::dom::parser* parser, std::string_view line, simdjson::dom::element* root,
                 simdjson::error_code* code) {
  if (code) *code = simdjson::SUCCESS;
  if (line.empty()) return Status::BadInput(BadLineReason(line, simdjson::EMPTY));
  if (auto err = parser->parse(line.data(), line.size(), false).get(*root)) {
    if (code) *code = err;
    return Status::BadInput(BadLineReason(line, err));
  }
  return Status::OK();
}

}  // namespace kpipe::json
