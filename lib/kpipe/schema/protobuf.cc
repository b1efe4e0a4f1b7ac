#include "kpipe/schema/protobuf.h"

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include "kpipe/json/text.h"

namespace kpipe::schema {

namespace pb = google::protobuf;

namespace {

// The first error of a .proto's tokenizer or parser, with its place.
class FirstError : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (what.empty()) what = fmt::format("line {}, column {}: {}", line + 1, column + 1, message);
  }
  std::string what;
};

// The first error of building a file into a pool.
class BuildError : public pb::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element, const pb::Message*,
                ErrorLocation, const std::string& message) override {
    if (what.empty()) what = fmt::format("{}: {}{}", filename, element.empty() ? "" : element + ": ", message);
  }
  std::string what;
};

// Whether null is a value of field type `f` (or of a map's value field):
// google.protobuf.Value's null, and google.protobuf.NullValue's.
bool NullIsAValue(const pb::FieldDescriptor* f) {
  if (f->message_type()) return f->message_type()->well_known_type() == pb::Descriptor::WELLKNOWNTYPE_VALUE;
  return f->enum_type() && f->enum_type()->full_name() == "google.protobuf.NullValue";
}

// A null where protobuf's JSON mapping allows none: an element of a
// repeated field or a map's value (libprotobuf's C++ parser drops the one
// and writes the other as its default, where the mapping, and the Python
// parser, refuse both). `path` names the place, as .a.b[1]. A field whose
// name the message lacks is left to the parser, as is any type but these.
std::string NullNotAllowed(simdjson::dom::element v, const pb::Descriptor* d, const std::string& path) {
  simdjson::dom::object obj;
  if (v.get_object().get(obj) != simdjson::SUCCESS) return {};
  if (d->well_known_type() != pb::Descriptor::WELLKNOWNTYPE_UNSPECIFIED) return {};  // Struct, Value, ...
  for (simdjson::dom::key_value_pair m : obj) {
    std::string name(m.key);
    const pb::FieldDescriptor* f = d->FindFieldByName(name);
    for (int i = 0; !f && i < d->field_count(); i++)
      if (d->field(i)->json_name() == name) f = d->field(i);
    if (!f) continue;
    std::string at = path + "." + name;
    const pb::Descriptor* sub = f->message_type();
    if (f->is_map()) {
      simdjson::dom::object entries;
      if (m.value.get_object().get(entries) != simdjson::SUCCESS) continue;
      const pb::FieldDescriptor* value = sub->map_value();
      for (simdjson::dom::key_value_pair e : entries) {
        std::string where = at + "[" + std::string(e.key) + "]";
        const pb::Descriptor* vt = value->message_type();
        if (e.value.is_null() && !NullIsAValue(value)) return where;
        if (vt) {
          std::string inner = NullNotAllowed(e.value, value->message_type(), where);
          if (!inner.empty()) return inner;
        }
      }
    } else if (f->is_repeated()) {
      simdjson::dom::array items;
      if (m.value.get_array().get(items) != simdjson::SUCCESS) continue;
      size_t i = 0;
      for (simdjson::dom::element e : items) {
        std::string where = fmt::format("{}[{}]", at, i++);
        if (e.is_null() && !NullIsAValue(f)) return where;
        if (sub) {
          std::string inner = NullNotAllowed(e, sub, where);
          if (!inner.empty()) return inner;
        }
      }
    } else if (sub) {
      std::string inner = NullNotAllowed(m.value, sub, at);
      if (!inner.empty()) return inner;
    }
  }
  return {};
}

bool IsBase64(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return false;
  return true;
}

// A schema's text as a FileDescriptorProto named `name`.
Status ToFileProto(std::string_view text, const std::string& name, pb::FileDescriptorProto* out) {
  std::string bytes;
  if (IsBase64(text) && json::DecodeBase64(text, &bytes) && out->ParseFromString(bytes)) {
    if (!name.empty()) out->set_name(name);
    if (out->name().empty()) out->set_name("schema.proto");
    return Status::OK();
  }
  out->Clear();
  pb::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
  FirstError errors;
  pb::io::Tokenizer tokenizer(&in, &errors);
  pb::compiler::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.Parse(&tokenizer, out))
    return Status::BadInput(fmt::format("Protobuf schema {}: {}", name.empty() ? "" : name, errors.what));
  out->set_name(name.empty() ? "schema.proto" : name);
  return Status::OK();
}

bool ReadVarint(std::string_view* s, int64_t* v) {
  uint64_t u = 0;
  for (int shift = 0; !s->empty() && shift < 64; shift += 7) {
    uint8_t b = static_cast<uint8_t>(s->front());
    s->remove_prefix(1);
    u |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);  // zigzag
      return true;
    }
  }
  return false;
}

}  // namespace

struct ProtobufSchema::Impl {
  pb::DescriptorPool pool;
  pb::DynamicMessageFactory factory{&pool};
  const pb::FileDescriptor* file = nullptr;
  std::unique_ptr<pb::Message> scratch;  // of the first message, reused by Encode
  std::string json;

  // Builds `fdp` after the files it imports: known ones, or the
  // well-known types that libprotobuf was built with.
  Status Build(const pb::FileDescriptorProto& fdp, const pb::FileDescriptor** built) {
    for (const std::string& dep : fdp.dependency()) {
      if (pool.FindFileByName(dep)) continue;
      const pb::FileDescriptor* known = pb::DescriptorPool::generated_pool()->FindFileByName(dep);
      if (!known) return Status::BadInput(fmt::format("Protobuf schema {}: imports {}, which the registry did not refer to",
                                                      fdp.name(), dep));
      pb::FileDescriptorProto p;
      known->CopyTo(&p);
      const pb::FileDescriptor* ignored;
      KPIPE_RETURN_IF_ERROR(Build(p, &ignored));
    }
    if ((*built = pool.FindFileByName(fdp.name()))) return Status::OK();
    BuildError errors;
    *built = pool.BuildFileCollectingErrors(fdp, &errors);
    if (!*built) return Status::BadInput("Protobuf schema " + errors.what);
    return Status::OK();
  }
};

ProtobufSchema::ProtobufSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProtobufSchema::~ProtobufSchema() = default;

Result<std::unique_ptr<ProtobufSchema>> ProtobufSchema::Parse(std::string_view text,
                                                              const std::vector<Reference>& references) {
  auto impl = std::make_unique<Impl>();
  for (const Reference& r : references) {
    pb::FileDescriptorProto fdp;
    KPIPE_RETURN_IF_ERROR(ToFileProto(r.text, r.name, &fdp));
    const pb::FileDescriptor* f;
    KPIPE_RETURN_IF_ERROR(impl->Build(fdp, &f));
  }
  pb::FileDescriptorProto fdp;
  KPIPE_RETURN_IF_ERROR(ToFileProto(text, "", &fdp));
  KPIPE_RETURN_IF_ERROR(impl->Build(fdp, &impl->file));
  if (impl->file->message_type_count() == 0)
    return Status::BadInput(fmt::format("Protobuf schema {}: no message", impl->file->name()));
  return std::unique_ptr<ProtobufSchema>(new ProtobufSchema(std::move(impl)));
}

Status ProtobufSchema::Decode(std::string_view bytes, std::string* json) {
  int64_t count;
  if (!ReadVarint(&bytes, &count) || count < 0 || count > 100)
    return Status::BadInput("the message indexes are truncated or out of range");
  std::vector<int64_t> path;
  if (count == 0) path.push_back(0);
  for (int64_t i = 0; i < count; i++) {
    int64_t v;
    if (!ReadVarint(&bytes, &v)) return Status::BadInput("the message indexes are truncated");
    path.push_back(v);
  }
  const pb::Descriptor* d = nullptr;
  for (size_t i = 0; i < path.size(); i++) {
    int64_t at = path[i];
    int n = i == 0 ? impl_->file->message_type_count() : d->nested_type_count();
    if (at < 0 || at >= n) return Status::BadInput(fmt::format("no message at index {} of the schema", at));
    d = i == 0 ? impl_->file->message_type(static_cast<int>(at)) : d->nested_type(static_cast<int>(at));
  }
  std::unique_ptr<pb::Message> m(impl_->factory.GetPrototype(d)->New());
  if (!m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Status::BadInput(fmt::format("the datum is not a {} message (truncated?)", d->full_name()));
  pb::util::JsonPrintOptions opt;
  opt.preserve_proto_field_names = true;
  opt.always_print_primitive_fields = true;
  json->clear();
  auto st = pb::util::MessageToJsonString(*m, json, opt);
  if (!st.ok()) return Status::BadInput(fmt::format("{}: {}", d->full_name(), std::string(st.message())));
  return Status::OK();
}

Status ProtobufSchema::Encode(simdjson::dom::element value, std::string* out) {
  const pb::Descriptor* d = impl_->file->message_type(0);
  if (!impl_->scratch) impl_->scratch.reset(impl_->factory.GetPrototype(d)->New());
  pb::Message* m = impl_->scratch.get();
  m->Clear();
  std::string where = NullNotAllowed(value, d, "");
  if (!where.empty())
    return Status::BadInput(fmt::format("{}: {}: null is not allowed here (an element of a repeated field, or a "
                                        "map's value)", d->full_name(), where));
  std::string json = simdjson::minify(value);
  pb::util::JsonParseOptions opt;
  opt.ignore_unknown_fields = false;
  auto st = pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), m, opt);
  if (!st.ok()) return Status::BadInput(fmt::format("{}: {}", d->full_name(), std::string(st.message())));
  out->push_back(0);  // the indexes: the first message
  if (!m->AppendToString(out)) return Status::BadInput(fmt::format("{}: a required field is missing", d->full_name()));
  return Status::OK();
}

}  // namespace kpipe::schema
