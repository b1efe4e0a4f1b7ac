// RunProduce: the work of kproduce(1). Each input line becomes one message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kpipe/json/output.h"
#include "kpipe/kafka/config.h"
#include "kpipe/json/schema.h"
#include "kpipe/schema/wire.h"
#include "kpipe/status.h"

namespace kpipe {

class SignalWatch;
namespace service {
class Monitor;
}

struct ProduceOptions {
  std::string topic;                  // -t; may be empty with --keep-topic
  std::vector<std::string> files;     // inputs; empty = stdin
  std::string key_path;               // -k
  bool envelope = false;              // --envelope
  bool keep_topic = false;            // --keep-topic
  bool raw = false;                   // --raw
  int64_t partition = -1;             // -p; -1 = partitioner
  std::vector<std::pair<std::string, std::string>> headers;  // -H NAME=VALUE
  std::string timestamp_path;         // --timestamp
  std::string compression;            // -z
  std::string acks;                   // --acks
  int64_t rate = 0;                   // --rate, messages/s; 0 = unlimited
  std::string transactional_id;       // --transactional-id
  int64_t txn_every = 0;              // --txn-every
  std::string dead_letter;            // --dead-letter FILE|kafka:TOPIC
  // --validate FILE: a line whose value does not fit is bad input; null: not checked.
  std::shared_ptr<const json::Schema> validate;
  // --value-format, --key-format: values (keys) encoded in a schema
  // registry's wire format by their subject's schema; nullopt: as they are.
  std::optional<schema::EncodeOptions> value_format, key_format;
  bool check_only = false;            // --check-only: ask the registry about the schemas, produce nothing
  KafkaFlags kafka;
  bool dry_run = false;               // --dry-run: envelope lines to dry_run_out
  Output* dry_run_out = nullptr;
  bool progress = false;              // draw progress (stderr is a TTY)
  service::Monitor* monitor = nullptr;  // systemd notify, --metrics (may be null)
  int connect_timeout_ms = 10'000;    // broker must answer metadata within this
};

struct ProduceStats {
  uint64_t lines = 0;          // input lines read
  uint64_t produced = 0;       // messages handed to the client
  uint64_t delivered = 0;      // acknowledged by the broker
  uint64_t failed = 0;         // delivery failed
  uint64_t dead_lettered = 0;
  uint64_t transactions = 0;   // committed
  uint64_t aborted = 0;        // transactions aborted
  uint64_t aborted_messages = 0;  // produced in them (delivered or not, never visible when committed is read)
  uint64_t control = 0;        // control records of an upstream kpipe tool, skipped
};

// Produces every line of the inputs. Returns OK only when every message was
// acknowledged. `diag` receives warnings for stderr (may be empty);
// `signals` (may be null) stops the run on SIGINT/SIGTERM.
Status RunProduce(const ProduceOptions& opt, SignalWatch* signals,
                  const std::function<void(const std::string&)>& diag, ProduceStats* stats);

}  // namespace kpipe
