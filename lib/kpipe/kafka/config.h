// Kafka client configuration as every kpipe tool takes it (kpipe(7), KAFKA
// CONFIGURATION): properties files first ($XDG_CONFIG_HOME/kpipe/config,
// then $KPIPE_CONFIG, then each -F FILE in order), then -b (else
// $KPIPE_BROKERS, else localhost:9092 unless a file set bootstrap.servers),
// then each -X KEY=VALUE. Later settings win.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/schema/registry.h"
#include "kpipe/status.h"

namespace kpipe {

// The Kafka client flags shared by all tools (-b, -X, -F, -v).
struct KafkaFlags {
  std::string brokers;                   // -b
  std::vector<std::string> properties;   // -X KEY=VALUE
  std::vector<std::string> files;        // -F FILE
  bool verbose = false;                  // -v
  std::string registry;                  // --registry URL; empty: $KPIPE_REGISTRY, else schema.registry.url
  std::string registry_auth;             // --registry-auth USER:PASSWORD; empty: basic.auth.user.info
};

// How kwindow, kagg and kjoin read and write Kafka (kpipe(7), KAFKA INPUT
// AND OUTPUT): the client, the consumer group of their kafka: inputs, where
// those start and stop, and whether outputs are transactional. One struct,
// taken by value wherever it goes.
struct KafkaIo {
  KafkaFlags kafka;
  std::string group;         // -G; empty: no group, nothing committed
  std::string from;          // --from TIME: start at the first offset at or after it
  std::string until;         // --until TIME|end: stop there (end: the end offsets at start)
  bool exactly_once = false;  // --exactly-once: transactions tied to the checkpoints
  // A member of group `group` (kpipe(7), SCALING): --instance NAME, its
  // group.instance.id; --changelog TOPIC, where its state goes.
  std::string instance, changelog;
  // --value-format, --key-format: rows to a kafka: output (and their keys)
  // in a schema registry's wire format; nullopt: JSON.
  std::optional<schema::EncodeOptions> value_format, key_format;
};

using Properties = std::vector<std::pair<std::string, std::string>>;

// Resolves the flags, files and environment into an ordered property list.
// `defaults` come first, so anything the user sets overrides them;
// `overrides` (what the tool's own flags set, like -z) come after the files
// and -b, and only -X comes later.
Result<Properties> ResolveProperties(const KafkaFlags& flags, const Properties& defaults,
                                     const Properties& overrides = {});

// Reads a librdkafka properties file: KEY=VALUE lines, '#' comments.
Status ReadPropertiesFile(const std::string& path, Properties* out);

// The schema registry (kpipe(7), SCHEMAS): --registry, else
// $KPIPE_REGISTRY, else schema.registry.url in the configuration files;
// credentials from --registry-auth, else basic.auth.user.info (or
// schema.registry.basic.auth.user.info); a CA file from
// schema.registry.ssl.ca.location. An empty url: no registry.
Result<schema::RegistryOptions> ResolveRegistry(const KafkaFlags& flags);

// True for the properties of the schema registry, which are not
// librdkafka's: schema.registry.*, basic.auth.*.
bool IsRegistryProperty(std::string_view name);

// True for properties whose values must never be printed (passwords etc.).
bool IsSecretProperty(std::string_view name);

// The properties as "key=value" lines for -v, secrets masked.
std::string DescribeProperties(const Properties& props);

// The value of `name` in `props` (last wins), or `fallback`.
std::string PropertyValue(const Properties& props, std::string_view name,
                          std::string fallback = "");

}  // namespace kpipe
