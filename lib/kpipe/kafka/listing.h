// The listings of kconsume(1): -L (partitions with their offsets) and --lag
// (a consumer group's committed offsets against the end offsets), each row a
// JSON line written to `out`. `rk` is a connected client; not thread-safe.
#pragma once

#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kpipe/json/output.h"
#include "kpipe/status.h"

namespace kpipe {

// One row per partition of `topic` (of every non-internal topic when empty):
// {"topic","partition","leader","replicas","isr","low","high","messages"}.
Status ListPartitions(rd_kafka_t* rk, const std::string& topic, int timeout_ms, Output* out);

// One row per partition {"group","topic","partition","committed","end","lag"}:
// every partition of `topics` when given (committed null where the group has
// none), else every partition the group has committed offsets for.
Status ListGroupLag(rd_kafka_t* rk, const std::string& group,
                    const std::vector<std::string>& topics, int timeout_ms, Output* out);

}  // namespace kpipe
