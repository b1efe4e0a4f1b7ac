#!/usr/bin/env bash
# scale_bench.sh - kagg as members of a consumer group (kpipe(7), SCALING) on
# a real Kafka broker: how fast a partition's state comes back from the
# changelog, how long a joining member waits before it reads, and what 1, 2
# and 3 members read together.
#
# Usage: bench/scale_bench.sh [VAR=VALUE...]
#        bench/scale_bench.sh -h
#
# What it does (bench/scale_bench.py), on 12-partition topics it creates and
# deletes (KEEP=1 keeps them):
#   1. Restore: KEYS records with distinct users (default 1,000,000), keyed by
#      user, go through one member
#        kagg -G G --by user -a count -a sum:amount kafka:TOPIC
#      which is stopped with SIGTERM once the group's committed offsets reach
#      the end (its final commit writes every key to the changelog); a fresh
#      member of the same group then restores all 12 partitions. Prints the
#      entries read and the seconds its -v log reports ("restored 12
#      partitions, E entries in S s": reading the changelog to its end and
#      loading the operators), keys/s, and PASS when 1M keys take <= 10 s
#      (scaled for other KEYS).
#   2. Rebalance pause: PAUSE_KEYS keys a partition (default 100,000, so
#      1.2M in all) held by a live member (--emit changes) while records keep
#      arriving (20,000 every 0.25 s); a second member starts, and the time
#      from its start to its first row (process start, joining the group,
#      the cooperative rebalance, restoring the partitions it gets) is one
#      sample; it is stopped (SIGTERM, its partitions go back) and, once the
#      live member has restored them (its -v log), this is done again,
#      PAUSE_RUNS times in all (default 5). Prints p50 and p99 (with 5 runs,
#      the largest) and PASS when p99 <= 2 s.
#   3. Throughput: RECORDS records (default 3,000,000, 1% distinct users)
#      read by 1, 2 and 3 members started together (--checkpoint-every
#      100ms). Joining the group is timed apart, from the start to the first
#      partition assigned (their -v logs); the throughput is timed from then
#      until the group's committed offsets reach the end (polled every 0.1
#      s). Prints both, records/s, the ratio to one member and the members'
#      CPU seconds; then one process with --state DIR -G (the single-owner
#      mode, no changelog) with --until end on the same topic, timed whole
#      (its start has no group to join), for the cost of the changelog. On 2
#      cores with the broker on the same machine, more members mostly share
#      the same cores.
#
# Environment: KPIPE_BROKERS (default 127.0.0.1:24092, the broker of
# tests/kafka/broker.sh), KPIPE_BIN (default build), KEYS, PAUSE_KEYS,
# PAUSE_RUNS, RECORDS, KEEP.
# Needs: Debian's python3 with python3-confluent-kafka
# (scripts/install-deps.sh installs it) and a running broker.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
for a in "$@"; do
  case $a in
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    *=*) export "${a?}" ;;
    *) echo "scale_bench.sh: unknown argument: $a" >&2; exit 2 ;;
  esac
done
export KPIPE_BIN=${KPIPE_BIN:-$REPO/build}
PY=${KPIPE_PYTHON:-/usr/bin/python3}
"$PY" -c 'import confluent_kafka' 2>/dev/null || { echo "scale_bench.sh: python3-confluent-kafka missing" >&2; exit 2; }
[[ -x $KPIPE_BIN/kagg && -x $KPIPE_BIN/kproduce ]] || { echo "scale_bench.sh: build first: cmake --build build -j2" >&2; exit 2; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$HERE/scale_bench.py"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
