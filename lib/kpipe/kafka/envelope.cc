#include "kpipe/kafka/envelope.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "kpipe/json/scan.h"
#include "kpipe/json/text.h"

namespace kpipe {

namespace {

const char* EncodingName(PayloadForm f) {
  return f == PayloadForm::kBase64 ? "base64" : "string";
}

// Whether a JSON text without blanks around it can begin, or end, with
// `c`: most keys that are not JSON ("u42", a name) are told so without a
// parse.
bool CanStartJson(char c) {
  return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n';
}
bool CanEndJson(char c) {
  return c == '}' || c == ']' || c == '"' || (c >= '0' && c <= '9') || c == 'e' || c == 'l';
}

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, p - buf);
}

}  // namespace

PayloadForm ClassifyPayload(const void* bytes, size_t len, json::Validator* v) {
  if (!bytes) return PayloadForm::kNull;
  std::string_view s(static_cast<const char*>(bytes), len);
  // The four bytes "null" are text here: embedded verbatim they would read
  // back as a Kafka null (a tombstone).
  if (s == "null") return PayloadForm::kString;
  if (len > 0 && CanStartJson(s.front()) && CanEndJson(s.back()) && !json::HasLineBreak(s) && v->Valid(s))
    return PayloadForm::kJson;
  return json::IsUtf8(s) ? PayloadForm::kString : PayloadForm::kBase64;
}

void AppendPayload(std::string* out, PayloadForm f, const void* bytes, size_t len) {
  std::string_view s(static_cast<const char*>(bytes), len);
  switch (f) {
    case PayloadForm::kNull: out->append("null"); break;
    case PayloadForm::kJson: out->append(s); break;
    case PayloadForm::kString: json::AppendQuoted(out, s); break;
    case PayloadForm::kBase64:
      out->push_back('"');
      json::AppendBase64(out, s);
      out->push_back('"');
      break;
  }
}

static EnvelopeFields FieldsOf(const rd_kafka_message_t* msg) {
  EnvelopeFields f;
  f.topic = rd_kafka_topic_name(msg->rkt);
  f.partition = msg->partition;
  f.offset = msg->offset;
  rd_kafka_timestamp_type_t tstype;
  int64_t ts = rd_kafka_message_timestamp(msg, &tstype);
  if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) {
    f.timestamp = ts;
    f.timestamp_type = tstype == RD_KAFKA_TIMESTAMP_CREATE_TIME ? "create" : "log_append";
  }
  f.key = msg->key;
  f.key_len = msg->key_len;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) f.headers = hdrs;
  f.value = msg->payload;
  f.value_len = msg->len;
  return f;
}

void AppendEnvelope(std::string* out, const rd_kafka_message_t* msg, json::Validator* v) {
  AppendEnvelope(out, FieldsOf(msg), v);
}

Status MessageLines::Append(std::string* out, const rd_kafka_message_t* m, bool envelope) {
  value_id_ = -1;
  int32_t key_id = -1;
  auto decode = [&](const void* bytes, size_t len, const char* what, std::string* json, int32_t* id) {
    Status st = wire_->Decode(std::string_view(static_cast<const char*>(bytes), len), json, id);
    if (st.ok()) return st;
    // Named as the other tools name a Kafka record: SOURCE:LINE, the offset
    // for the line.
    std::string where =
        fmt::format("kafka:{}/{}:{}: {}: ", rd_kafka_topic_name(m->rkt), m->partition, m->offset, what);
    if (st.Is(Status::Code::kBadInput)) return Status::BadInput(where + st.message());
    if (st.Is(Status::Code::kRemote)) return Status::Remote(where + st.message());
    return Status::NotFound(where + st.message());
  };
  value_error_.clear();
  if (wire_ && schema::IsWire(m->payload, m->len)) {
    Status st = decode(m->payload, m->len, "value", &value_, &value_id_);
    if (!st.ok() && (!envelope || !keep_undecodable_ || st.Is(Status::Code::kRemote))) return st;
    if (!st.ok()) {
      value_id_ = -1;
      size_t after = st.message().find(": value: ");  // the reason, without the message's place
      value_error_ = after == std::string::npos ? st.message() : st.message().substr(after + 9);
    }
  }
  if (!envelope) {
    if (value_id_ >= 0) out->append(value_);
    else AppendValueLine(out, m->payload, m->len, validator_);
    return Status::OK();
  }
  EnvelopeFields f = FieldsOf(m);
  if (wire_ && schema::IsWire(m->key, m->key_len)) {
    // Keys of other serializers often start with a zero byte (a big-endian
    // long under 2^56): a key that its first bytes do not decode stays as
    // it is. A value must decode.
    Status st = decode(m->key, m->key_len, "key", &key_, &key_id);
    if (st.ok()) {
      f.key = key_.data();
      f.key_len = key_.size();
      f.key_schema_id = key_id;
    } else if (!st.Is(Status::Code::kBadInput)) {
      return st;
    }
  }
  if (value_id_ >= 0) {
    f.value = value_.data();
    f.value_len = value_.size();
    f.value_schema_id = value_id_;
  }
  f.value_error = value_error_;
  // Kafka's header names are strings (UTF-8); bytes that are not have no
  // place in the envelope's JSON, nor a way back: named, not garbled.
  const char* name;
  const void* val;
  size_t size;
  for (size_t i = 0; f.headers && rd_kafka_header_get_all(f.headers, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
       i++)
    if (!json::IsUtf8(name))
      return Status::BadInput(fmt::format("kafka:{}/{}:{}: header {} has a name that is not UTF-8 (Kafka's header "
                                          "names are strings), which an envelope cannot carry",
                                          rd_kafka_topic_name(m->rkt), m->partition, m->offset, i + 1));
  AppendEnvelope(out, f, validator_);
  return Status::OK();
}

void AppendEnvelope(std::string* out, const EnvelopeFields& f, json::Validator* v) {
  out->append("{\"topic\":");
  json::AppendQuoted(out, f.topic);
  out->append(",\"partition\":");
  if (f.partition >= 0) AppendInt(out, f.partition);
  else out->append("null");
  out->append(",\"offset\":");
  if (f.offset >= 0) AppendInt(out, f.offset);
  else out->append("null");
  out->append(",\"timestamp\":");
  if (f.timestamp) AppendInt(out, *f.timestamp);
  else out->append("null");
  out->append(",\"timestamp_type\":\"");
  out->append(f.timestamp_type);
  out->push_back('"');
  PayloadForm kf = f.key_schema_id >= 0 ? PayloadForm::kJson : ClassifyPayload(f.key, f.key_len, v);
  out->append(",\"key\":");
  AppendPayload(out, kf, f.key, f.key_len);
  if (f.key_schema_id >= 0) {
    out->append(",\"key_schema_id\":");
    AppendInt(out, f.key_schema_id);
  } else if (kf == PayloadForm::kString || kf == PayloadForm::kBase64) {
    out->append(",\"key_encoding\":\"");
    out->append(EncodingName(kf));
    out->push_back('"');
  }
  out->append(",\"headers\":[");
  if (f.headers) {
    const char* name;
    const void* val;
    size_t size;
    for (size_t i = 0; rd_kafka_header_get_all(f.headers, i, &name, &val, &size) ==
                       RD_KAFKA_RESP_ERR_NO_ERROR;
         i++) {
      if (i) out->push_back(',');
      out->push_back('[');
      json::AppendQuoted(out, name);  // Kafka header names are UTF-8 strings
      out->push_back(',');
      PayloadForm hf = ClassifyPayload(val, size, v);
      AppendPayload(out, hf, val, size);
      if (hf == PayloadForm::kString || hf == PayloadForm::kBase64) {
        out->append(",\"");
        out->append(EncodingName(hf));
        out->push_back('"');
      }
      out->push_back(']');
    }
  }
  out->append("],\"value\":");
  PayloadForm vf = f.value_schema_id >= 0      ? PayloadForm::kJson
                   : !f.value_error.empty() ? PayloadForm::kBase64
                                            : ClassifyPayload(f.value, f.value_len, v);
  AppendPayload(out, vf, f.value, f.value_len);
  if (f.value_schema_id >= 0) {
    out->append(",\"value_schema_id\":");
    AppendInt(out, f.value_schema_id);
  } else if (vf == PayloadForm::kString || vf == PayloadForm::kBase64) {
    out->append(",\"value_encoding\":\"");
    out->append(EncodingName(vf));
    out->push_back('"');
  }
  if (!f.value_error.empty()) {
    out->append(",\"value_error\":");
    json::AppendQuoted(out, f.value_error);
  }
  out->push_back('}');
}

void AppendValueLine(std::string* out, const void* bytes, size_t len, json::Validator* v) {
  if (!bytes) {
    out->append("null");
    return;
  }
  std::string_view s(static_cast<const char*>(bytes), len);
  simdjson::dom::element e;
  if (len > 0 && v->Parse(s, &e) == simdjson::SUCCESS) {
    // Minified onto one line (kpipe(7)); the envelope, not this, is lossless.
    size_t at = out->size();
    out->resize(at + len);
    size_t n = 0;
    if (simdjson::minify(s.data(), len, out->data() + at, n) != simdjson::SUCCESS) {
      out->resize(at);
      out->append(s);
    } else {
      out->resize(at + n);
    }
    return;
  }
  AppendPayload(out, json::IsUtf8(s) ? PayloadForm::kString : PayloadForm::kBase64, bytes, len);
}

std::string* EnvelopeDecoder::Slot() {
  if (used_ == storage_.size()) storage_.emplace_back();
  return &storage_[used_++];
}

Status EnvelopeDecoder::Payload(std::string_view span, const std::optional<std::string>& encoding,
                                const char* field, std::optional<std::string_view>* out) {
  if (span == "null") {
    *out = std::nullopt;
    return Status::OK();
  }
  if (!encoding) {
    *out = span;  // embedded JSON: its bytes, verbatim
    return Status::OK();
  }
  if (encoding != "string" && encoding != "base64")
    return Status::BadInput(fmt::format(
        "envelope: unknown encoding '{}' for {} (expected string or base64)", *encoding, field));
  if (span.empty() || span[0] != '"')
    return Status::BadInput(fmt::format("envelope: {} with an encoding must be a string", field));
  std::string* slot = Slot();
  if (!json::Unquote(span, &scratch_))
    return Status::BadInput(fmt::format("envelope: bad string in {}", field));
  if (encoding == "string") {
    slot->swap(scratch_);
  } else if (!json::DecodeBase64(scratch_, slot)) {
    return Status::BadInput(fmt::format("envelope: {} is not valid base64", field));
  }
  *out = std::string_view(*slot);
  return Status::OK();
}

Status EnvelopeDecoder::Decode(std::string_view line, EnvelopeMessage* msg) {
  used_ = 0;
  *msg = EnvelopeMessage();
  json::ObjectReader obj(line);
  std::string_view k, v;
  std::string_view key_span = "null", value_span, headers_span, topic_span;
  std::optional<std::string> key_enc, value_enc;  // none: embedded JSON
  bool seen_any = false;
  // Each member by its name, escapes read (as simdjson reads it), and the
  // first of two with one name, as kwindow, kagg and kjoin take it.
  static constexpr std::string_view kFields[] = {"key",           "value",           "headers",      "topic",
                                                 "partition",     "timestamp",       "key_schema_id",
                                                 "value_schema_id", "key_encoding", "value_encoding"};
  uint32_t seen = 0;  // of kFields
  std::string buf;
  while (obj.Next(&k, &v)) {
    seen_any = true;
    std::string_view name = json::MemberName(k, &buf);
    const std::string_view* field = std::find(std::begin(kFields), std::end(kFields), name);
    if (field != std::end(kFields)) {
      uint32_t bit = 1u << (field - std::begin(kFields));
      if (seen & bit) continue;
      seen |= bit;
    }
    if (name == "key") {
      key_span = v;
    } else if (name == "value") {
      value_span = v;
    } else if (name == "headers") {
      headers_span = v;
    } else if (name == "topic") {
      topic_span = v;
    } else if (name == "partition" || name == "timestamp") {
      if (v == "null") continue;
      int64_t n;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size())
        return Status::BadInput(fmt::format("envelope: {} must be an integer", k));
      if (name == "partition") {
        if (n < 0 || n > INT32_MAX)
          return Status::BadInput("envelope: partition out of range");
        msg->partition = static_cast<int32_t>(n);
      } else {
        msg->timestamp = n;
      }
    } else if (name == "key_schema_id" || name == "value_schema_id") {
      if (v == "null") continue;
      int64_t n;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 0 || n > INT32_MAX)
        return Status::BadInput(fmt::format("envelope: {} must be a schema id", k));
      (name == "key_schema_id" ? msg->key_schema_id : msg->value_schema_id) = static_cast<int32_t>(n);
    } else if (name == "key_encoding" || name == "value_encoding") {
      std::optional<std::string>* dst = name == "key_encoding" ? &key_enc : &value_enc;
      if (!json::Unquote(v, &dst->emplace()))
        return Status::BadInput(fmt::format("envelope: {} must be a string", k));
    }
    // offset and timestamp_type are informational on produce.
  }
  if (!obj.ok() || !seen_any)
    return Status::BadInput("envelope: expected an object with a \"value\" field");
  // Required, so that a record that is not an envelope does not become a
  // tombstone (kproduce(1), Envelope lines).
  if (value_span.empty())
    return Status::BadInput("envelope: no \"value\" member (a tombstone is \"value\":null)");
  KPIPE_RETURN_IF_ERROR(Payload(key_span, key_enc, "key", &msg->key));
  KPIPE_RETURN_IF_ERROR(Payload(value_span, value_enc, "value", &msg->value));
  if (!topic_span.empty() && topic_span != "null") {
    std::string* slot = Slot();
    if (!json::Unquote(topic_span, slot))
      return Status::BadInput("envelope: topic must be a string");
    msg->topic = std::string_view(*slot);
  }
  if (!headers_span.empty() && headers_span != "null") {
    json::ArrayReader arr(headers_span);
    std::string_view h;
    while (arr.Next(&h)) {
      json::ArrayReader pair(h);
      std::string_view name_span, val_span, enc_span, more;
      std::optional<std::string> enc;
      bool has_enc = false;
      if (!pair.Next(&name_span) || !pair.Next(&val_span) || ((has_enc = pair.Next(&enc_span)) && pair.Next(&more)) ||
          !pair.ok())
        return Status::BadInput("envelope: each header must be [name, value] or [name, value, encoding]");
      if (has_enc && !json::Unquote(enc_span, &enc.emplace()))
        return Status::BadInput("envelope: header encoding must be a string");
      EnvelopeMessage::Header hdr;
      std::string* name = Slot();
      if (!json::Unquote(name_span, name))
        return Status::BadInput("envelope: header name must be a string");
      hdr.name = *name;
      KPIPE_RETURN_IF_ERROR(Payload(val_span, enc, "header value", &hdr.value));
      msg->headers.push_back(hdr);
    }
    if (!arr.ok()) return Status::BadInput("envelope: headers must be an array");
  }
  return Status::OK();
}

}  // namespace kpipe
