#!/usr/bin/env bash
# keys_bench.sh - kagg over as many keys as events, against DuckDB: time and memory per key.
#
# Usage: bench/keys_bench.sh [-n EVENTS] [-r RUNS] [VAR=VALUE...]
#        bench/keys_bench.sh -h
#
# What it does, in order:
#   1. Writes EVENTS (default 5,000,000) lines of bench/gen_events.py, or
#      reuses them; each line's "id" is unique, so grouping by it makes one
#      key per event (the high-cardinality job of issue 19).
#   2. Runs RUNS rounds (default 3), alternating:
#        kagg --by id -a count -a sum:amount FILE > ROWS
#        duckdb_job.py keys 1 ROWS FILE     DuckDB, 1 thread
#        duckdb_job.py keys 2 ROWS FILE     DuckDB, 2 threads
#      DuckDB from PyPI in $DIR/duckdb-venv (bench/lib.sh; skipped visibly
#      when pip cannot install it, or with DUCKDB=0). Each run is timed by
#      /usr/bin/time (peak RSS) and $EPOCHREALTIME (wall); DuckDB also prints
#      its own query time, which leaves out its interpreter start.
#   3. Checks, untimed: kagg writes EVENTS rows, one per id, each count 1 and
#      sum equal to the event's amount; DuckDB's rows are the same set.
#   4. Prints medians and the goals of issue 19, PASS or MISS:
#      - kagg's wall time at most 1.0x DuckDB's query time with 1 thread;
#      - kagg's peak RSS at most 120 bytes per key.
#
# Options: -n, --events N (default 5000000); -r, --runs R (default 3);
#          -h, --help. Environment: KPIPE_BIN (default build/), KAGG,
#          KPIPE_BENCH_DIR (default build/bench), RUN_TIMEOUT (default 600),
#          DUCKDB=0 to leave DuckDB out.
# Exit status: 0 when every run succeeded and the checks agreed (whatever
# PASS/MISS says), 1 otherwise, 2 on bad usage.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
source "$HERE/lib.sh"
die() { echo "keys_bench.sh: $*" >&2; exit 2; }

N=${N:-5000000}
RUNS=${RUNS:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n|--events) (($# >= 2)) || die "$1 needs a value"; N=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    N=*|RUNS=*|RUN_TIMEOUT=*|KPIPE_BIN=*|KAGG=*|KPIPE_BENCH_DIR=*|DUCKDB=*) declare "${1%%=*}=${1#*=}" ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
PY=${KPIPE_PYTHON:-/usr/bin/python3}
KAGG=${KAGG:-${KPIPE_BIN:-$REPO/build}/kagg}
[[ -x $KAGG ]] || die "no kagg at $KAGG; build it (cmake --build build -j2)"
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install -y time)"
LOG=$DIR/keys-logs
OUT=$DIR/keys-out
mkdir -p "$LOG" "$OUT"
RESULTS=$DIR/keys-results.tsv
: >"$RESULTS"
find_duckdb "$DIR"

DATA=$DIR/events-$N.jsonl
if [[ -s $DATA ]] && [[ $(wc -l <"$DATA") -eq $N ]]; then
  echo "data: reusing $DATA"
else
  echo "data: writing $N events to $DATA"
  "$PY" "$HERE/gen_events.py" -n "$N" "$DATA"
fi
cat "$DATA" >/dev/null
echo "$N events = $N keys; $RUNS rounds; load $(cut -d' ' -f1-3 /proc/loadavg) before"
[[ -n $DDB_PY ]] && echo "duckdb: $("$DDB_PY" -c 'import duckdb; print(duckdb.__version__)')"

FAILED=0
run_one() {  # NAME ROUND
  local name=$1 r=$2 rows out q=""
  rows=$OUT/$name.jsonl
  ((r == 1)) || rows=$OUT/$name.last
  case $name in
    kagg) cmd=("$KAGG" -q --by id -a count -a sum:amount "$DATA"); out=$rows ;;
    duckdb-*) cmd=("$DDB_PY" "$HERE/duckdb_job.py" keys "${name#duckdb-}" "$rows" "$DATA"); out=$LOG/$name-$r.stdout ;;
  esac
  timed "$out" "$name-$r" "${cmd[@]}"
  read -r wall rss user sys <<<"$T_MEAS"
  local status=OK
  ((T_RC == 0)) || status=FAILED
  if [[ $name == duckdb-* && $status == OK ]]; then
    duckdb_run "$out" "$rows" "$OUT/$name.jsonl" "$r" || status=FAILED
    q=$DDB_QUERY_S
  fi
  [[ $status == OK ]] || { FAILED=1; show_err "$name-$r"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$status" "$wall" "$rss" "$user" "$sys" "$q" >>"$RESULTS"
  printf '  round %d %-10s %-6s %7.3f s  user %6.2f s  %9d KiB\n' "$r" "$name" "$status" "$wall" "$user" "$rss"
}
for ((r = 1; r <= RUNS; r++)); do
  run_one kagg "$r"
  if [[ -n $DDB_PY ]]; then run_one duckdb-1 "$r"; run_one duckdb-2 "$r"; fi
done

echo
echo "== checks (untimed) =="
"$PY" - "$DATA" "$OUT" "$N" "${DDB_PY:+duckdb-1 duckdb-2}" <<'PYEOF' || FAILED=1
import json, math, os, sys
data, out, n, ddb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
want = {}
for line in open(data):
    o = json.loads(line)
    want[o["id"]] = o["amount"]
bad = []
def check(name, path):
    got = {}
    for line in open(path):
        r = json.loads(line)
        if r["count"] != 1 or not math.isclose(r["sum_amount"], want.get(r["id"], math.nan), rel_tol=1e-12):
            bad.append("%s: row %s" % (name, line.strip()))
            return
        got[r["id"]] = 1
    if len(got) != n or set(got) != set(want):
        bad.append("%s: %d rows for %d keys" % (name, len(got), n))
    else:
        print("%s OK: %d rows, one per id, count 1, the event's amount" % (name, len(got)))
check("kagg", os.path.join(out, "kagg.jsonl"))
for d in ddb:
    check(d, os.path.join(out, d + ".jsonl"))
for b in bad:
    print("FAILED: " + b)
sys.exit(1 if bad else 0)
PYEOF

echo
"$PY" - "$RESULTS" "$N" <<'PYEOF'
import statistics, sys
path, n = sys.argv[1], int(sys.argv[2])
S = {}
for line in open(path):
    name, r, status, wall, rss, user, sys_, q = line.rstrip("\n").split("\t")
    if status != "OK":
        continue
    s = S.setdefault(name, dict(wall=[], rss=[], q=[]))
    s["wall"].append(float(wall)); s["rss"].append(int(rss))
    if q:
        s["q"].append(float(q))
med = lambda v: statistics.median(v) if v else None
print("%-10s %8s %10s %10s %12s" % ("tool", "wall s", "query s", "RSS MiB", "bytes/key"))
for name in ("kagg", "duckdb-1", "duckdb-2"):
    if name in S:
        s = S[name]
        q = med(s["q"])
        print("%-10s %8.2f %10s %10.0f %12.0f" % (name, med(s["wall"]), "%.2f" % q if q else "-",
                                              med(s["rss"]) / 1024, med(s["rss"]) * 1024 / n))
print()
if "kagg" in S:
    k = S["kagg"]
    bpk = med(k["rss"]) * 1024 / n
    print("%-52s %10s %10s  %s" % ("kagg peak RSS per key", "%.0f B" % bpk, "<=120 B", "PASS" if bpk <= 120 else "MISS"))
    if "duckdb-1" in S and S["duckdb-1"]["q"]:
        v = med(k["wall"]) / med(S["duckdb-1"]["q"])
        print("%-52s %10s %10s  %s" % ("kagg wall / DuckDB query time, 1 thread", "%.2fx" % v, "<=1.0x",
                                       "PASS" if v <= 1.0 else "MISS"))
    if "duckdb-2" in S and S["duckdb-2"]["q"]:
        print("%-52s %10s %10s  %s" % ("kagg wall / DuckDB query time, 2 threads",
                                       "%.2fx" % (med(k["wall"]) / med(S["duckdb-2"]["q"])), "", "(info)"))
PYEOF
echo "(per-run data: $RESULTS; outputs: $OUT; logs: $LOG)"
exit "$FAILED"
