// Registry: a client of a Confluent-compatible schema registry's REST API
// (Confluent Schema Registry, Apicurio's /apis/ccompat/v7, Redpanda,
// Karapace), over libcurl (kpipe(7), SCHEMAS).
//
// Schemas fetched by id are cached for the life of the object: an id names
// one schema forever. Credentials are sent as HTTP basic auth and never
// appear in a message. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kpipe/status.h"

namespace kpipe::schema {

struct RegistryOptions {
  std::string url;          // base URL; empty: no registry
  std::string user_info;    // USER:PASSWORD for basic auth; empty: none
  std::string ca_location;  // a CA file for https; empty: the system's
  int timeout_ms = 10'000;  // per request
};

// The schema types of the registry.
enum class SchemaType { kAvro, kJson, kProtobuf };
const char* SchemaTypeName(SchemaType t);  // "AVRO", "JSON", "PROTOBUF"

// How values (or keys) are encoded for a subject (kproduce --value-format,
// --output kafka: with it).
struct EncodeOptions {
  SchemaType type = SchemaType::kAvro;
  std::string subject;
  std::string schema_text;  // empty: the subject's latest version
  std::string schema_name;  // the schema's file, for messages
};

// A schema that another refers to: its name (a Protobuf import's path, an
// Avro type's name) and its text.
struct Reference {
  std::string name, text;
};

struct RegisteredSchema {
  int32_t id = -1;
  int32_t version = -1;  // when found through a subject
  SchemaType type = SchemaType::kAvro;
  std::string text;
  std::vector<Reference> references;  // the referenced schemas, dependencies first
};

class Registry {
 public:
  // IOError when libcurl cannot be set up; nothing is asked of the registry yet.
  static Result<std::unique_ptr<Registry>> Open(RegistryOptions opt);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The schema with this id. NotFound when the registry has none; IOError
  // when it cannot be asked.
  Result<const RegisteredSchema*> ById(int32_t id);
  // The latest version under `subject`. NotFound when there is none.
  Result<RegisteredSchema> Latest(const std::string& subject);
  // Registers `text` under `subject` (the registry returns the id it
  // already has for the same schema). Usage error with the registry's
  // reason when the subject's compatibility rule refuses it.
  Result<int32_t> Register(const std::string& subject, SchemaType type, const std::string& text);
  // Whether `text` may be registered under `subject`: OK, or a Usage error
  // saying why not. OK when the subject has no version yet.
  Status CheckCompatible(const std::string& subject, SchemaType type, const std::string& text);

  // The URL without credentials, for messages.
  const std::string& where() const { return where_; }

 private:
  struct Curl;
  explicit Registry(RegistryOptions opt);
  // One request; `*code` is the HTTP status. IOError when there is no answer.
  Status Call(const char* method, const std::string& path, const std::string& body, long* code,
              std::string* answer);
  // The registry's own message from an error answer.
  std::string Reason(const std::string& answer, long code) const;
  // OK for HTTP 200; else the answer about `subject` as an error.
  Status Refused(const std::string& subject, long code, const std::string& answer) const;
  Status References(const std::string& answer, std::vector<Reference>* refs, int depth);

  RegistryOptions opt_;
  std::string where_;
  std::unique_ptr<Curl> curl_;
  std::map<int32_t, std::unique_ptr<RegisteredSchema>> by_id_;
};

}  // namespace kpipe::schema
