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

// One row per partition of `topics` (of every non-internal topic when
// empty), in topic order:
// {"topic","partition","leader","replicas","isr","low","high","messages"}.
// NotFound names a topic that does not exist.
Status ListPartitions(rd_kafka_t* rk, const std::vector<std::string>& topics, int timeout_ms, Output* out);

// One row per partition {"group","topic","partition","committed","end","lag"}:
// every partition of `topics` when given, else of every topic the group has
// committed offsets in; committed null (and the lag every message the
// partition holds) where the group has none.
Status ListGroupLag(rd_kafka_t* rk, const std::string& group,
                    const std::vector<std::string>& topics, int timeout_ms, Output* out);

}  // namespace kpipe
