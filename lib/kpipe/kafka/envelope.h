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
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/json/text.h"
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
};

// Appends the envelope line (without '\n').
void AppendEnvelope(std::string* out, const EnvelopeFields& f, json::Validator* v);
void AppendEnvelope(std::string* out, const rd_kafka_message_t* msg, json::Validator* v);

// Appends the value alone as kconsume writes it without --envelope: JSON
// minified, other UTF-8 as a JSON string, other bytes as a base64 JSON
// string, a null value as null.
void AppendValueLine(std::string* out, const void* bytes, size_t len, json::Validator* v);

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
};

// Decodes envelope lines. Not thread-safe; reuse one per input stream.
class EnvelopeDecoder {
 public:
  // REQUIRES: `line` is valid JSON (checked by the caller with simdjson).
  // Returns BadInput with a reason naming the offending field.
  Status Decode(std::string_view line, EnvelopeMessage* msg);

 private:
  // Decodes a payload span with its encoding into storage slot `slot`.
  Status Payload(std::string_view span, std::string_view encoding, const char* field,
                 std::optional<std::string_view>* out);
  std::string* Slot();

  std::deque<std::string> storage_;  // decoded bytes, reused; a deque keeps views valid
  size_t used_ = 0;
  std::string scratch_;
};

}  // namespace kpipe
