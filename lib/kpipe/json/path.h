// FieldPath: the field paths of kpipe(7): `user`, `.geo.country`,
// `items.0.sku`, or a JSON Pointer when it starts with '/' (`/a.b/c`).
// A numeric step indexes an array, or names a key when the value is an
// object. A missing path yields null (Lookup returns false).
// Immutable after Parse; safe to share between threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "kpipe/status.h"

namespace kpipe::json {

class FieldPath {
 public:
  static Result<FieldPath> Parse(std::string_view text);

  // Finds the value at this path in `root`. False when it is missing.
  bool Lookup(simdjson::dom::element root, simdjson::dom::element* out) const;

  // The path as written, without a leading dot (used to name output fields).
  const std::string& text() const { return text_; }

 private:
  struct Step {
    std::string key;
    long long index = -1;  // >= 0 when the step is all digits
  };
  std::vector<Step> steps_;
  std::string text_;
};

}  // namespace kpipe::json
