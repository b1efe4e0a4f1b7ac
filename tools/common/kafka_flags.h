// The Kafka client flags of every tool (kpipe(7), KAFKA CONFIGURATION).
#pragma once

#include "kpipe/cli/flags.h"
#include "kpipe/kafka/config.h"

namespace kpipe::tools {

inline void AddKafkaFlags(cli::Command* cmd, KafkaFlags* flags) {
  cmd->Option({"-b,--brokers", "LIST",
               "Bootstrap brokers host:port,... (else $KPIPE_BROKERS, else localhost:9092)"},
              &flags->brokers);
  cmd->Repeated({"-X", "KEY=VALUE", "Set a librdkafka property (repeatable)"},
                &flags->properties);
  cmd->Repeated({"-F,--config", "FILE", "Read librdkafka properties from FILE (repeatable)",
                 cli::Complete::kFile},
                &flags->files);
  cmd->Switch({"-v,--verbose", "", "Print the client configuration and broker events on stderr"},
              &flags->verbose);
}

// The schema registry (kpipe(7), SCHEMAS): keys and values in its wire
// format are decoded into JSON (kconsume, kafka: inputs) or encoded
// (kproduce).
inline void AddRegistryFlags(cli::Command* cmd, KafkaFlags* flags) {
  cmd->Option({"--registry", "URL",
               "Schema registry for keys and values in its wire format (else $KPIPE_REGISTRY, "
               "else schema.registry.url)"},
              &flags->registry);
  cmd->Option({"--registry-auth", "USER:PASSWORD", "Basic auth for the schema registry (else basic.auth.user.info)"},
              &flags->registry_auth);
}

}  // namespace kpipe::tools
