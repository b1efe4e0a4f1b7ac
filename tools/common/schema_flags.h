// --value-format, --key-format and their subjects and schemas: kproduce's
// messages, and the rows of kwindow, kagg and kjoin to --output kafka:
// (kpipe(7), SCHEMAS).
#pragma once

#include <optional>
#include <string>

#include <fmt/format.h>

#include "kpipe/cli/flags.h"
#include "kpipe/kafka/config.h"
#include "kpipe/schema/registry.h"
#include "kpipe/status.h"
#include "tools/common/validate.h"

namespace kpipe::tools {

struct FormatFlags {
  std::string format, subject, schema;
};

struct SchemaFlags {
  FormatFlags value, key;
};

// `what`: what is encoded, for the help ("values", "rows").
inline void AddSchemaFlags(cli::Command* cmd, SchemaFlags* f, const char* what, const char* keys) {
  cmd->Option({"--value-format", "FORMAT",
               fmt::format("Encode {} in the registry's wire format: avro, protobuf or json (JSON Schema)", what),
               cli::Complete::kChoices, {"avro", "protobuf", "json"}},
              &f->value.format);
  cmd->Option({"--subject", "NAME", "Subject of the value schema (default: TOPIC-value)"}, &f->value.subject);
  cmd->Option({"--schema", "FILE", "Register this value schema under the subject (default: its latest version)",
               cli::Complete::kFile},
              &f->value.schema);
  cmd->Option({"--key-format", "FORMAT", fmt::format("Encode keys ({}) the same way: avro, protobuf or json", keys),
               cli::Complete::kChoices, {"avro", "protobuf", "json"}},
              &f->key.format);
  cmd->Option({"--key-subject", "NAME", "Subject of the key schema (default: TOPIC-key)"}, &f->key.subject);
  cmd->Option({"--key-schema", "FILE", "Register this key schema under the key subject", cli::Complete::kFile},
              &f->key.schema);
}

// One of them into `*out` (left empty without a format). `which` is
// "value" or "key"; `topic` names the default subject TOPIC-value/-key.
inline Status ResolveFormat(const FormatFlags& f, const std::string& which, const std::string& topic,
                            std::optional<schema::EncodeOptions>* out) {
  std::string flag = "--" + which + "-format";
  std::string prefix = which == "value" ? "--" : "--key-";
  if (f.format.empty()) {
    if (!f.subject.empty() || !f.schema.empty())
      return Status::Usage(fmt::format("{}subject and {}schema need {}", prefix, prefix, flag));
    return Status::OK();
  }
  schema::EncodeOptions e;
  if (f.format == "avro") e.type = schema::SchemaType::kAvro;
  else if (f.format == "json") e.type = schema::SchemaType::kJson;
  else if (f.format == "protobuf") e.type = schema::SchemaType::kProtobuf;
  else return Status::Usage(fmt::format("{} {}: expected avro, protobuf or json", flag, f.format));
  e.subject = f.subject;
  if (e.subject.empty()) {
    // Confluent's default, TopicNameStrategy.
    if (topic.empty()) return Status::Usage(fmt::format("{} without a topic needs {}subject", flag, prefix));
    e.subject = topic + "-" + which;
  }
  if (!f.schema.empty()) {
    auto text = ReadWholeFile(f.schema);
    if (!text.ok()) return Status::Usage(prefix + "schema " + text.status().message());
    e.schema_text = std::move(*text);
    e.schema_name = f.schema;
  }
  *out = std::move(e);
  return Status::OK();
}

// --value-format and --key-format need a registry; `flags` name it.
inline Status NeedRegistry(const KafkaFlags& flags, bool formats) {
  if (!formats) return Status::OK();
  auto r = ResolveRegistry(flags);
  if (!r.ok()) return r.status();
  if (!r->url.empty()) return Status::OK();
  return Status::Usage("--value-format and --key-format need a schema registry: --registry URL, "
                       "$KPIPE_REGISTRY or schema.registry.url");
}

}  // namespace kpipe::tools
