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

}  // namespace kpipe::tools
