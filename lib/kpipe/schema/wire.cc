#include "kpipe/schema/wire.h"

#include <fmt/format.h>

namespace kpipe::schema {

namespace {

int32_t IdOf(std::string_view bytes) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])); };
  return static_cast<int32_t>(b(1) << 24 | b(2) << 16 | b(3) << 8 | b(4));
}

void AppendHeader(std::string* out, int32_t id) {
  uint32_t u = static_cast<uint32_t>(id);
  out->push_back(0);
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((u >> shift) & 0xff));
}

}  // namespace

Result<WireDecoder::Codec*> WireDecoder::CodecOf(int32_t id) {
  if (auto it = codecs_.find(id); it != codecs_.end()) return &it->second;
  if (auto it = unknown_.find(id); it != unknown_.end()) return Status::BadInput(it->second);
  auto s = registry_->ById(id);
  if (!s.ok()) {
    // Asked once: a topic of ids this registry does not have (or keys of
    // another serializer that look like the wire format) is one request each.
    if (s.status().Is(Status::Code::kNotFound)) return Status::BadInput(unknown_[id] = s.status().message());
    return s.status();
  }
  Codec c;
  c.type = (*s)->type;
  if (c.type == SchemaType::kAvro) {
    auto a = AvroSchema::Parse((*s)->text, (*s)->references);
    if (!a.ok()) return Status::Remote(fmt::format("schema id {}: {}", id, a.status().message()));
    c.avro = std::move(*a);
  } else if (c.type == SchemaType::kProtobuf) {
    auto p = ProtobufSchema::Parse((*s)->text, (*s)->references);
    if (!p.ok()) return Status::Remote(fmt::format("schema id {}: {}", id, p.status().message()));
    c.proto = std::move(*p);
  }
  return &codecs_.emplace(id, std::move(c)).first->second;
}

Status WireDecoder::Decode(std::string_view bytes, std::string* json, int32_t* id) {
  *id = IdOf(bytes);
  auto c = CodecOf(*id);
  if (!c.ok()) return c.status();
  std::string_view datum = bytes.substr(5);
  json->clear();
  if ((*c)->type == SchemaType::kJson) {
    // Its own text, minified: numbers as written, whatever their size.
    size_t n = 0;
    json->resize(datum.size());
    if (!validator_.Valid(datum) ||
        simdjson::minify(datum.data(), datum.size(), json->data(), n) != simdjson::SUCCESS)
      return Status::BadInput(fmt::format("schema id {} (JSON Schema): the datum is not JSON", *id));
    json->resize(n);
    return Status::OK();
  }
  if ((*c)->type == SchemaType::kProtobuf) {
    Status st = (*c)->proto->Decode(datum, json);
    if (!st.ok()) return Status::BadInput(fmt::format("schema id {} (Protobuf): {}", *id, st.message()));
    return Status::OK();
  }
  Status st = (*c)->avro->Decode(datum, json);
  if (!st.ok()) return Status::BadInput(fmt::format("schema id {} (Avro): {}", *id, st.message()));
  return Status::OK();
}

Status WireEncoder::Check(Registry* registry, const EncodeOptions& opt) {
  WireEncoder local;  // the schema must compile here before the registry is asked
  KPIPE_RETURN_IF_ERROR(local.Compile(opt.type, opt.schema_text, {}, opt.schema_name));
  return registry->CheckCompatible(opt.subject, opt.type, opt.schema_text);
}

Result<std::unique_ptr<WireEncoder>> WireEncoder::Open(Registry* registry, const EncodeOptions& opt) {
  std::unique_ptr<WireEncoder> e(new WireEncoder());
  e->subject_ = opt.subject;
  std::string name = opt.schema_name.empty() ? opt.subject : opt.schema_name;
  if (!opt.schema_text.empty()) {
    // Compiled once, here, before the registry is asked anything.
    KPIPE_RETURN_IF_ERROR(e->Compile(opt.type, opt.schema_text, {}, name));
    KPIPE_RETURN_IF_ERROR(registry->CheckCompatible(opt.subject, opt.type, opt.schema_text));
    auto id = registry->Register(opt.subject, opt.type, opt.schema_text);
    if (!id.ok()) return id.status();
    e->id_ = *id;
    return e;
  }
  auto latest = registry->Latest(opt.subject);
  if (!latest.ok()) return latest.status();
  if (latest->type != opt.type)
    return Status::Usage(fmt::format("subject {} holds a {} schema, not {}", opt.subject,
                                     SchemaTypeName(latest->type), SchemaTypeName(opt.type)));
  e->id_ = latest->id;
  KPIPE_RETURN_IF_ERROR(e->Compile(opt.type, latest->text, latest->references, name));
  return e;
}

Result<std::unique_ptr<WireEncoder>> WireEncoder::ForId(Registry* registry, int32_t id) {
  auto s = registry->ById(id);
  if (!s.ok()) return s.status();
  std::unique_ptr<WireEncoder> e(new WireEncoder());
  e->subject_ = fmt::format("id {}", id);
  e->id_ = id;
  Status st = e->Compile((*s)->type, (*s)->text, (*s)->references, e->subject_);
  if (!st.ok()) return Status::Remote(fmt::format("schema id {}: {}", id, st.message()));
  return e;
}

// A usage error naming `name` (the schema's file, or its subject) when
// the schema does not compile.
Status WireEncoder::Compile(SchemaType type, const std::string& text, const std::vector<Reference>& references,
                            const std::string& name) {
  type_ = type;
  if (type == SchemaType::kAvro) {
    auto a = AvroSchema::Parse(text, references);
    if (!a.ok()) return Status::Usage(fmt::format("{}: {}", name, a.status().message()));
    avro_ = std::move(*a);
  } else if (type == SchemaType::kProtobuf) {
    auto p = ProtobufSchema::Parse(text, references);
    if (!p.ok()) return Status::Usage(fmt::format("{}: {}", name, p.status().message()));
    proto_ = std::move(*p);
  } else {
    auto j = json::Schema::Parse(text, name);
    if (!j.ok()) return j.status();
    json_ = std::move(*j);
  }
  return Status::OK();
}

Status WireEncoder::Encode(simdjson::dom::element value, std::string* out, std::string_view text) {
  out->clear();
  AppendHeader(out, id_);
  if (json_) {
    // What is checked is what is written: the text's own parse when it is
    // given (an envelope's "value" member, say, which a repeated key could
    // make another value than the element's).
    simdjson::dom::element parsed;
    if (!text.empty() && text_parser_.parse(text.data(), text.size()).get(parsed) == simdjson::SUCCESS) value = parsed;
    else text = {};
    std::string why;
    if (!json_->Validate(value, &why)) return Status::BadInput(fmt::format("schema {}: {}", subject_, why));
    size_t at = out->size(), n = 0;
    out->resize(at + text.size());
    if (text.empty() || simdjson::minify(text.data(), text.size(), out->data() + at, n) != simdjson::SUCCESS) {
      out->resize(at);
      out->append(simdjson::minify(value));  // (its numbers as doubles)
    } else {
      out->resize(at + n);
    }
    return Status::OK();
  }
  Status st = proto_ ? proto_->Encode(value, out) : avro_->Encode(value, out);
  if (!st.ok()) {
    const std::string& m = st.message();
    bool path = !m.empty() && (m[0] == '.' || m[0] == '[');
    return Status::BadInput(fmt::format("schema {}: {}{}", subject_, path ? "" : "(root): ", m));
  }
  return Status::OK();
}

// The tools check this first, naming their flags.
static Status NeedRegistry(const RegistryOptions& reg, const EncodeOptions* value, const EncodeOptions* key) {
  if (!reg.url.empty() || (!value && !key)) return Status::OK();
  return Status::Usage("encoding by a subject's schema needs a schema registry");
}

Status Encoders::CheckOnly(RegistryOptions reg, const EncodeOptions* value, const EncodeOptions* key) {
  KPIPE_RETURN_IF_ERROR(NeedRegistry(reg, value, key));
  auto r = Registry::Open(std::move(reg));
  if (!r.ok()) return r.status();
  for (const EncodeOptions* o : {value, key})
    if (o) KPIPE_RETURN_IF_ERROR(WireEncoder::Check(r->get(), *o));
  return Status::OK();
}

Result<std::unique_ptr<Encoders>> Encoders::Open(RegistryOptions reg, const EncodeOptions* value,
                                                 const EncodeOptions* key) {
  KPIPE_RETURN_IF_ERROR(NeedRegistry(reg, value, key));
  std::unique_ptr<Encoders> e(new Encoders());
  if (reg.url.empty()) return e;
  auto r = Registry::Open(std::move(reg));
  if (!r.ok()) return r.status();
  e->registry_ = std::move(*r);
  if (value) {
    auto v = WireEncoder::Open(e->registry_.get(), *value);
    if (!v.ok()) return v.status();
    e->value_ = std::move(*v);
  }
  if (key) {
    auto k = WireEncoder::Open(e->registry_.get(), *key);
    if (!k.ok()) return k.status();
    e->key_ = std::move(*k);
  }
  return e;
}

Status Encoders::Encode(WireEncoder* by_subject, simdjson::dom::element v, int32_t id, std::string* out,
                        std::string_view text) {
  if (id < 0) return by_subject ? by_subject->Encode(v, out, text) : Status::Internal("no schema to encode by");
  if (!registry_)
    return Status::BadInput(fmt::format("schema id {}: encoding by it needs a schema registry", id));
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    auto e = WireEncoder::ForId(registry_.get(), id);
    if (!e.ok()) {
      if (e.status().Is(Status::Code::kNotFound) || e.status().Is(Status::Code::kBadInput))
        return Status::BadInput(e.status().message());
      return e.status();
    }
    it = by_id_.emplace(id, std::move(*e)).first;
  }
  return it->second->Encode(v, out, text);
}

}  // namespace kpipe::schema
