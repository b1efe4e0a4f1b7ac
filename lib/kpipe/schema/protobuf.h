// ProtobufSchema: a Protobuf schema as a registry holds it, and the codec
// between the wire format's Protobuf payloads and JSON (kpipe(7), SCHEMAS).
//
// A schema is .proto text (as Confluent's Java serializer registers it) or
// a base64 FileDescriptorProto (as its Python serializer does); imports are
// the registry's references, or the well-known types that libprotobuf
// carries (google/protobuf/timestamp.proto and the others).
//
// A payload is the message indexes (how many, then each: zigzag varints,
// with a single 0 for the first message of the file) and then the message.
// JSON is Protobuf's canonical mapping (fields by their .proto names, scalar
// and repeated ones at their default value included, 64-bit integers as strings, bytes in
// base64, a Timestamp in RFC 3339); encoding takes that, or numbers for
// 64-bit integers, and refuses unknown fields.
//
// Not thread-safe (the message factory builds prototypes lazily).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "kpipe/schema/registry.h"
#include "kpipe/status.h"

namespace google::protobuf {
class Descriptor;
}

namespace kpipe::schema {

class ProtobufSchema {
 public:
  // BadInput naming the line and column of a .proto that does not parse,
  // or the import that is missing.
  static Result<std::unique_ptr<ProtobufSchema>> Parse(std::string_view text,
                                                       const std::vector<Reference>& references);
  ~ProtobufSchema();
  ProtobufSchema(const ProtobufSchema&) = delete;
  ProtobufSchema& operator=(const ProtobufSchema&) = delete;

  // `bytes`: the indexes and the message. Replaces `*json`.
  Status Decode(std::string_view bytes, std::string* json);
  // Appends the indexes and the message: `value` as the first message of
  // the schema's file.
  Status Encode(simdjson::dom::element value, std::string* out);

 private:
  struct Impl;
  explicit ProtobufSchema(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kpipe::schema
