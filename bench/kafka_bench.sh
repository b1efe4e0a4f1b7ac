#!/usr/bin/env bash
# kafka_bench.sh - kproduce/kconsume against kcat on a real Kafka broker.
#
# Usage: bench/kafka_bench.sh [-n LINES] [-r RUNS] [-c CONSUME_RUNS] [-k] [VAR=VALUE...]
#        bench/kafka_bench.sh -h
#
# What it does, in order:
#   1. Writes LINES deterministic JSON lines of ~64 bytes (bench/gen_lines.py,
#      seed 42) to $DIR/lines-LINES.jsonl, or reuses that file if present.
#   2. Creates 2*RUNS fresh 4-partition topics (bench/kadmin.py, confluent_kafka
#      AdminClient) and produces the whole file into one topic per run,
#      alternating  kproduce, kcat, kproduce, kcat, ...
#        kproduce -q -b BROKERS -t TOPIC FILE
#        kcat -P -b BROKERS -t TOPIC -l FILE
#      Both with no key and each tool's default settings (acks=all for both;
#      kproduce also enables idempotence and checks each line is JSON, kcat
#      sends the bytes as they are). A run counts only if it exits 0 and the
#      topic then holds exactly LINES messages (sum of the partitions' high
#      watermarks from `kconsume -L`); otherwise it is reported FAILED and
#      left out of the medians.
#   3. Reads every produced topic back once with each tool piped to `wc -lc`
#      (untimed; must give LINES lines and the file's byte count), then times
#      CONSUME_RUNS rounds of
#        kconsume -q -e -b BROKERS TOPIC                    > /dev/null
#        kcat -C -b BROKERS -t TOPIC -o beginning -e -q     > /dev/null
#      alternating, both tools on the same topic within a round, cycling over
#      the produced topics. A timed run counts only if it exits 0 and that
#      tool's untimed read of that topic had the right counts.
#   4. Prints every run, then a table of medians: msgs/s, MB/s (MB = 10^6
#      bytes of the input file, newlines included), peak RSS and CPU time,
#      and the ratios kproduce/kcat and kconsume/kcat against the goal:
#      throughput >= 1.3x kcat's, peak RSS not above kcat's, and for
#      consume CPU time not above kcat's (PASS/MISS).
#   5. Deletes the topics it created, unless KEEP=1.
#
# Each run is timed by `/usr/bin/time -f '%e %M %U %S'` (wall s, peak RSS KiB,
# user s, sys s) around `timeout RUN_TIMEOUT CMD` (the wrapper costs ~1 ms and
# its RSS is far below the tools'; peak RSS is the larger of the two).
# The broker runs on the same machine, so it competes with the tool for CPU.
#
# Options (each also settable as VAR=VALUE in the environment or as an argument):
#   -n, --lines N         N: lines in the data file (default 1000000)
#   -r, --runs R          RUNS: produce runs per tool (default 3)
#   -c, --consume-runs C  CONSUME_RUNS: consume runs per tool (default 2*RUNS,
#                         i.e. each produced topic once)
#   -k, --keep            KEEP=1: do not delete the topics at the end
#   -h, --help            print this and exit
# Environment:
#   KPIPE_BROKERS     bootstrap address (default 127.0.0.1:24092, the test
#                     broker of tests/kafka/broker.sh)
#   KPIPE_BENCH_DIR   scratch dir for the data file and logs (default build/bench)
#   KPRODUCE, KCONSUME, KCAT   the binaries (default build/kproduce,
#                     build/kconsume, kcat on PATH)
#   RUN_TIMEOUT       seconds before one run is killed (default 600)
#
# Needs: /usr/bin/time, kcat, jq and Debian's python3 with
# python3-confluent-kafka (all installed by scripts/install-deps.sh).
# Exit status: 0 when every run succeeded (whatever PASS/MISS says), 1 when a
# run FAILED, 2 on bad usage or a missing prerequisite.
#
# Examples:
#   bench/kafka_bench.sh                 # 1M lines, 3+3 produce, 6+6 consume runs
#   bench/kafka_bench.sh N=50000         # quick smoke run
#   N=200000 RUNS=5 bench/kafka_bench.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "kafka_bench.sh: $*" >&2; exit 2; }

N=${N:-1000000}
RUNS=${RUNS:-3}
CONSUME_RUNS=${CONSUME_RUNS:-}
KEEP=${KEEP:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}

while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n|--lines) (($# >= 2)) || die "$1 needs a value"; N=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    -c|--consume-runs) (($# >= 2)) || die "$1 needs a value"; CONSUME_RUNS=$2; shift ;;
    -k|--keep) KEEP=1 ;;
    N=*) N=${1#*=} ;;
    RUNS=*) RUNS=${1#*=} ;;
    CONSUME_RUNS=*) CONSUME_RUNS=${1#*=} ;;
    KEEP=*) KEEP=${1#*=} ;;
    RUN_TIMEOUT=*) RUN_TIMEOUT=${1#*=} ;;
    KPIPE_BROKERS=*) KPIPE_BROKERS=${1#*=} ;;
    KPIPE_BENCH_DIR=*) KPIPE_BENCH_DIR=${1#*=} ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
CONSUME_RUNS=${CONSUME_RUNS:-$((2 * RUNS))}
[[ $CONSUME_RUNS =~ ^[1-9][0-9]*$ ]] || die "CONSUME_RUNS must be a positive integer"
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive integer"

BROKERS=${KPIPE_BROKERS:-127.0.0.1:24092}
DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
KPRODUCE=${KPRODUCE:-$REPO/build/kproduce}
KCONSUME=${KCONSUME:-$REPO/build/kconsume}
KCAT=${KCAT:-kcat}
PARTITIONS=4

# ---- prerequisites: say how to get them, install nothing --------------------
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (GNU time); install it: apt-get install -y time"
command -v "$KCAT" >/dev/null || die "kcat missing; install it: apt-get install -y kcat"
command -v jq >/dev/null || die "jq missing; install it: apt-get install -y jq"
PY=${KPIPE_PYTHON:-/usr/bin/python3}
command -v "$PY" >/dev/null || die "$PY missing"
command -v timeout >/dev/null || die "timeout (coreutils) missing"
"$PY" -c 'import confluent_kafka' 2>/dev/null ||
  die "python module confluent_kafka missing; install it: pip install confluent-kafka"
[[ -x $KPRODUCE && -x $KCONSUME ]] ||
  die "no $KPRODUCE / $KCONSUME; build them: cmake --build $REPO/build -j2"
timeout 20 "$KCONSUME" -L -b "$BROKERS" >/dev/null 2>&1 ||
  die "broker $BROKERS does not answer (test broker: tests/kafka/broker.sh start)"

mkdir -p "$DIR"
LOG=$DIR/logs
mkdir -p "$LOG"
RESULTS=$DIR/results.tsv
: >"$RESULTS"

# ---- data --------------------------------------------------------------------
DATA=$DIR/lines-$N.jsonl
if [[ -s $DATA ]] && [[ $(wc -l <"$DATA") -eq $N ]]; then
  echo "data: reusing $DATA"
else
  echo "data: writing $N lines to $DATA"
  "$PY" "$HERE/gen_lines.py" "$N" "$DATA" 42
fi
BYTES=$(wc -c <"$DATA")
cat "$DATA" >/dev/null # into the page cache before the first timed run

# ---- topics ------------------------------------------------------------------
PREFIX=kpipe_bench_$(date +%s)_$$
CREATED=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if ((${#CREATED[@]})); then
    if [[ $KEEP == 1 ]]; then
      echo "KEEP=1: topics kept: ${CREATED[*]}"
    else
      "$PY" "$HERE/kadmin.py" "$BROKERS" delete "${CREATED[@]}" ||
        echo "kafka_bench.sh: could not delete topics: ${CREATED[*]}" >&2
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PTOPICS=() PTOOLS=()
for ((r = 1; r <= RUNS; r++)); do
  for tool in kproduce kcat; do
    PTOPICS+=("${PREFIX}_r${r}_$tool")
    PTOOLS+=("$tool")
  done
done
CREATED=("${PTOPICS[@]}") # set before creating, so a half-done create is cleaned up
"$PY" "$HERE/kadmin.py" "$BROKERS" create "$PARTITIONS" "${PTOPICS[@]}" ||
  die "could not create the topics"

echo "broker $BROKERS, $N lines, $BYTES bytes, $PARTITIONS partitions per topic"
echo "kproduce: $KPRODUCE ($("$KPRODUCE" -V | tr '\n' ' '))"
echo "kcat:     $(command -v "$KCAT") ($("$KCAT" -V 2>&1 | sed -n 's/^Version //p'))"

# timed OUT LOGNAME CMD...: run CMD under /usr/bin/time with stdout to OUT.
# Sets T_RC (exit status of CMD) and T_MEAS ("wall_s rss_kib user_s sys_s").
timed() {
  local out=$1 name=$2 tf
  shift 2
  tf=$LOG/$name.time
  T_RC=0
  /usr/bin/time -f '%e %M %U %S' -o "$tf" \
    timeout -k 10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$LOG/$name.err" || T_RC=$?
  T_MEAS=$(tail -n 1 "$tf")
}

# Messages in TOPIC: sum of its partitions' high watermarks.
hw_sum() {
  "$KCONSUME" -L -b "$BROKERS" "$1" | jq -s 'map(.high) | add // 0'
}

record() { # phase tool run topic status wall rss user sys
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }

show_err() {
  [[ -s $LOG/$1.err ]] && sed 's/^/    | /' "$LOG/$1.err" | head -n 5
  return 0
}

FAILED=0

# ---- produce -----------------------------------------------------------------
echo
echo "== produce: $RUNS runs per tool, alternating =="
OKTOPICS=()
for i in "${!PTOPICS[@]}"; do
  topic=${PTOPICS[i]} tool=${PTOOLS[i]} run=$((i / 2 + 1))
  case $tool in
    kproduce) cmd=("$KPRODUCE" -q -b "$BROKERS" -t "$topic" "$DATA") ;;
    kcat) cmd=("$KCAT" -P -b "$BROKERS" -t "$topic" -l "$DATA") ;;
  esac
  name=produce-$run-$tool
  timed /dev/null "$name" "${cmd[@]}"
  read -r wall rss user sys <<<"$T_MEAS"
  count=$(hw_sum "$topic" 2>/dev/null) || count=error
  if ((T_RC == 0)) && [[ $count == "$N" ]]; then
    status=OK
    OKTOPICS+=("$topic")
  else
    status=FAILED
    FAILED=1
  fi
  record produce "$tool" "$run" "$topic" "$status" "$wall" "$rss" "$user" "$sys"
  printf '  run %d %-9s %-6s %7.2f s  %8d KiB  cpu %6.2f s  exit %d  messages %s\n' \
    "$run" "$tool" "$status" "$wall" "$rss" "$(add "$user" "$sys")" "$T_RC" "$count"
  [[ $status == OK ]] || show_err "$name"
done

# ---- consume -----------------------------------------------------------------
consume_cmd() { # tool topic -> sets cmd
  case $1 in
    kconsume) cmd=("$KCONSUME" -q -e -b "$BROKERS" "$2") ;;
    kcat) cmd=("$KCAT" -C -b "$BROKERS" -t "$2" -o beginning -e -q) ;;
  esac
}

declare -A VERIFIED=()
if ((${#OKTOPICS[@]} == 0)); then
  echo "no topic was produced correctly: nothing to consume" >&2
else
  echo
  echo "== consume: untimed check of every topic (expect $N lines, $BYTES bytes) =="
  for topic in "${OKTOPICS[@]}"; do
    for tool in kconsume kcat; do
      consume_cmd "$tool" "$topic"
      got=$(timeout -k 10 "$RUN_TIMEOUT" "${cmd[@]}" 2>"$LOG/check-$tool.err" | wc -lc) || true
      read -r lines bytes <<<"$got"
      if [[ $lines == "$N" && $bytes == "$BYTES" ]]; then
        VERIFIED[$tool/$topic]=1
        verdict=OK
      else
        verdict=FAILED
      fi
      printf '  %-9s %s: %s lines, %s bytes %s\n' "$tool" "$topic" "$lines" "$bytes" "$verdict"
      [[ $verdict == OK ]] || show_err "check-$tool"
    done
  done

  echo
  echo "== consume: $CONSUME_RUNS runs per tool, alternating, to /dev/null =="
  for ((r = 1; r <= CONSUME_RUNS; r++)); do
    topic=${OKTOPICS[(r - 1) % ${#OKTOPICS[@]}]}
    for tool in kconsume kcat; do
      consume_cmd "$tool" "$topic"
      name=consume-$r-$tool
      timed /dev/null "$name" "${cmd[@]}"
      read -r wall rss user sys <<<"$T_MEAS"
      if ((T_RC == 0)) && [[ -n ${VERIFIED[$tool/$topic]:-} ]]; then
        status=OK
      else
        status=FAILED
        FAILED=1
      fi
      record consume "$tool" "$r" "$topic" "$status" "$wall" "$rss" "$user" "$sys"
      printf '  run %d %-9s %-6s %7.2f s  %8d KiB  cpu %6.2f s  exit %d  topic %s\n' \
        "$r" "$tool" "$status" "$wall" "$rss" "$(add "$user" "$sys")" "$T_RC" "${topic#"${PREFIX}"_}"
      [[ $status == OK ]] || show_err "$name"
    done
  done
fi

# ---- report ------------------------------------------------------------------
echo
"$PY" "$HERE/bench_report.py" "$RESULTS" "$N" "$BYTES" "$BROKERS" "$PARTITIONS"
echo "(per-run data: $RESULTS; stderr and time files: $LOG)"
exit "$FAILED"
