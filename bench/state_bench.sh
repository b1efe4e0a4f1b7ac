#!/usr/bin/env bash
# state_bench.sh - what durable state costs kagg and kwindow: throughput with
# --state, checkpoint pauses with many keys, and end-to-end latency on Kafka.
#
# Usage: bench/state_bench.sh [throughput|pause|latency|all]... [OPTIONS] [VAR=VALUE...]
#        bench/state_bench.sh -h
#
# Parts (default: all, in this order):
#
#   throughput  The cost of --state on a file. bench/gen_events.py writes EVENTS
#      (default 5,000,000) lines of ~62 bytes to $DIR/events-EVENTS.jsonl (or
#      reuses it): {"ts":1732441201983,"user":"u089","amount":41.66,"id":2},
#      1,000 users, ~500 events/s of event time. RUNS rounds (default 5) run,
#      one after the other and in alternating order (in-memory first in odd
#      rounds, --state first in even ones):
#        kagg    -v --by user -a count -a sum:amount FILE
#        kagg    -v --by user -a count -a sum:amount --state SDIR --checkpoint-every IVL FILE
#        kwindow -v --tumble 10s --time ts --by user -a count -a sum:amount FILE
#        kwindow -v --tumble 10s --time ts --by user -a count -a sum:amount --state SDIR --checkpoint-every IVL FILE
#      IVL is 1s by default: ten times as often as the tools' default of 10s,
#      so that checkpoints happen within a run of a few seconds. SDIR is a
#      fresh, empty directory for every run (removed after it, untimed). Rows
#      go to a file. Each run is timed like the other benchmarks (wall from
#      $EPOCHREALTIME, CPU and peak RSS from /usr/bin/time). Every run's rows
#      must be byte-identical to the first in-memory run's of that tool, and
#      every --state run must print at least its first and last checkpoint.
#      The checkpoints of each run are counted from its -v lines (one before
#      reading, one at the end of the input, the rest by the timer).
#      Reported: events/s = EVENTS / median wall, per tool and variant, and
#      the loss = 1 - (events/s with --state) / (events/s in memory), with the
#      median of the per-round losses beside it; the checkpoints per run and
#      the time in them. At 4-6M events/s a run of 5M events lasts about a
#      second, so it has one timer checkpoint at most: the report says so
#      (NOTE) when there are fewer than 3, and then the loss is mostly the
#      fixed cost of --state; -n 25000000 gives several.
#      Goal: loss <= 2 % for each tool.
#
#   pause  The pause of one checkpoint with 1,000,000 keys. bench/gen_keys.py
#      writes PAUSE_RECORDS (default 3,000,000) lines {"key":"k0004711","v":523}
#      over KEYS (default 1,000,000) keys, every key once in the first KEYS
#      lines, then uniformly. Runs, once each:
#        kagg -v --by key -a count -a sum:v FILE                  (in memory, timed)
#        kagg -v --by key -a count -a sum:v --state SDIR --checkpoint-every 200ms FILE
#      The second one under bench/ckpt_pause.py, which reads the -v lines
#      ("kagg: checkpoint N: MS ms, BYTES bytes written") as they come, and
#      reads with each how far kagg has read FILE (/proc/PID/fdinfo). Counted
#      are the checkpoints made once every key exists (the previous
#      checkpoint's read position already 2 MiB past the line that completes
#      the key set); not counted: the one before reading, the ramp-up, the
#      one at the end of the input. The run stops at the end of the input,
#      after PAUSE_SAMPLES counted checkpoints (default 50) or after
#      PAUSE_TIMEOUT seconds (default 60), with SIGTERM; the checkpoint made
#      on SIGTERM is not counted. Then the same with CMP_KEYS (default
#      100,000) keys, for comparison.
#      Reported: count, p50, p90, p99 and max of the counted pauses in ms; the
#      bytes written the -v lines give (median and max; with incremental
#      checkpoints this is what one checkpoint wrote, not the whole state);
#      the size of SDIR on disk; the share of the run spent in checkpoints and
#      the read rate against the in-memory run's. As checks of the tool's
#      own timing: a pause longer than the wall-clock time since the line
#      before it (+2 ms) is reported as inconsistent, and for a run that read
#      its whole input the time outside the pauses is printed beside the
#      in-memory run's (they should be about equal).
#      Goal: p99 <= 10 ms with KEYS keys (CMP_KEYS is for information).
#
#   latency  End-to-end latency through the broker, with the low-latency
#      settings that kagg(1) documents (linger.ms=1 on both producers):
#        latency_probe.py gen | kproduce -t IN -X linger.ms=1
#        kagg kafka:IN --by id -a max:sent_us --emit changes --output kafka:OUT \
#             -X linger.ms=1
#        kconsume OUT | latency_probe.py read
#      The generator (python3, stdlib only) writes {"id":N,"sent_us":T}, T being
#      time.time_ns()//1000 at the write: first a probe line (id 0), and waits
#      until the reader has seen it (every process up and connected), then
#      WARMUP seconds (default 10, not counted: a broker started a moment ago
#      is still compiling its hot paths) and LAT_SECONDS (default 10) at RATE
#      lines/s (default 2000) on a fixed schedule. The reader notes the
#      receive time of every row; latency = receive time - sent_us (one
#      clock, one machine). Every id is its own key, so each row of kagg is
#      the first of its key and carries its record's sent_us. linger.ms=1
#      lets a message wait up to 1 ms for others to share its produce request
#      (the tools' defaults: 20 ms in kproduce, 5 in kagg); the consumers keep
#      librdkafka's fetch.min.bytes=1, so a fetch returns as soon as a message
#      is there.
#      Then, for comparison, "linger0": linger.ms=0 for both producers (one
#      produce request per message) and fetch.wait.max.ms=1 for both consumers;
#      and "defaults": the tools' settings, no -X at all (fetch.wait.max.ms 100).
#      Fresh topics of 1 partition each for every run, created and deleted by
#      bench/kadmin.py. Every measured id must arrive exactly once, and
#      kproduce and kagg must report every line in and out.
#      Reported: received/expected, p50, p90, p99, max and mean in ms, how far
#      the generator ever fell behind its schedule, and the CPU time kagg,
#      kconsume and the broker (when it runs on this machine) used meanwhile.
#      The broker's garbage collector is printed and named in the goal line:
#      its pauses stop every produce and fetch, and they are most of the tail
#      (bench/README.md). tests/kafka/broker.sh starts the broker with G1, as
#      Kafka's own scripts do; KPIPE_BROKER_GC=-XX:+UseZGC starts it with ZGC.
#      Goal: p99 <= 10 ms with the low-latency settings (the others: information).
#
# The machine has 2 cores, and the broker, the tools and the Python ends share
# them: anything else running (a compiler, tests) skews all of this. Each
# part prints the load average before and after, and the CPU time that other
# processes (not this script's, not the broker's) took during it, with a
# WARNING when that exceeds 10 % of one core.
# The tools are copied to $DIR/state-bin first, so that a rebuild during the
# run cannot mix two builds; their checksums are printed.
#
# Options (each also settable as VAR=VALUE in the environment or as an argument):
#   -n, --events N          EVENTS for throughput (default 5000000)
#   -r, --runs R            RUNS: throughput rounds (default 5)
#   -i, --interval DUR      IVL: --checkpoint-every of throughput (default 1s)
#   -k, --keys K            KEYS for pause (default 1000000)
#   --cmp-keys K            CMP_KEYS for pause (default 100000; 0: skip)
#   --pause-records N       PAUSE_RECORDS (default 3000000, at least KEYS)
#   --samples S             PAUSE_SAMPLES (default 50)
#   --pause-timeout T       PAUSE_TIMEOUT seconds per pause run (default 60)
#   --rate R                RATE lines/s for latency (default 2000)
#   --seconds S             LAT_SECONDS measured (default 10)
#   --warmup S              WARMUP seconds (default 10)
#   --variants LIST         LAT_VARIANTS: the latency runs, in order (default
#                           "linger1 linger0 defaults"; see part "latency")
#   --tap                   TAP=1: in the low-latency run, also read IN with a second
#                           kconsume and reader, and print that
#                           latency too (kproduce -> broker -> kconsume, no kagg): it
#                           shows which hop a tail comes from, but adds a process and
#                           a consumer to the 2 cores, so it is off by default
#   --keep                  KEEP=1: keep the topics and state directories
#   -h, --help              print this and exit
# Environment:
#   KPIPE_BROKERS     bootstrap address for latency (default 127.0.0.1:24092,
#                     the test broker of tests/kafka/broker.sh)
#   KPIPE_BIN         where the tools are (default build/)
#   KAGG, KWINDOW, KPRODUCE, KCONSUME   the binaries, overriding the above
#   KPIPE_BENCH_DIR   scratch dir for data, outputs and logs (default build/bench)
#   RUN_TIMEOUT       seconds before one throughput run is killed (default 600)
#
# Needs: /usr/bin/time, python3; for latency a broker and Debian's
# python3-confluent-kafka (bench/kadmin.py). Disk: ~320 MB for the 5M-event
# file, ~110 MB for the two key files, and the state directories.
# Exit status: 0 when every run succeeded and every check agreed (whatever
# PASS/MISS says), 1 when a run failed or a check disagreed, 2 on bad usage or
# a missing prerequisite.
#
# Examples:
#   bench/state_bench.sh                       # all three parts
#   bench/state_bench.sh throughput -n 25000000  # several timer checkpoints per run
#   bench/state_bench.sh throughput -n 1000000 -r 3
#   bench/state_bench.sh pause --samples 100
#   KPIPE_BROKERS=127.0.0.1:24092 bench/state_bench.sh latency --rate 5000
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

source "$HERE/lib.sh"
die() { echo "state_bench.sh: $*" >&2; exit 2; }

EVENTS=${EVENTS:-5000000}
RUNS=${RUNS:-5}
IVL=${IVL:-1s}
KEYS=${KEYS:-1000000}
CMP_KEYS=${CMP_KEYS:-100000}
PAUSE_RECORDS=${PAUSE_RECORDS:-3000000}
PAUSE_SAMPLES=${PAUSE_SAMPLES:-50}
PAUSE_TIMEOUT=${PAUSE_TIMEOUT:-60}
RATE=${RATE:-2000}
LAT_SECONDS=${LAT_SECONDS:-10}
WARMUP=${WARMUP:-10}
LAT_VARIANTS=${LAT_VARIANTS:-linger1 linger0 defaults}
TAP=${TAP:-0}
KEEP=${KEEP:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
PARTS=()

while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    throughput|pause|latency) PARTS+=("$1") ;;
    all) PARTS+=(throughput pause latency) ;;
    -n|--events) (($# >= 2)) || die "$1 needs a value"; EVENTS=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    -i|--interval) (($# >= 2)) || die "$1 needs a value"; IVL=$2; shift ;;
    -k|--keys) (($# >= 2)) || die "$1 needs a value"; KEYS=$2; shift ;;
    --cmp-keys) (($# >= 2)) || die "$1 needs a value"; CMP_KEYS=$2; shift ;;
    --pause-records) (($# >= 2)) || die "$1 needs a value"; PAUSE_RECORDS=$2; shift ;;
    --samples) (($# >= 2)) || die "$1 needs a value"; PAUSE_SAMPLES=$2; shift ;;
    --pause-timeout) (($# >= 2)) || die "$1 needs a value"; PAUSE_TIMEOUT=$2; shift ;;
    --rate) (($# >= 2)) || die "$1 needs a value"; RATE=$2; shift ;;
    --seconds) (($# >= 2)) || die "$1 needs a value"; LAT_SECONDS=$2; shift ;;
    --warmup) (($# >= 2)) || die "$1 needs a value"; WARMUP=$2; shift ;;
    --variants) (($# >= 2)) || die "$1 needs a value"; LAT_VARIANTS=$2; shift ;;
    --tap) TAP=1 ;;
    --keep) KEEP=1 ;;
    EVENTS=*|RUNS=*|IVL=*|KEYS=*|CMP_KEYS=*|PAUSE_RECORDS=*|PAUSE_SAMPLES=*|PAUSE_TIMEOUT=*|RATE=*|\
    LAT_SECONDS=*|WARMUP=*|LAT_VARIANTS=*|TAP=*|KEEP=*|RUN_TIMEOUT=*|KPIPE_BROKERS=*|KPIPE_BIN=*|\
    KAGG=*|KWINDOW=*|KPRODUCE=*|KCONSUME=*|KPIPE_BENCH_DIR=*) declare "${1%%=*}=${1#*=}" ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
((${#PARTS[@]})) || PARTS=(throughput pause latency)
want() { [[ " ${PARTS[*]} " == *" $1 "* ]]; }

posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer, not '$2'"; }
posint EVENTS "$EVENTS"
posint RUNS "$RUNS"
posint KEYS "$KEYS"
posint PAUSE_RECORDS "$PAUSE_RECORDS"
posint PAUSE_SAMPLES "$PAUSE_SAMPLES"
posint PAUSE_TIMEOUT "$PAUSE_TIMEOUT"
posint RATE "$RATE"
posint LAT_SECONDS "$LAT_SECONDS"
posint RUN_TIMEOUT "$RUN_TIMEOUT"
[[ $CMP_KEYS =~ ^[0-9]+$ ]] || die "CMP_KEYS must be a number, not '$CMP_KEYS'"
[[ $WARMUP =~ ^[0-9]+([.][0-9]+)?$ ]] || die "WARMUP must be a number of seconds, not '$WARMUP'"
[[ $IVL =~ ^[0-9]+(ms|s|m)$ ]] || die "IVL must be a duration like 1s or 500ms, not '$IVL'"
((PAUSE_RECORDS >= KEYS && PAUSE_RECORDS >= CMP_KEYS)) || die "PAUSE_RECORDS must be at least KEYS and CMP_KEYS"
for v in $LAT_VARIANTS; do
  [[ $v == linger1 || $v == linger0 || $v == defaults ]] || die "unknown latency variant '$v' (linger1, linger0, defaults)"
done

DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
BIN=${KPIPE_BIN:-$REPO/build}
PY=${KPIPE_PYTHON:-/usr/bin/python3}
BROKERS=${KPIPE_BROKERS:-127.0.0.1:24092}

# ---- prerequisites: say how to get them, install nothing --------------------
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (GNU time); install it: apt-get install -y time"
command -v "$PY" >/dev/null || die "$PY missing"
command -v timeout >/dev/null || die "timeout (coreutils) missing"
KAGG=${KAGG:-$BIN/kagg}
KWINDOW=${KWINDOW:-$BIN/kwindow}
KPRODUCE=${KPRODUCE:-$BIN/kproduce}
KCONSUME=${KCONSUME:-$BIN/kconsume}
NEED=(kagg)
want throughput && NEED+=(kwindow)
want latency && NEED+=(kproduce kconsume)
for t in "${NEED[@]}"; do
  v=${t^^}
  [[ -x ${!v} ]] || die "no ${!v}; build it: cmake --build build -j2"
done
if want latency; then
  "$PY" -c 'import confluent_kafka' 2>/dev/null ||
    die "python module confluent_kafka missing (for bench/kadmin.py); install python3-confluent-kafka"
fi

mkdir -p "$DIR"
LOG=$DIR/state-logs
OUT=$DIR/state-out
SBIN=$DIR/state-bin
mkdir -p "$LOG" "$OUT" "$SBIN"
rm -f "$LOG"/* "$OUT"/*
if want latency; then
  # A broker started a moment ago may still be loading its partitions, and
  # fails the listing for a few seconds: try for up to 30 s.
  deadline=$((SECONDS + 30))
  until timeout 20 "$KCONSUME" -L -b "$BROKERS" >/dev/null 2>"$LOG/broker-probe.err"; do
    ((SECONDS < deadline)) ||
      die "broker $BROKERS does not answer ($(tail -n 1 "$LOG/broker-probe.err"); test broker: tests/kafka/broker.sh start; then KPIPE_BROKERS=ADDR)"
    sleep 1
  done
fi

# Snapshot of the tools: a rebuild during the run must not mix two builds.
for t in "${NEED[@]}"; do
  v=${t^^}
  cp "${!v}" "$SBIN/$t.tmp" && mv "$SBIN/$t.tmp" "$SBIN/$t"
  declare "$v=$SBIN/$t"
done

FAILED=0
SUMMARY=()   # goal lines for the end
# cpu_ticks: "busy ours broker" in clock ticks: every CPU's non-idle time
# from /proc/stat; this script's own CPU time with that of its waited-for
# children (every process it starts is waited for); the broker's, when it
# runs here (found by its listening port with ss; else 0).
BROKER_PID=""
if command -v ss >/dev/null; then
  BROKER_PID=$(ss -Hltnp "sport = :${BROKERS##*:}" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
fi
proc_ticks() { # PID [children too]: utime + stime (+ cutime + cstime)
  awk -v c="${2:-0}" '{ sub(/^.*\) /, ""); print $12 + $13 + (c ? $14 + $15 : 0) }' "/proc/$1/stat" 2>/dev/null || echo 0
}
cpu_ticks() {
  echo "$(awk 'NR == 1 { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat) $(proc_ticks $$ 1)" \
    "$(if [[ -n $BROKER_PID ]]; then proc_ticks "$BROKER_PID"; else echo 0; fi)"
}

# broker_gc: the collector the broker's JVM was started with, from its command
# line (the JVM's default, G1, when none is named); "unknown" when the broker
# does not run on this machine.
broker_gc() {
  [[ -n $BROKER_PID && -r /proc/$BROKER_PID/cmdline ]] || { echo unknown; return 0; }
  local a gc=G1 opts=""
  while IFS= read -r -d '' a; do
    case $a in
      -XX:+UseG1GC) gc=G1 ;;
      -XX:+UseZGC) gc=ZGC ;;
      -XX:+UseShenandoahGC) gc=Shenandoah ;;
      -XX:+UseParallelGC) gc=Parallel ;;
      -XX:+UseSerialGC) gc=Serial ;;
      -XX:MaxGCPauseMillis=*) opts+=" ${a#-XX:}" ;;
    esac
  done <"/proc/$BROKER_PID/cmdline"
  [[ $gc == G1 ]] || opts=""
  echo "$gc$opts"
}

# loadavg before|after: the load average; and how much CPU time processes
# other than this script's and the broker's used from "before" to "after",
# with a warning when that is more than 10 % of one core.
PART_T0=0 PART_TICKS=""
loadavg() {
  echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) $1"
  if [[ $1 == before ]]; then
    PART_T0=$EPOCHREALTIME
    PART_TICKS=$(cpu_ticks)
    return 0
  fi
  local b0 o0 k0 b1 o1 k1 hz share k x pc
  read -r b0 o0 k0 <<<"$PART_TICKS"
  read -r b1 o1 k1 <<<"$(cpu_ticks)"
  hz=$(getconf CLK_TCK)
  share=$(awk -v b="$((b1 - b0))" -v o="$((o1 - o0))" -v k="$((k1 - k0))" -v hz="$hz" -v t0="$PART_T0" \
    -v t1="$EPOCHREALTIME" 'BEGIN { x = (b - o - k) / hz; if (x < 0) x = 0
      printf "%.1f %.1f %.0f", k / hz, x, 100 * x / (t1 - t0) }')
  read -r k x pc <<<"$share"
  echo "others:   ${x} CPU-s used by other processes during the part (${pc} % of one core);" \
    "the broker${BROKER_PID:+ (pid $BROKER_PID)}: ${k} CPU-s"
  if ((pc > 10)); then
    echo "WARNING: something else kept the machine busy: the figures above are skewed by it;"
    echo "         rerun when the machine is quiet"
  fi
}

echo "state_bench.sh: parts: ${PARTS[*]}"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "kagg:     $("$KAGG" --version 2>&1 | head -n 1), cksum $(cksum <"$KAGG" | cut -d' ' -f1)"
want throughput && echo "kwindow:  $("$KWINDOW" --version 2>&1 | head -n 1), cksum $(cksum <"$KWINDOW" | cut -d' ' -f1)"
if want latency; then
  echo "kproduce: $("$KPRODUCE" --version 2>&1 | head -n 1), cksum $(cksum <"$KPRODUCE" | cut -d' ' -f1)"
  echo "kconsume: $("$KCONSUME" --version 2>&1 | head -n 1), cksum $(cksum <"$KCONSUME" | cut -d' ' -f1)"
fi

# ---- cleanup: processes started by the latency part, topics, state dirs ------
PIDS=()
CREATED=()
STATE_DIRS=()
FIFO_DIR=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # a tool making its SIGTERM checkpoint gets 10 s, then SIGKILL
    timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  if ((${#CREATED[@]})); then
    if [[ $KEEP == 1 ]]; then
      echo "KEEP=1: topics kept: ${CREATED[*]}"
    else
      "$PY" "$HERE/kadmin.py" "$BROKERS" delete "${CREATED[@]}" ||
        echo "state_bench.sh: could not delete topics: ${CREATED[*]}" >&2
    fi
  fi
  if [[ $KEEP != 1 ]]; then
    for d in "${STATE_DIRS[@]}"; do rm -rf "$d"; done
  fi
  [[ -n $FIFO_DIR ]] && rm -rf "$FIFO_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fresh_state NAME: SD=$DIR/state-runs/NAME, which does not exist (the tool
# creates it); removed at exit unless KEEP=1.
fresh_state() {
  SD=$DIR/state-runs/$1
  rm -rf "$SD"
  mkdir -p "$DIR/state-runs"
  STATE_DIRS+=("$SD")
}

# ==== part 1: throughput ========================================================
part_throughput() {
  echo
  echo "======== 1. throughput: in memory vs --state --checkpoint-every $IVL ========"
  loadavg before
  local data=$DIR/events-$EVENTS.jsonl
  if [[ -s $data ]] && [[ $(wc -l <"$data") -eq $EVENTS ]]; then
    echo "data: reusing $data"
  else
    echo "data: writing $EVENTS events to $data"
    "$PY" "$HERE/gen_events.py" -n "$EVENTS" "$data"
  fi
  local bytes
  bytes=$(wc -c <"$data")
  cat "$data" >/dev/null # into the page cache before the first timed run
  echo "$EVENTS events, $bytes bytes; $RUNS rounds; state runs checkpoint every $IVL (the default"
  echo "is 10s: ten times as often here, so that checkpoints fall within runs of a few seconds)"
  local res=$DIR/state-throughput.tsv
  : >"$res"
  local r tool variant order sd name out wall rss user sys status ck ckms sdbytes
  for ((r = 1; r <= RUNS; r++)); do
    if ((r % 2)); then order=(mem state); else order=(state mem); fi
    for tool in kagg kwindow; do
      for variant in "${order[@]}"; do
        local -a cmd
        case $tool in
          kagg) cmd=("$KAGG" -v --by user -a count -a sum:amount) ;;
          kwindow) cmd=("$KWINDOW" -v --tumble 10s --time ts --by user -a count -a sum:amount) ;;
        esac
        name=tp-$tool-$variant-$r
        sd=""
        if [[ $variant == state ]]; then
          fresh_state "$name"
          sd=$SD
          cmd+=(--state "$sd" --checkpoint-every "$IVL")
        fi
        cmd+=("$data")
        out=$OUT/$name.jsonl
        sync
        timed "$out" "$name" "${cmd[@]}"
        read -r wall rss user sys <<<"$T_MEAS"
        status=OK
        ((T_RC == 0)) || status=FAILED
        ck=$(grep -c ': checkpoint [0-9]*: ' "$LOG/$name.err" || true)
        ckms=$(sed -n 's/.*: checkpoint [0-9]*: \([0-9.]*\) ms.*/\1/p' "$LOG/$name.err" | awk '{ s += $1 } END { printf "%.1f", s }')
        sdbytes=0
        if [[ -n $sd ]]; then
          sdbytes=$(du -sb "$sd" | cut -f1)
          rm -rf "$sd"
          if ((ck < 2)) && [[ $status == OK ]]; then
            status=FAILED
            echo "    $name printed $ck checkpoint lines; expected at least 2 (before reading, at the end)"
          fi
        elif ((ck != 0)); then
          status=FAILED
          echo "    $name (in memory) printed checkpoint lines"
        fi
        if [[ $status == OK ]]; then
          if [[ $variant == mem && ! -e $OUT/tp-$tool.ref ]]; then
            mv "$out" "$OUT/tp-$tool.ref"
          elif ! cmp -s "$out" "$OUT/tp-$tool.ref"; then
            status=FAILED
            echo "    rows of $name differ from the first in-memory run's ($OUT/tp-$tool.ref)"
          else
            rm -f "$out"
          fi
        fi
        [[ $status == OK ]] || FAILED=1
        printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$variant" "$r" "$status" \
          "$wall" "$rss" "$user" "$sys" "$ck" "$ckms" "$sdbytes" >>"$res"
        printf '  round %d %-8s %-6s %-6s %7.3f s  user %5.2f s  sys %5.2f s  %7d KiB  checkpoints %2d (%7.1f ms)  exit %d\n' \
          "$r" "$tool" "$variant" "$status" "$wall" "$user" "$sys" "$rss" "$ck" "$ckms" "$T_RC"
        [[ $status == OK ]] || show_err "$name"
      done
    done
  done
  loadavg after
  echo
  local goals
  goals=$("$PY" - "$res" "$EVENTS" "$IVL" <<'PYEOF'
import statistics, sys
path, n, ivl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
GOAL = 2.0  # % loss, at most
runs = []
with open(path) as f:
    for line in f:
        tool, variant, r, status, wall, rss, user, sys_, ck, ckms, sdb = line.rstrip("\n").split("\t")
        runs.append(dict(tool=tool, variant=variant, r=int(r), ok=status == "OK", wall=float(wall),
                         rss=int(rss), cpu=float(user) + float(sys_), ck=int(ck), ckms=float(ckms), sdb=int(sdb)))
print("medians of the OK runs; events/s = %d / median wall; loss = 1 - state/memory" % n)
hdr = "%-8s %-14s %7s %9s %9s %9s %12s %8s %12s" % ("tool", "variant", "ok/runs", "wall s", "(min)", "(max)",
                                                  "events/s", "RSS MiB", "cpu s")
print(hdr)
print("-" * len(hdr))
out = []
for tool in ("kagg", "kwindow"):
    S = {}
    for variant in ("mem", "state"):
        a = [x for x in runs if x["tool"] == tool and x["variant"] == variant]
        ok = [x for x in a if x["ok"]]
        s = dict(ok=len(ok), runs=len(a))
        if ok:
            s.update(wall=statistics.median(x["wall"] for x in ok), lo=min(x["wall"] for x in ok),
                     hi=max(x["wall"] for x in ok), rss=statistics.median(x["rss"] for x in ok) / 1024,
                     cpu=statistics.median(x["cpu"] for x in ok), ck=statistics.median(x["ck"] for x in ok),
                     ckms=statistics.median(x["ckms"] for x in ok), sdb=statistics.median(x["sdb"] for x in ok))
            s["eps"] = n / s["wall"]
        S[variant] = s
        label = "in memory" if variant == "mem" else "--state " + ivl
        if ok:
            print("%-8s %-14s %7s %9.3f %9.3f %9.3f %12.0f %8.1f %12.3f" % (
                tool, label, "%d/%d" % (s["ok"], s["runs"]), s["wall"], s["lo"], s["hi"], s["eps"], s["rss"], s["cpu"]))
        else:
            print("%-8s %-14s %7s %s" % (tool, label, "%d/%d" % (s["ok"], s["runs"]), "n/a"))
    m, st = S["mem"], S["state"]
    if m["ok"] and st["ok"]:
        loss = 100.0 * (1 - st["eps"] / m["eps"])
        rounds = sorted(set(x["r"] for x in runs))
        per = []
        for r in rounds:
            a = [x for x in runs if x["tool"] == tool and x["r"] == r and x["ok"]]
            mm = [x for x in a if x["variant"] == "mem"]
            ss = [x for x in a if x["variant"] == "state"]
            if mm and ss:
                per.append(100.0 * (1 - mm[0]["wall"] / ss[0]["wall"]))
        timed_ck = st["ck"] - 2
        print("%-8s loss %.1f %% (median of the per-round losses %.1f %%: %s)" % (
            tool, loss, statistics.median(per) if per else float("nan"), " ".join("%.1f" % p for p in per)))
        print("%-8s --state runs: %.0f checkpoints per run (median; 1 before reading, 1 at the end, %.0f by the %s timer),"
              " %.1f ms in checkpoints per run, %.0f KiB on disk after the run; CPU %+.1f %%, RSS %+.1f MiB"
              % (tool, st["ck"], timed_ck, ivl, st["ckms"], st["sdb"] / 1024, 100.0 * (st["cpu"] / m["cpu"] - 1),
                 st["rss"] - m["rss"]))
        if timed_ck < 3:
            print("%-8s NOTE: a run lasts %.1f s, so only %.0f checkpoint(s) by the timer: the loss is mostly the fixed"
                  " cost of --state (opening the RocksDB directory, the first and last checkpoints);"
                  " use a larger -n for more checkpoints per run" % (tool, st["wall"], timed_ck))
        out.append("%s\t%s\t%.1f %%\t<= %.0f %%\t%s" % ("throughput", "%s loss with --state --checkpoint-every %s" % (tool, ivl),
                                                     loss, GOAL, "PASS" if loss <= GOAL else "MISS"))
    else:
        out.append("throughput\t%s loss with --state\tn/a\t<= %.0f %%\tMISS" % (tool, GOAL))
print("@@")
print("\n".join(out))
PYEOF
)
  sed '/^@@$/,$d' <<<"$goals"
  while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed '1,/^@@$/d' <<<"$goals")
}

# ==== part 2: checkpoint pause ==================================================
pause_one() { # KEYS
  local k=$1 data off name sd res
  data=$DIR/keys-$PAUSE_RECORDS-k$k.jsonl
  if [[ -s $data ]] && [[ $(wc -l <"$data") -eq $PAUSE_RECORDS ]]; then
    echo "data: reusing $data"
  else
    echo "data: writing $PAUSE_RECORDS records over $k keys to $data"
    "$PY" "$HERE/gen_keys.py" -n "$PAUSE_RECORDS" -k "$k" "$data"
  fi
  off=$(head -n "$k" "$data" | wc -c)
  cat "$data" >/dev/null
  local bytes
  bytes=$(wc -c <"$data")
  echo "$PAUSE_RECORDS records ($bytes bytes) over $k keys; every key exists after byte $off (line $k)"
  name=pause-k$k
  # in memory, for the read rate without checkpoints
  timed "$OUT/$name-mem.jsonl" "$name-mem" "$KAGG" -v --by key -a count -a sum:v "$data"
  local mwall mrss
  read -r mwall mrss _ <<<"$T_MEAS"
  if ((T_RC != 0)) || [[ $(wc -l <"$OUT/$name-mem.jsonl") -ne $k ]]; then
    echo "  in memory: FAILED (exit $T_RC, $(wc -l <"$OUT/$name-mem.jsonl") rows, expected $k)"
    show_err "$name-mem"
    FAILED=1
    return
  fi
  printf '  in memory:  %.3f s, %.2f MB/s, %d KiB peak RSS\n' "$mwall" \
    "$(awk -v b="$bytes" -v w="$mwall" 'BEGIN { printf "%.2f", b / 1e6 / w }')" "$mrss"
  fresh_state "$name"
  sd=$SD
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  # in the background, so that a signal to this script is handled at once
  "$PY" "$HERE/ckpt_pause.py" --input "$data" --after-bytes "$off" --samples "$PAUSE_SAMPLES" \
    --timeout "$PAUSE_TIMEOUT" --stdout "$OUT/$name-state.jsonl" --tsv "$LOG/$name.tsv" -- \
    "$KAGG" -v --by key -a count -a sum:v --state "$sd" --checkpoint-every 200ms "$data" \
    >"$LOG/$name.result" 2>"$LOG/$name.err" &
  local drv=$!
  PIDS+=("$drv")
  wait "$drv" || rc=$?
  PIDS=()
  res=$(cat "$LOG/$name.result")
  t1=$EPOCHREALTIME
  local du
  du=$(du -sb "$sd" | cut -f1)
  [[ $KEEP == 1 ]] || rm -rf "$sd"
  echo "  with --state --checkpoint-every 200ms: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
  echo "    $res"
  if ((rc != 0)); then
    echo "  FAILED (driver exit $rc)"
    show_err "$name"
    FAILED=1
  fi
  if [[ $res == *stop=eof* ]] && ! cmp -s "$OUT/$name-mem.jsonl" "$OUT/$name-state.jsonl"; then
    echo "  FAILED: the rows of the --state run differ from the in-memory run's"
    FAILED=1
  fi
  rm -f "$OUT/$name-mem.jsonl" "$OUT/$name-state.jsonl"
  echo "$k $du $mwall $bytes $res" >>"$DIR/state-pause.txt"
}

part_pause() {
  echo
  echo "======== 2. checkpoint pause: kagg --state --checkpoint-every 200ms, $KEYS keys ========"
  loadavg before
  : >"$DIR/state-pause.txt"
  pause_one "$KEYS"
  if ((CMP_KEYS > 0)); then
    echo
    echo "-- for comparison: $CMP_KEYS keys --"
    pause_one "$CMP_KEYS"
  fi
  loadavg after
  echo
  local goals
  goals=$("$PY" - "$DIR/state-pause.txt" "$KEYS" <<'PYEOF'
import sys
GOAL = 10.0  # ms, p99 at most
path, keys = sys.argv[1], int(sys.argv[2])
out = []
hdr = "%-9s %5s %9s %9s %9s %9s %12s %12s %12s %7s %9s %9s" % (
    "keys", "count", "p50 ms", "p90 ms", "p99 ms", "max ms", "bytes (med)", "bytes (max)", "dir bytes",
    "busy %", "MB/s", "mem MB/s")
print("checkpoint pauses, as kagg -v reports them, counted once every key exists:")
print(hdr)
print("-" * len(hdr))
for line in open(path):
    a = line.split()
    k, du, mwall, nbytes = int(a[0]), int(a[1]), float(a[2]), int(a[3])
    r = dict(x.split("=", 1) for x in a[4:] if "=" in x)
    c = int(r.get("counted", 0))
    if c:
        print("%-9d %5d %9s %9s %9s %9s %12s %12s %12d %7s %9s %9.2f" % (
            k, c, r["p50_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"], r["bytes_med"], r["bytes_max"], du,
            r["busy_pct"], r["read_mbps"], nbytes / 1e6 / mwall))
    else:
        print("%-9d %5d  no checkpoint counted (stop: %s, %s checkpoints)" % (k, c, r.get("stop"), r.get("checkpoints")))
    notes = []
    notes.append("stopped by %s after %s s, %s checkpoints (%s during the ramp-up), %s s in checkpoints" % (
        r.get("stop"), r.get("elapsed_s"), r.get("checkpoints"), r.get("ramp"), r.get("pause_sum_s")))
    if c:
        notes.append("median time reading between two counted checkpoints: %s ms (the interval is 200 ms)"
                     % r.get("work_med_ms"))
    if "behind_med_ms" in r:
        notes.append("written behind the reading: %s ms median, %s ms max, while reading went on"
                     % (r["behind_med_ms"], r["behind_max_ms"]))
    if r.get("stop") == "eof":
        # a check that the pauses are the whole cost: the time outside them
        # should be about the in-memory run's
        notes.append("outside checkpoints the run took %.2f s; the in-memory run took %.2f s" % (
            float(r["elapsed_s"]) - float(r["pause_sum_s"]), mwall))
    if r.get("inconsistent", "0") != "0":
        notes.append("WARNING: %s pause(s) longer than the wall-clock gap since the line before" % r["inconsistent"])
    for n in notes:
        print("  %d keys: %s" % (k, n))
    label = "p99 checkpoint pause, %d keys" % k
    if k == keys:
        v = float(r["p99_ms"]) if c else None
        out.append("pause\t%s\t%s\t<= %.0f ms\t%s" % (label, "%.1f ms" % v if v is not None else "n/a", GOAL,
                                                     "PASS" if v is not None and v <= GOAL else "MISS"))
    else:
        out.append("pause\t%s\t%s\t\t(info)" % (label, "%.1f ms" % float(r["p99_ms"]) if c else "n/a"))
print("@@")
print("\n".join(out))
PYEOF
)
  sed '/^@@$/,$d' <<<"$goals"
  while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed '1,/^@@$/d' <<<"$goals")
}

# ==== part 3: latency ============================================================
# latency_one LABEL "KPRODUCE -X..." "KAGG -X..." "KCONSUME -X..." [TAP]: one
# pipeline; with TAP=1 a second kconsume and reader on IN as well.
latency_one() {
  local label=$1 px=$2 ax=$3 cx=$4 tap=${5:-0}
  local tin tout sync
  tin=${PREFIX}_${label}_in
  tout=${PREFIX}_${label}_out
  CREATED+=("$tin" "$tout")
  "$PY" "$HERE/kadmin.py" "$BROKERS" create 1 "$tin" "$tout" || { echo "  could not create topics"; FAILED=1; return; }
  sync=$FIFO_DIR/$label
  mkdir -p "$sync"
  mkfifo "$sync/gen" "$sync/cons"
  local -a pxa axa cxa
  read -r -a pxa <<<"$px"
  read -r -a axa <<<"$ax"
  read -r -a cxa <<<"$cx"
  local lname=lat-$label
  echo "  kproduce -t IN ${px:-(defaults)}"
  echo "  kagg kafka:IN --by id -a max:sent_us --emit changes --output kafka:OUT ${ax:-(defaults)}"
  echo "  kconsume OUT ${cx:-(defaults)}"
  # consumer side first; nothing is timed before the probe line has come through
  "$KAGG" -b "$BROKERS" "kafka:$tin" --by id -a max:sent_us --emit changes --output "kafka:$tout" \
    "${axa[@]}" 2>"$LOG/$lname-kagg.err" &
  local kagg_pid=$!
  PIDS+=("$kagg_pid")
  # The script holds the FIFO open as well, so that kconsume does not end
  # (quietly, as it does when its reader goes) before its CPU time is read.
  local hold
  exec {hold}<>"$sync/cons"
  "$KCONSUME" -b "$BROKERS" "$tout" "${cxa[@]}" >"$sync/cons" 2>"$LOG/$lname-kconsume.err" &
  local kc_pid=$!
  PIDS+=("$kc_pid")
  "$PY" "$HERE/latency_probe.py" read --sync "$sync" --timeout $((LAT_SECONDS + 120)) --stall 15 \
    --dump "$LOG/$lname.dump" <"$sync/cons" >"$LOG/$lname.result" 2>"$LOG/$lname-read.err" &
  local rd_pid=$!
  PIDS+=("$rd_pid")
  local tap_kc=0 tap_rd=0
  if ((tap)); then
    mkdir -p "$sync/tap"
    mkfifo "$sync/tap/cons"
    "$KCONSUME" -b "$BROKERS" "$tin" "${cxa[@]}" >"$sync/tap/cons" 2>"$LOG/$lname-tap-kconsume.err" &
    tap_kc=$!
    PIDS+=("$tap_kc")
    "$PY" "$HERE/latency_probe.py" read --sync "$sync/tap" --timeout $((LAT_SECONDS + 120)) --stall 15 \
      --dump "$LOG/$lname-tap.dump" <"$sync/tap/cons" >"$LOG/$lname-tap.result" 2>"$LOG/$lname-tap-read.err" &
    tap_rd=$!
    PIDS+=("$tap_rd")
  fi
  "$KPRODUCE" -b "$BROKERS" -t "$tin" "${pxa[@]}" <"$sync/gen" 2>"$LOG/$lname-kproduce.err" &
  local kp_pid=$!
  PIDS+=("$kp_pid")
  local gen_rc=0 kp_rc=0 rd_rc=0 kagg_rc=0 kc_rc=0 bk0=0 bk1=0 t0 t1 kagg_t kc_t
  [[ -z $BROKER_PID ]] || bk0=$(proc_ticks "$BROKER_PID")
  t0=$EPOCHREALTIME
  # in the background, so that a signal to this script is handled at once
  "$PY" "$HERE/latency_probe.py" gen --rate "$RATE" --warmup "$WARMUP" --seconds "$LAT_SECONDS" \
    --sync "$sync" --timeout 60 >"$sync/gen" 2>"$LOG/$lname-gen.err" &
  local gen_pid=$!
  PIDS+=("$gen_pid")
  wait "$gen_pid" || gen_rc=$?
  ((gen_rc == 0)) || kill -TERM "$rd_pid" 2>/dev/null || true
  wait "$kp_pid" || kp_rc=$?
  if ((tap)); then
    [[ -e $sync/sent ]] && cp "$sync/sent" "$sync/tap/sent.tmp" && mv "$sync/tap/sent.tmp" "$sync/tap/sent"
    ((gen_rc == 0)) || kill -TERM "$tap_rd" 2>/dev/null || true
  fi
  wait "$rd_pid" || rd_rc=$?
  if ((tap)); then
    wait "$tap_rd" || true
    kill -TERM "$tap_kc" 2>/dev/null || true
    wait "$tap_kc" || true
  fi
  t1=$EPOCHREALTIME
  [[ -z $BROKER_PID ]] || bk1=$(proc_ticks "$BROKER_PID")
  kagg_t=$(proc_ticks "$kagg_pid")
  kc_t=$(proc_ticks "$kc_pid")
  kill -TERM "$kagg_pid" "$kc_pid" 2>/dev/null || true
  wait "$kagg_pid" || kagg_rc=$?
  wait "$kc_pid" || kc_rc=$?
  exec {hold}<&-
  PIDS=()
  local res total
  res=$(cat "$LOG/$lname.result")
  echo "  $res"
  awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" -v hz="$(getconf CLK_TCK)" \
    -v bk="$((bk1 - bk0))" -v ka="$kagg_t" -v kc="$kc_t" -v hb="${BROKER_PID:+1}" 'BEGIN {
      printf "  CPU over the %.1f s from the probe to the last row: kagg %.2f s, kconsume %.2f s", w, ka / hz, kc / hz
      if (hb) printf ", broker %.2f s (%.0f %% of one core)", bk / hz, 100 * bk / hz / w
      printf "\n" }'
  # every line in and out: 1 probe + warm-up + measured lines
  total=$(awk -v r="$RATE" -v w="$WARMUP" -v s="$LAT_SECONDS" 'BEGIN { printf "%d", 1 + int(w * r + 0.5) + int(s * r + 0.5) }')
  local ok=1
  ((gen_rc == 0)) || { echo "  generator failed (exit $gen_rc)"; show_err "$lname-gen"; ok=0; }
  ((kp_rc == 0)) || { echo "  kproduce failed (exit $kp_rc)"; show_err "$lname-kproduce"; ok=0; }
  ((rd_rc == 0)) || { echo "  reader: not every measured row arrived exactly once (exit $rd_rc)"; show_err "$lname-read"; ok=0; }
  ((kagg_rc == 143)) || { echo "  kagg exited $kagg_rc, not 143 (SIGTERM)"; show_err "$lname-kagg"; ok=0; }
  ((kc_rc == 143 || kc_rc == 0)) || { echo "  kconsume exited $kc_rc"; show_err "$lname-kconsume"; ok=0; }
  grep -q "kproduce: $total lines in, $total messages delivered, 0 failed" "$LOG/$lname-kproduce.err" ||
    { echo "  kproduce's summary is not '$total lines in, $total messages delivered, 0 failed':"; show_err "$lname-kproduce"; ok=0; }
  grep -q "kagg: $total records in, $total rows out" "$LOG/$lname-kagg.err" ||
    { echo "  kagg's summary is not '$total records in, $total rows out':"; show_err "$lname-kagg"; ok=0; }
  ((ok)) || FAILED=1
  echo "$label $ok $res" >>"$DIR/state-latency.txt"
  if ((tap)); then
    echo "  tap on IN (no kagg): $(cat "$LOG/$lname-tap.result")"
    echo "${label}-IN-tap 1 $(cat "$LOG/$lname-tap.result")" >>"$DIR/state-latency.txt"
  fi
  if "$PY" "$HERE/kadmin.py" "$BROKERS" delete "$tin" "$tout" 2>"$LOG/$lname-kadmin.err"; then
    CREATED=()
  else
    show_err "$lname-kadmin"
  fi
}

part_latency() {
  echo
  echo "======== 3. end-to-end latency: kproduce -> kagg --emit changes -> kconsume ========"
  loadavg before
  echo "broker $BROKERS; ${RATE} lines/s, ${WARMUP} s warm-up (not counted), ${LAT_SECONDS} s measured; 1 partition per topic"
  BROKER_GC=$(broker_gc)
  echo "broker's garbage collector: $BROKER_GC"
  PREFIX=kpipe_statebench_$(date +%s)_$$
  FIFO_DIR=$(mktemp -d -t state_bench.XXXXXX)
  : >"$DIR/state-latency.txt"
  local v
  for v in $LAT_VARIANTS; do
    echo
    case $v in
      linger1)
        echo "-- low-latency settings (the goal's): linger.ms=1 for both producers --"
        latency_one linger1 "-X linger.ms=1" "-X linger.ms=1" "" "$TAP" ;;
      linger0)
        echo "-- linger.ms=0 for both producers, fetch.wait.max.ms=1 for both consumers (information) --"
        latency_one linger0 "-X linger.ms=0" "-X linger.ms=0 -X fetch.wait.max.ms=1" "-X fetch.wait.max.ms=1" ;;
      defaults)
        echo "-- the tools' default settings (information) --"
        latency_one defaults "" "" "" ;;
    esac
  done
  loadavg after
  echo
  local goals
  goals=$("$PY" - "$DIR/state-latency.txt" "$BROKER_GC" <<'PYEOF'
import sys
GOAL = 10.0  # ms, p99 at most
GC = sys.argv[2]
out = []
hdr = "%-14s %-17s %9s %9s %9s %9s %9s %14s" % ("settings", "received", "p50 ms", "p90 ms", "p99 ms", "max ms",
                                                 "mean ms", "gen behind ms")
print("latency = receive time at the reader - sent_us at the generator's write:")
print(hdr)
print("-" * len(hdr))
for line in open(sys.argv[1]):
    a = line.split()
    label, ok = a[0], a[1] == "1"
    r = dict(x.split("=", 1) for x in a[2:] if "=" in x)
    has = "p99_ms" in r
    print("%-14s %-17s %9s %9s %9s %9s %9s %14s%s" % (
        label, "%s/%s" % (r.get("received"), r.get("expected")), r.get("p50_ms", "n/a"), r.get("p90_ms", "n/a"),
        r.get("p99_ms", "n/a"), r.get("max_ms", "n/a"), r.get("mean_ms", "n/a"), r.get("lateness_ms", "n/a"),
        "" if ok else "  FAILED"))
    v = float(r["p99_ms"]) if has and ok else None
    if label.endswith("-IN-tap"):
        out.append("latency\tp99 kproduce -> kconsume IN (tap, no kagg)\t%s\t\t(info)" % ("%.1f ms" % v if v is not None else "n/a"))
    elif label == "linger1":
        out.append("latency\tp99 end to end, linger.ms=1 (broker GC: %s)\t%s\t<= %.0f ms\t%s" % (
            GC, "%.1f ms" % v if v is not None else "n/a", GOAL, "PASS" if v is not None and v <= GOAL else "MISS"))
    else:
        name = {"defaults": "default settings", "linger0": "linger.ms=0, fetch.wait.max.ms=1"}.get(label, label)
        out.append("latency\tp99 end to end, %s\t%s\t\t(info)" % (name, "%.1f ms" % v if v is not None else "n/a"))
print("@@")
print("\n".join(out))
PYEOF
)
  sed '/^@@$/,$d' <<<"$goals"
  while IFS= read -r line; do SUMMARY+=("$line"); done < <(sed '1,/^@@$/d' <<<"$goals")
}

want throughput && part_throughput
want pause && part_pause
want latency && part_latency

echo
echo "======== goals ========"
printf '%-10s %-55s %10s %10s  %s\n' part goal value target result
printf '%s\n' "$(printf '%.0s-' {1..100})"
for line in "${SUMMARY[@]}"; do
  IFS=$'\t' read -r p g v t res <<<"$line"
  printf '%-10s %-55s %10s %10s  %s\n' "$p" "$g" "$v" "$t" "$res"
done
((FAILED == 0)) || echo "some run FAILED (above): its figures are left out or marked"
echo "(per-run data: $DIR/state-*.tsv/txt; stderr, timings and pause/latency dumps: $LOG)"
exit "$FAILED"
