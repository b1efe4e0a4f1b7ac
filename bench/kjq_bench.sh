#!/usr/bin/env bash
# kjq_bench.sh - kjq against jq 1.6 on the same file, same program, same run.
#
# Usage: bench/kjq_bench.sh [-n EVENTS] [-r RUNS]
#        bench/kjq_bench.sh -h
#
# Writes EVENTS (default 1,000,000) lines of bench/gen_events.py (~62 bytes,
# {"ts":…,"user":"u089","amount":41.66,"id":2}) and runs, alternating, RUNS
# rounds (default 3) of each program with `kjq -q PROG FILE` and
# `jq -c PROG FILE`, both writing to a file. Before any timing it checks
# that kjq's output equals jq's as JSON values line by line (kjq writes an
# unchanged record with its own bytes, jq reformats it). Prints the median
# wall time of each and the ratio jq / kjq, with the goals of issue 13:
# at least as fast as jq for every program, at least 3x for the select and
# the projection.
set -euo pipefail
cd "$(dirname "$0")/.."
n=1000000 runs=3
while getopts "n:r:h" o; do
  case $o in
    n) n=$OPTARG ;;
    r) runs=$OPTARG ;;
    *) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  esac
done
B=${KPIPE_BIN:-build}
DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/kpipe-bench}
mkdir -p "$DIR"
data=$DIR/events-$n.jsonl
[ -s "$data" ] || python3 bench/gen_events.py -n "$n" "$data"
programs=('select(.amount > 50)' '{user, amount}' '.amount *= 2' '.')
goals=(3 3 1 1)
now() { echo "$EPOCHREALTIME"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-24s %10s %10s %8s %6s %s\n' program kjq_s jq_s ratio goal verdict
for i in "${!programs[@]}"; do
  p=${programs[$i]}
  "$B/kjq" -q "$p" "$data" > "$DIR/kjq.out"
  jq -c "$p" "$data" > "$DIR/jq.out"
  python3 - "$DIR/kjq.out" "$DIR/jq.out" <<'PY'
import json, sys
a, b = open(sys.argv[1]), open(sys.argv[2])
for n, (x, y) in enumerate(zip(a, b), 1):
    if json.loads(x) != json.loads(y):
        sys.exit(f"line {n} differs: {x!r} {y!r}")
if a.readline() or b.readline():
    sys.exit("line counts differ")
PY
  : > "$DIR/k.times"; : > "$DIR/j.times"
  for ((r = 0; r < runs; r++)); do
    t0=$(now); "$B/kjq" -q "$p" "$data" > "$DIR/kjq.out"; t1=$(now)
    jq -c "$p" "$data" > "$DIR/jq.out"; t2=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}' >> "$DIR/k.times"
    awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}' >> "$DIR/j.times"
  done
  k=$(median < "$DIR/k.times"); j=$(median < "$DIR/j.times")
  awk -v p="$p" -v k="$k" -v j="$j" -v g="${goals[$i]}" \
    'BEGIN { r = j / k; printf "%-24s %10.3f %10.3f %7.2fx %5sx %s\n", p, k, j, r, g, (r >= g ? "PASS" : "MISS") }'
done
