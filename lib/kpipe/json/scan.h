// Raw spans of JSON values, for reading a document without re-serializing it.
//
// kproduce must write an embedded envelope value back byte for byte, so it
// needs the exact bytes of each member, which a DOM does not keep. These
// functions walk text that simdjson has already validated.
// REQUIRES (every function): the text is valid JSON; on invalid text they
// return false or a partial span but never read out of bounds.
#pragma once

#include <string_view>

namespace kpipe::json {

// Returns the span of the value starting at `s` (after leading whitespace)
// and stores in `*rest` what follows it. False on malformed input.
bool NextValue(std::string_view s, std::string_view* value, std::string_view* rest);

// Iterates the members of an object: `ObjectReader r(text); while (r.Next(&k, &v))`.
// `k` is the key literal with its quotes; `v` the raw value span.
class ObjectReader {
 public:
  explicit ObjectReader(std::string_view object_text);
  bool Next(std::string_view* key_literal, std::string_view* value);
  // False when the text was not an object or was cut short.
  bool ok() const { return ok_; }

 private:
  std::string_view rest_;
  bool ok_ = true;
  bool first_ = true;
};

// Iterates the elements of an array, each as a raw span.
class ArrayReader {
 public:
  explicit ArrayReader(std::string_view array_text);
  bool Next(std::string_view* value);
  bool ok() const { return ok_; }

 private:
  std::string_view rest_;
  bool ok_ = true;
  bool first_ = true;
};

}  // namespace kpipe::json
