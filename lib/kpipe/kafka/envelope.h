// The envelope of kpipe(7): one Kafka message as one JSON line, lossless both
// ways.
//
//   {"topic":"t","partition":3,"offset":1042,"timestamp":1732441200123,
//    "timestamp_type":"create","key":<K>,"headers":[["h",<V>]],"value":<V>}
//
// A key, value or header value that is valid JSON with no line break and no
// leading or trailing whitespace is embedded verbatim, byte for byte;
// otherwise UTF-8 text becomes a JSON string marked "string" and other bytes
// become base64 marked "base64" (`key_encoding`, `value_encoding`, or a
// header's third element). Null stays null; empty is "" marked "string".
// A key or value in a schema registry's wire format, read with a registry
// (kpipe(7), SCHEMAS), is embedded as the JSON its schema decodes it to,
// followed by "key_schema_id" or "value_schema_id".
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/json/text.h"
#include "kpipe/schema/wire.h"
#include "kpipe/status.h"

namespace kpipe {

// How a payload is best written into JSON.
enum class PayloadForm { kNull, kJson, kString, kBase64 };

// Classifies `bytes` (nullptr = Kafka null) for embedding.
PayloadForm ClassifyPayload(const void* bytes, size_t len, json::Validator* v);

// Appends the payload in form `f` (kJson: verbatim; kString: quoted; kBase64).
void AppendPayload(std::string* out, PayloadForm f, const void* bytes, size_t len);

// The parts of one envelope line; a negative partition or offset, or no
// timestamp, is written as null.
struct EnvelopeFields {
  std::string_view topic;
  int64_t partition = -1;
  int64_t offset = -1;
  std::optional<int64_t> timestamp;
  const char* timestamp_type = "none";  // "create", "log_append" or "none"
  const void* key = nullptr;            // nullptr = null key
  size_t key_len = 0;
  const rd_kafka_headers_t* headers = nullptr;
  const void* value = nullptr;          // nullptr = null value
  size_t value_len = 0;
  // >= 0: the key or value is the JSON decoded from the wire format by
  // this schema id, embedded as it is.
  int32_t key_schema_id = -1;
  int32_t value_schema_id = -1;
  // Not empty: the value is in the wire format but its schema does not
  // decode it; it goes as base64, with this reason as "value_error".
  std::string_view value_error;
};

// Appends the envelope line (without '\n').
void AppendEnvelope(std::string* out, const EnvelopeFields& f, json::Validator* v);
void AppendEnvelope(std::string* out, const rd_kafka_message_t* msg, json::Validator* v);

// Appends the value alone as kconsume writes it without --envelope: JSON
// minified, other UTF-8 as a JSON string, other bytes as a base64 JSON
// string, a null value as null.
void AppendValueLine(std::string* out, const void* bytes, size_t len, json::Validator* v);

// Writes Kafka messages as kconsume and the kafka: inputs do: the envelope,
// or the value alone; with a WireDecoder, keys and values in the wire
// format are decoded by their schemas. Not thread-safe.
class MessageLines {
 public:
  // `wire` may be null: payloads pass as they are. `keep_undecodable`
  // (envelopes only): a value that its schema does not decode (bad data,
  // an id the registry does not have) is written as base64 with the reason
  // as "value_error", for the reader to judge as bad input, instead of
  // failing the Append.
  MessageLines(json::Validator* v, schema::WireDecoder* wire, bool keep_undecodable = false)
      : validator_(v), wire_(wire), keep_undecodable_(keep_undecodable) {}
  // Appends the line (without '\n'). BadInput or Remote, naming the
  // message's topic, partition and offset, when a payload in the wire
  // format cannot be decoded.
  Status Append(std::string* out, const rd_kafka_message_t* m, bool envelope);
  // The value of the message last appended, decoded; nullopt when it was
  // not in the wire format.
  std::optional<std::string_view> decoded_value() const {
    return value_id_ >= 0 ? std::optional<std::string_view>(value_) : std::nullopt;
  }

 private:
  json::Validator* validator_;
  schema::WireDecoder* wire_;
  bool keep_undecodable_ = false;
  std::string key_, value_, value_error_;
  int32_t value_id_ = -1;
};

// One message decoded from an envelope line. Views point into the line or
// into the decoder's own buffers; valid until the next Decode.
struct EnvelopeMessage {
  std::optional<std::string_view> topic;
  std::optional<int32_t> partition;
  std::optional<int64_t> timestamp;
  std::optional<std::string_view> key;    // nullopt = null key
  std::optional<std::string_view> value;  // nullopt = null value
  struct Header {
    std::string_view name;
    std::optional<std::string_view> value;
  };
  std::vector<Header> headers;
  // "key_schema_id"/"value_schema_id": the key or value is JSON to encode
  // by that schema; -1: none.
  int32_t key_schema_id = -1;
  int32_t value_schema_id = -1;
};

// Decodes envelope lines. Not thread-safe; reuse one per input stream.
class EnvelopeDecoder {
 public:
  // REQUIRES: `line` is valid JSON (checked by the caller with simdjson).
  // Returns BadInput with a reason naming the offending field.
  Status Decode(std::string_view line, EnvelopeMessage* msg);

 private:
  // Decodes a payload span with its encoding into storage slot `slot`.
  Status Payload(std::string_view span, const std::optional<std::string>& encoding, const char* field,
                 std::optional<std::string_view>* out);
  std::string* Slot();

  std::deque<std::string> storage_;  // decoded bytes, reused; a deque keeps views valid
  size_t used_ = 0;
  std::string scratch_;
};

}  // namespace kpipe
