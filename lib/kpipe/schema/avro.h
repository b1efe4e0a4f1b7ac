// AvroSchema: an Avro schema compiled once, and the codec between Avro's
// binary encoding and kpipe's JSON (kpipe(7), SCHEMAS).
//
// The JSON mapping, both ways:
//   null, boolean, int, long, float, double, string: the JSON value; a float
//     or double that is NaN or infinite is the string "NaN", "Infinity" or
//     "-Infinity".
//   bytes, fixed: a JSON string whose code points U+0000..U+00FF are the
//     bytes (Avro's own JSON encoding).
//   decimal (on bytes or fixed): the exact number, as a JSON number with
//     `scale` digits after the point (a string of them beyond 18 digits);
//     encoding takes a JSON number or a string of digits.
//   Other logical types (date, time-*, timestamp-*, local-timestamp-*,
//     uuid, duration) keep their underlying value: a timestamp-millis is
//     the integer, as kwindow's --time reads it.
//   record: an object, its fields in schema order; enum: the symbol;
//     array: an array; map: an object.
//   union: the value of the branch, unwrapped ({"user":"ann"} rather than
//     Avro's {"user":{"string":"ann"}}). Encoding picks the first branch the
//     value fits, in the union's order; Avro's wrapped form {"TYPE":value}
//     is also taken, for a value that fits an earlier branch than meant.
//
// Encoding is strict: a record's missing field takes its default or fails,
// a member that is not a field fails, a number out of an int's range fails.
// A failure names the path into the value: `.items[2].price: expected
// number, got string`.
//
// Immutable after Parse; Decode and Encode may run on several threads.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "kpipe/schema/registry.h"
#include "kpipe/status.h"

namespace kpipe::schema {

class AvroSchema {
 public:
  // Compiles `text`. `references` are the texts of the schemas it refers
  // to by name (a registry's references), compiled first, in order.
  // BadInput naming what is wrong.
  static Result<std::unique_ptr<AvroSchema>> Parse(std::string_view text,
                                                   const std::vector<Reference>& references = {});
  ~AvroSchema();
  AvroSchema(const AvroSchema&) = delete;
  AvroSchema& operator=(const AvroSchema&) = delete;

  // Appends the JSON of the one datum that `bytes` holds, all of them.
  Status Decode(std::string_view bytes, std::string* json) const;
  // Appends the binary encoding of `value`.
  Status Encode(simdjson::dom::element value, std::string* out) const;

 private:
  struct Node;
  struct Reader;
  AvroSchema();
  Result<const Node*> Build(simdjson::dom::element s, const std::string& ns);
  Result<const Node*> Named(std::string_view name, const std::string& ns) const;
  Status Defaults();
  Status DecodeNode(const Node* n, Reader* r, std::string* out) const;
  Status EncodeNode(const Node* n, simdjson::dom::element v, std::string* out) const;
  Status EncodeUnion(const Node* n, simdjson::dom::element v, std::string* out) const;

  std::deque<Node> nodes_;
  std::map<std::string, const Node*, std::less<>> named_;  // full name -> type
  const Node* root_ = nullptr;
};

}  // namespace kpipe::schema
