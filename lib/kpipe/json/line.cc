#include "kpipe/json/line.h"

#include <fmt/format.h>

namespace kpipe::json {

Status ParseLine(simdjson::dom::parser* parser, std::string_view line, simdjson::dom::element* root,
                 simdjson::error_code* code) {
  if (code) *code = simdjson::SUCCESS;
  if (line.empty()) return Status::BadInput("invalid JSON (empty line)");
  if (auto err = parser->parse(line.data(), line.size(), false).get(*root)) {
    if (code) *code = err;
    // (Windows tools write one at the start of a file; jq skips it.)
    if (line.substr(0, 3) == "\xEF\xBB\xBF")
      return Status::BadInput("invalid JSON (the line starts with a UTF-8 byte order mark, U+FEFF)");
    if (err == simdjson::NUMBER_ERROR)
      return Status::BadInput(
          "invalid JSON (a number that is not JSON, or that cannot be read: an integer beyond 64 bits, a number "
          "past the largest double)");
    return Status::BadInput(fmt::format("invalid JSON ({})", simdjson::error_message(err)));
  }
  return Status::OK();
}

}  // namespace kpipe::json
