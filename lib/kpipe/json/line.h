// One JSON line as every kpipe reader judges it (kpipe(7), THE DATA ON THE
// PIPE, CONTROL RECORDS), so that the tools name bad lines alike.
#pragma once

#include <string>
#include <string_view>

#include <simdjson.h>

#include "kpipe/status.h"

namespace kpipe::json {

// Why `line` is bad input, simdjson having said `err` of it: "invalid JSON
// (REASON)", the same in every tool.
std::string BadLineReason(std::string_view line, simdjson::error_code err);

// Parses `line`, which lies inside a block followed by at least
// SIMDJSON_PADDING readable bytes (a LineReader's), without copying it.
// BadInput "invalid JSON (empty line)" or "invalid JSON (<simdjson's reason>)";
// `*code` (may be null) gets simdjson's error.
Status ParseLine(simdjson::dom::parser* parser, std::string_view line, simdjson::dom::element* root,
                 simdjson::error_code* code = nullptr);

// True when `root` is a control record: an object whose first member is
// "@kpipe". Then `*obj` is that object.
// Inlined always: it runs once per line on the hot path of every reader.
[[gnu::always_inline]] inline bool IsControl(simdjson::dom::element root, simdjson::dom::object* obj) {
  return root.get_object().get(*obj) == simdjson::SUCCESS && obj->begin() != obj->end() &&
         (*obj->begin()).key == "@kpipe";
}

// True when `obj` is an envelope line's object (kpipe(7), The envelope):
// it has topic, partition, offset and value.
inline bool IsEnvelope(simdjson::dom::object obj) {
  return obj["topic"].error() == simdjson::SUCCESS && obj["partition"].error() == simdjson::SUCCESS &&
         obj["offset"].error() == simdjson::SUCCESS && obj["value"].error() == simdjson::SUCCESS;
}

// Calls `fn` with each line of `block` (without its '\n'; a last line
// without one too), stopping at the first error.
template <typename Fn>
Status ForEachLine(std::string_view block, Fn&& fn) {
  while (!block.empty()) {
    size_t nl = block.find('\n');
    KPIPE_RETURN_IF_ERROR(fn(block.substr(0, nl)));
    block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
  }
  return Status::OK();
}

}  // namespace kpipe::json
