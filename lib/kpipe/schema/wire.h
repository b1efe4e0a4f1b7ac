// Confluent's wire format (kpipe(7), SCHEMAS): a payload that starts with
// the byte 0 and a 4-byte big-endian schema id, then the datum encoded by
// that schema: Avro's binary encoding, JSON text for a JSON Schema, or for
// Protobuf the message indexes and the message.
//
// WireDecoder turns such payloads into JSON, fetching each schema once;
// WireEncoder turns JSON values into them, by a schema registered under a
// subject. Neither is thread-safe (they share their Registry).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "kpipe/json/schema.h"
#include "kpipe/json/text.h"
#include "kpipe/schema/avro.h"
#include "kpipe/schema/protobuf.h"
#include "kpipe/schema/registry.h"
#include "kpipe/status.h"

namespace kpipe::schema {

// True when `bytes` is in the wire format: the magic byte 0 and an id.
inline bool IsWire(const void* bytes, size_t len) {
  return bytes && len >= 5 && static_cast<const char*>(bytes)[0] == 0;
}

class WireDecoder {
 public:
  explicit WireDecoder(Registry* registry) : registry_(registry) {}

  // REQUIRES: IsWire(bytes). Replaces `*json` with the datum as one line of
  // compact JSON and sets `*id`. BadInput for a payload that its schema
  // cannot read (truncated, an unknown id); Remote when the registry
  // cannot be asked.
  Status Decode(std::string_view bytes, std::string* json, int32_t* id);

 private:
  struct Codec {
    SchemaType type = SchemaType::kAvro;
    std::unique_ptr<AvroSchema> avro;
    std::unique_ptr<ProtobufSchema> proto;
  };
  Result<Codec*> CodecOf(int32_t id);

  Registry* registry_;
  std::map<int32_t, Codec> codecs_;
  std::map<int32_t, std::string> unknown_;  // ids the registry does not have, and what it said
  json::Validator validator_;  // JSON Schema payloads
};

class WireEncoder {
 public:
  // Finds the schema: registers `schema_text` under the subject (after
  // asking whether the subject's compatibility rule takes it, so that a
  // refusal comes with the registry's reason and before anything is
  // written), or takes the subject's latest version.
  static Result<std::unique_ptr<WireEncoder>> Open(Registry* registry, const EncodeOptions& opt);
  // Encodes by the schema with this id (an envelope's "value_schema_id").
  static Result<std::unique_ptr<WireEncoder>> ForId(Registry* registry, int32_t id);
  // Only asks whether `opt.schema_text` may be registered (--check-only).
  static Status Check(Registry* registry, const EncodeOptions& opt);

  // Replaces `*out` with the wire-format payload of `value`. BadInput
  // "schema SUBJECT: PATH: reason" when the value does not fit. `text`,
  // when given, is `value`'s JSON text: a JSON Schema payload is that,
  // minified, so that its numbers keep their digits (a double does not
  // hold 12345678901234567.5).
  Status Encode(simdjson::dom::element value, std::string* out, std::string_view text = {});
  int32_t id() const { return id_; }

 private:
  simdjson::dom::parser text_parser_;  // Encode's parse of a JSON payload's text
  WireEncoder() = default;
  std::string subject_;
  int32_t id_ = -1;
  SchemaType type_ = SchemaType::kAvro;
  Status Compile(SchemaType type, const std::string& text, const std::vector<Reference>& references,
                 const std::string& name);
  std::unique_ptr<AvroSchema> avro_;
  std::unique_ptr<ProtobufSchema> proto_;
  std::unique_ptr<json::Schema> json_;
};

// What kproduce encodes: values and keys by the subjects of --value-format
// and --key-format, and the values and keys of envelope lines by the schema
// ids they carry.
class Encoders {
 public:
  // `reg.url` empty: no registry, and then no format may be asked for.
  static Result<std::unique_ptr<Encoders>> Open(RegistryOptions reg, const EncodeOptions* value,
                                                const EncodeOptions* key);
  // --check-only: asks whether each schema may be registered; opens nothing else.
  static Status CheckOnly(RegistryOptions reg, const EncodeOptions* value, const EncodeOptions* key);

  bool value() const { return value_ != nullptr; }
  bool key() const { return key_ != nullptr; }
  // Replaces `*out` with the wire-format payload of `v`: by schema `id`
  // when >= 0, else by the subject of --value-format (--key-format).
  // `text`, when given, is `v`'s JSON text (WireEncoder::Encode).
  Status Value(simdjson::dom::element v, int32_t id, std::string* out, std::string_view text = {}) {
    return Encode(value_.get(), v, id, out, text);
  }
  Status Key(simdjson::dom::element v, int32_t id, std::string* out, std::string_view text = {}) {
    return Encode(key_.get(), v, id, out, text);
  }

 private:
  Status Encode(WireEncoder* by_subject, simdjson::dom::element v, int32_t id, std::string* out,
                std::string_view text);
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<WireEncoder> value_, key_;
  std::map<int32_t, std::unique_ptr<WireEncoder>> by_id_;
};

}  // namespace kpipe::schema
