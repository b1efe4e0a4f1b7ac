#!/usr/bin/env bash
# join_bench.sh - kjoin's interval join against DuckDB: throughput, and memory bounded by the join window.
#
# Usage: bench/join_bench.sh [-n EVENTS] [-r RUNS] [-k KEYS] [-d MS] [--skip-bare] [VAR=VALUE...]
#        bench/join_bench.sh -h
#
# What it does, in order:
#   1. Writes two pairs of input files with bench/gen_join.py (or reuses them)
#      under $DIR: EVENTS lines per side ("N"), and 2 x EVENTS per side ("2N")
#      with the same key count and the same time density, so the 2N inputs
#      last twice as long in event time but hold no more events per second:
#        {"ts":1732441200000,"user":"u04211","amount":12.34,"id":1}
#      KEYS users (default 50,000), 10,000 events per second of event time per
#      side (500,000 events = 50 s), each side in time order (out of order by
#      at most MS ms with -d MS).
#   2. Builds bench/simdjson_pass in $DIR/simdjson_pass-build (as
#      window_bench.sh does) unless SIMDJSON_PASS names a binary or
#      --skip-bare is given; it is the reference for "how fast can anything
#      read these two files", printed for information.
#   3. Runs RUNS rounds; each round runs, one after the other:
#        kjoin --on user --within 1s --time ts [--max-delay MSms] LEFT-N RIGHT-N
#        kjoin ... (the same) LEFT-2N RIGHT-2N
#        simdjson_pass --per-line LEFT-N; simdjson_pass --per-line RIGHT-N
#      kjoin writes its rows to a file (not /dev/null: writing is part of the
#      job). Each run is measured by `/usr/bin/time -f '%M %U %S'` (peak RSS
#      KiB, user s, sys s) and bash's $EPOCHREALTIME around it (wall s).
#      and DuckDB, the same join on the N + N files with 1 and 2 threads
#      (bench/duckdb_job.py join: read_json, JOIN ... ON user AND r.ts
#      BETWEEN l.ts - 1000 AND l.ts + 1000, COPY TO a JSON-lines file of
#      {"left","right"} records), DuckDB from PyPI in $DIR/duckdb-venv (made
#      the first time; skipped visibly when pip fails, or with DUCKDB=0). It
#      prints its own query time (no interpreter start), which the goal uses.
#   4. Checks the results before believing any timing (untimed, Python):
#      the expected rows are computed independently from the two input files
#      (per user, every right event with |rt - lt| <= 1000 ms, found by
#      bisection over the sorted right times) and written as the spec's rows
#      {"left":<left line>,"right":<right line>}; kjoin's rows (control
#      records apart) must be the same multiset of lines, byte for byte (the
#      order of rows depends on how the two inputs interleave, so it is not
#      compared). kjoin's stderr summary must say "N left in, N right in,
#      R rows out, 0 late, 0 dead-lettered" (no event can be late: each side
#      is in order within --max-delay). A later run counts only if it exits 0
#      and its rows, sorted, are byte-identical to its checked first run's.
#   5. Prints every run, then medians and the goals, each PASS or MISS:
#      - at least 1M events/s on one core for N + N events:
#        2N / max(wall, user+sys), so a second thread is held to CPU time;
#      - bounded memory: peak RSS of the 2N + 2N run at most 1.25 x that of
#        the N + N run. The join keeps a record only until the watermark of
#        both sides has passed its match window (about one second of events
#        per side here), so doubling the input must not double the memory; a
#        join that kept every record would need ~EVENTS x 2 records more;
#      - kjoin's N + N wall time at most 0.8x DuckDB's query time with 2
#        threads (issue 19); DuckDB's pairs (left id, right id) must be
#        kjoin's, as a multiset;
#      - for information: kjoin's events/s against the bare per-line pass
#        over the same two files, DuckDB with 1 thread and as a whole
#        process, and peak RSS in MiB.
#
# The machine has few cores: anything else running (a compiler) skews all of
# this; the load average is printed before and after.
#
# Options (each also settable as VAR=VALUE in the environment or as an argument):
#   -n, --events N      N: events per input file in the base run (default 500000);
#                       the doubled run uses 2N per file
#   -r, --runs R        RUNS: rounds (default 5)
#   -k, --keys K        KEYS: distinct join keys (default 50000)
#   -d, --disorder MS   DISORDER: out-of-orderness of each side in ms, and
#                       kjoin's --max-delay (default 0: in time order)
#   --skip-bare         SKIP_BARE=1: do not build or run simdjson_pass
#   -h, --help          print this and exit
# Environment:
#   THREADS           passed to kjoin as --threads THREADS (default: the
#                     tools' own, 2 on 2 cores or more: input parsed on a second thread)
#   KPIPE_BIN         where kjoin is (default build/), else PATH
#   KJOIN, SIMDJSON_PASS   the binaries, overriding the above
#   KPIPE_BENCH_DIR   scratch dir for data, outputs and logs (default build/bench)
#   RUN_TIMEOUT       seconds before one run is killed (default 600)
#
# Needs: /usr/bin/time, python3; cmake and simdjson (Debian libsimdjson-dev)
# for the bare pass. scripts/install-deps.sh installs them.
# Exit status: 0 when every run succeeded and every check agreed (whatever
# PASS/MISS says), 1 when a run failed or a result disagreed, 2 on bad usage
# or a missing prerequisite.
#
# Examples:
#   bench/join_bench.sh                     # 500k + 500k and 1M + 1M, 5 rounds
#   bench/join_bench.sh -n 100000 -r 3      # quick smoke run
#   bench/join_bench.sh -d 200              # out of order by up to 200 ms
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
die() { echo "join_bench.sh: $*" >&2; exit 2; }

N=${N:-500000}
RUNS=${RUNS:-5}
KEYS=${KEYS:-50000}
DISORDER=${DISORDER:-0}
SKIP_BARE=${SKIP_BARE:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
RATE=10000 # events per second of event time, per side

while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n|--events) (($# >= 2)) || die "$1 needs a value"; N=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    -k|--keys) (($# >= 2)) || die "$1 needs a value"; KEYS=$2; shift ;;
    -d|--disorder) (($# >= 2)) || die "$1 needs a value"; DISORDER=$2; shift ;;
    --skip-bare) SKIP_BARE=1 ;;
    DUCKDB=*|N=*|RUNS=*|KEYS=*|DISORDER=*|SKIP_BARE=*|RUN_TIMEOUT=*|KPIPE_BIN=*|KJOIN=*|SIMDJSON_PASS=*|\
    KPIPE_BENCH_DIR=*|THREADS=*) declare "${1%%=*}=${1#*=}" ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
[[ $KEYS =~ ^[1-9][0-9]*$ ]] || die "KEYS must be a positive integer, not '$KEYS'"
[[ $DISORDER =~ ^[0-9]+$ ]] || die "DISORDER must be a whole number of ms, not '$DISORDER'"
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive integer"

DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
BIN=${KPIPE_BIN:-$REPO/build}
PY=${KPIPE_PYTHON:-/usr/bin/python3}
N2=$((2 * N))

# ---- prerequisites: say how to get them, install nothing --------------------
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (GNU time); install it: apt-get install -y time"
command -v "$PY" >/dev/null || die "$PY missing"
command -v timeout >/dev/null || die "timeout (coreutils) missing"

if [[ -z ${KJOIN:-} ]]; then
  if [[ -x $BIN/kjoin ]]; then KJOIN=$BIN/kjoin; else KJOIN=$(command -v kjoin || true); fi
fi
[[ -n $KJOIN && -x $KJOIN ]] ||
  die "kjoin not found in $BIN or on PATH; build it (cmake --build $REPO/build -j2) or set KJOIN"

mkdir -p "$DIR"
LOG=$DIR/join-logs
OUT=$DIR/join-out
mkdir -p "$LOG" "$OUT"
RESULTS=$DIR/join-results.tsv
: >"$RESULTS"

if ((!SKIP_BARE)) && [[ -z ${SIMDJSON_PASS:-} ]]; then
  command -v cmake >/dev/null || die "cmake missing (to build bench/simdjson_pass); or pass --skip-bare"
  SPBUILD=$DIR/simdjson_pass-build
  { cmake -S "$HERE" -B "$SPBUILD" -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$SPBUILD" -j2; } >"$LOG/simdjson_pass-build.log" 2>&1 ||
    die "could not build bench/simdjson_pass (needs libsimdjson-dev); see $LOG/simdjson_pass-build.log, or pass --skip-bare"
  SIMDJSON_PASS=$SPBUILD/simdjson_pass
fi
((SKIP_BARE)) || [[ -x $SIMDJSON_PASS ]] || die "no simdjson_pass at $SIMDJSON_PASS"
find_duckdb "$DIR"  # DuckDB, a peer in a virtualenv of the benchmark's own

# kjoin is young and may be rebuilt while this runs: note what was measured,
# and refuse to report a mix of two builds as one.
THREAD_ARGS=()
[[ -n ${THREADS:-} ]] && THREAD_ARGS=(--threads "$THREADS")
fingerprint() { cksum <"$KJOIN" | cut -d' ' -f1; }
BIN_PRINT=$(fingerprint)

# ---- data --------------------------------------------------------------------
# make_data COUNT -> sets L and R to the two files of COUNT events each.
make_data() {
  local n=$1 stem
  stem=$DIR/join-$n-k$KEYS-d$DISORDER
  L=$stem-left.jsonl
  R=$stem-right.jsonl
  if [[ -s $L && -s $R ]] && [[ $(wc -l <"$L") -eq $n && $(wc -l <"$R") -eq $n ]]; then
    echo "data: reusing $L and $R"
  else
    echo "data: writing $n + $n events to $stem-{left,right}.jsonl"
    "$PY" "$HERE/gen_join.py" -n "$n" -k "$KEYS" -r "$RATE" -d "$DISORDER" "$L" "$R"
  fi
  cat "$L" "$R" >/dev/null # into the page cache before the first timed run
}
make_data "$N"
L1=$L R1=$R
make_data "$N2"
L2=$L R2=$R
BYTES1=$(($(wc -c <"$L1") + $(wc -c <"$R1")))
BYTES2=$(($(wc -c <"$L2") + $(wc -c <"$R2")))

echo "$N + $N events ($(awk -v b="$BYTES1" 'BEGIN{printf "%.1f", b/1e6}') MB) and $N2 + $N2 ($(awk -v b="$BYTES2" 'BEGIN{printf "%.1f", b/1e6}') MB); $KEYS keys; $RATE events/s of event time per side; disorder $DISORDER ms; $RUNS rounds"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before"
echo "kjoin:    $KJOIN ($("$KJOIN" --version 2>&1 | head -n 1))"
((SKIP_BARE)) || echo "simdjson: $SIMDJSON_PASS ($("$SIMDJSON_PASS" --per-line /dev/null 2>&1 | head -n 1))"

# ---- commands ----------------------------------------------------------------
MAXDELAY=()
((DISORDER == 0)) || MAXDELAY=(--max-delay "${DISORDER}ms")
# cmd_for NAME -> sets cmd. NAMEs are what the report and the logs use.
# shellcheck disable=SC2016  # bare-N: $0 $1 $2 belong to the inner bash
cmd_for() {
  case $1 in
    kjoin-N) cmd=("$KJOIN" --on user --within 1s --time ts "${MAXDELAY[@]}" "${THREAD_ARGS[@]}" "$L1" "$R1") ;;
    kjoin-2N) cmd=("$KJOIN" --on user --within 1s --time ts "${MAXDELAY[@]}" "${THREAD_ARGS[@]}" "$L2" "$R2") ;;
    # Both files, one after the other, in one timed process tree.
    bare-N) cmd=(bash -c '"$0" --per-line "$1" && "$0" --per-line "$2"' "$SIMDJSON_PASS" "$L1" "$R1") ;;
    duckdb-1|duckdb-2) cmd=("$DDB_PY" "$HERE/duckdb_job.py" join "${1#duckdb-}" "$DDB_ROWS" "$L1" "$R1") ;;
  esac
}


# sorted_sum FILE: an order-free fingerprint of a run's rows.
sorted_sum() { LC_ALL=C sort -S 25% "$1" | cksum | cut -d' ' -f1-2; }

# ---- check (Python, untimed) -------------------------------------------------
# check_join LEFT RIGHT ROWS STDERR WITHIN_MS: prints what it found; exit 0 when right.
check_join() {
  "$PY" - "$@" <<'PYEOF'
import bisect, json, re, sys
from collections import defaultdict

left_path, right_path, rows_path, err_path, within = sys.argv[1:6]
within = int(within)

def read(path):
    lines, ts, users = [], [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            o = json.loads(line)
            lines.append(line)
            ts.append(o["ts"])
            users.append(o["user"])
    return lines, ts, users

ll, lt, lu = read(left_path)
rl, rt, ru = read(right_path)
by_user = defaultdict(list)  # user -> sorted [(rt, right index)]
for j, u in enumerate(ru):
    by_user[u].append((rt[j], j))
for v in by_user.values():
    v.sort()
keys = {u: [t for t, _ in v] for u, v in by_user.items()}
expected = []
for i, u in enumerate(lu):
    v = by_user.get(u)
    if not v:
        continue
    times = keys[u]
    lo = bisect.bisect_left(times, lt[i] - within)
    hi = bisect.bisect_right(times, lt[i] + within)
    for _, j in v[lo:hi]:
        expected.append('{"left":%s,"right":%s}' % (ll[i], rl[j]))

got, control = [], 0
with open(rows_path) as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith('{"@kpipe"'):
            control += 1
            continue
        got.append(line)

problems = []
if len(got) != len(expected):
    problems.append("%d rows, expected %d" % (len(got), len(expected)))
expected.sort()
got.sort()
if expected != got:
    # Name a few differences, by (left id, right id) when the rows parse.
    def ids(rows):
        out = set()
        for r in rows:
            try:
                o = json.loads(r)
                out.add((o["left"]["id"], o["right"]["id"]))
            except Exception:
                out.add(("unparsable", r[:80]))
        return out
    e, g = set(expected), set(got)
    ge, gg = ids(e - g), ids(g - e)
    problems.append("rows differ: %d expected rows missing, %d unexpected rows" % (len(e - g), len(g - e)))
    if ge == gg:
        problems.append("the same (left id, right id) pairs, written differently, e.g. %r vs %r"
                        % (sorted(e - g)[0][:160], sorted(g - e)[0][:160]))
    else:
        if ge - gg:
            problems.append("missing pairs (left id, right id), e.g. %s" % sorted(ge - gg)[:3])
        if gg - ge:
            problems.append("unexpected pairs, e.g. %s" % sorted(gg - ge, key=str)[:3])
    if len(g) != len(got):
        problems.append("%d duplicate rows" % (len(got) - len(g)))
err = open(err_path).read()
m = re.search(r"kjoin: (\d+) left in, (\d+) right in, (\d+) rows? out, (\d+) late, (\d+) dead-lettered", err)
if not m:
    problems.append("no summary line in kjoin's stderr: %r" % err.strip()[:200])
else:
    want = (len(ll), len(rl), len(expected), 0, 0)
    have = tuple(int(x) for x in m.groups())
    if have != want:
        problems.append("summary says %s, expected %d left in, %d right in, %d rows out, %d late, %d dead-lettered"
                        % (m.group(0), *want))
for p in problems:
    print("    FAILED: " + p)
if not problems:
    print("    OK: %d rows = the pairs computed from the inputs (%d + %d events), byte for byte; "
          "summary agrees%s" % (len(got), len(ll), len(rl), "; %d control records" % control if control else ""))
sys.exit(1 if problems else 0)
PYEOF
}

# ---- runs --------------------------------------------------------------------
FAILED=0
declare -A FIRST_SUM  # name -> sorted fingerprint of round 1's rows

record() { # tool run status wall rss user sys [query_s]
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

run_one() {
  local name=$1 r=$2 out status query_s=""
  if ((r == 1)); then DDB_ROWS=$OUT/$name.jsonl; else DDB_ROWS=$OUT/$name.last; fi
  cmd_for "$name"
  if ((r == 1)); then out=$OUT/$name.jsonl; else out=$OUT/$name.last; fi
  [[ $name == duckdb-* ]] && out=$LOG/$name-$r.stdout
  timed "$out" "$name-$r" "${cmd[@]}"
  read -r wall rss user sys <<<"$T_MEAS"
  status=OK
  ((T_RC == 0)) || status=FAILED
  if [[ $status == OK && $name == duckdb-* ]]; then
    duckdb_run "$out" "$DDB_ROWS" "$OUT/$name.jsonl" "$r" || status=FAILED
    query_s=$DDB_QUERY_S
  elif [[ $status == OK && $name == bare-* ]]; then
    local recs
    recs=$(sed -n 's/^mode=per-line records=\([0-9]*\) .*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
    if ((recs != 2 * N)); then
      status=FAILED
      echo "    the bare pass read $recs records, not $((2 * N))"
    fi
  elif [[ $status == OK ]]; then
    local sum
    sum=$(sorted_sum "$out")
    if ((r == 1)); then
      FIRST_SUM[$name]=$sum
    elif [[ $sum != "${FIRST_SUM[$name]}" ]]; then
      status=FAILED
      echo "    rows of $name in round $r differ from round 1's (sorted: $sum vs ${FIRST_SUM[$name]})"
    fi
  fi
  [[ $status == OK ]] || FAILED=1
  record "$name" "$r" "$status" "$wall" "$rss" "$user" "$sys" "$query_s"
  printf '  round %d %-10s %-6s %7.3f s  user %6.2f s  sys %5.2f s  %8d KiB  exit %d\n' \
    "$r" "$name" "$status" "$wall" "$user" "$sys" "$rss" "$T_RC"
  [[ $status == OK ]] || show_err "$name-$r"
}

echo
echo "== $RUNS rounds, alternating =="
for ((r = 1; r <= RUNS; r++)); do
  run_one kjoin-N "$r"
  if [[ -n $DDB_PY ]]; then run_one duckdb-1 "$r"; run_one duckdb-2 "$r"; fi
  run_one kjoin-2N "$r"
  ((SKIP_BARE)) || run_one bare-N "$r"
done
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after"
if [[ $(fingerprint) != "$BIN_PRINT" ]]; then
  echo "FAILED: $KJOIN changed on disk during the runs (rebuilt?); the timings mix"
  echo "        two builds: rerun (or copy the binary and set KJOIN)"
  FAILED=1
fi

# ---- checks ------------------------------------------------------------------
echo
echo "== checks of the first round's results (untimed) =="
CHECK_FAILED=""
for name in kjoin-N kjoin-2N; do
  if [[ $name == kjoin-N ]]; then l=$L1 r=$R1; else l=$L2 r=$R2; fi
  echo "$name:"
  if grep -q $'^'"$name"$'\t1\tOK' "$RESULTS"; then
    check_join "$l" "$r" "$OUT/$name.jsonl" "$LOG/$name-1.err" 1000 || CHECK_FAILED+=" $name"
  else
    echo "    FAILED: the first run failed; nothing to check"
    CHECK_FAILED+=" $name"
  fi
done
for name in duckdb-1 duckdb-2; do
  [[ -n $DDB_PY ]] || break
  echo "$name:"
  if grep -q $'^'"$name"$'\t1\tOK' "$RESULTS" && [[ $CHECK_FAILED != *kjoin-N* ]]; then
    "$PY" - "$OUT/$name.jsonl" "$OUT/kjoin-N.jsonl" <<'PYEOF' || CHECK_FAILED+=" $name"
import collections, json, sys
def pairs(path):
    c = collections.Counter()
    for line in open(path):
        o = json.loads(line)
        if "@kpipe" in o:
            continue
        c[(o["left"]["id"], o["right"]["id"])] += 1
    return c
d, k = pairs(sys.argv[1]), pairs(sys.argv[2])
if d != k:
    print("    FAILED: %d pairs only in DuckDB's rows, %d only in kjoin's" % (sum((d - k).values()), sum((k - d).values())))
    sys.exit(1)
print("    OK: the same %d (left id, right id) pairs as kjoin" % sum(d.values()))
PYEOF
  else
    echo "    FAILED: its first run, or kjoin's, failed; nothing to compare"
    CHECK_FAILED+=" $name"
  fi
done
[[ -z $CHECK_FAILED ]] || FAILED=1

# ---- report ------------------------------------------------------------------
echo
"$PY" - "$RESULTS" "$N" "$BYTES1" "$BYTES2" "$KEYS" "$RATE" "$CHECK_FAILED" "${MAXDELAY[*]}" <<'PYEOF'
import statistics, sys

GOAL_EPS = 1e6      # events/s on one core, N + N events, at least
GOAL_RSS = 1.25     # peak RSS at 2N + 2N / at N + N, at most
GOAL_DDB = 0.8      # kjoin N+N wall / DuckDB's query time with 2 threads, at most (issue 19)

path, n, b1, b2, keys, rate = sys.argv[1], *map(int, sys.argv[2:7])
check_failed = sys.argv[7].split()
extra = (" " + sys.argv[8]) if sys.argv[8] else ""
events = {"kjoin-N": 2 * n, "kjoin-2N": 4 * n, "bare-N": 2 * n, "duckdb-1": 2 * n, "duckdb-2": 2 * n}
nbytes = {"kjoin-N": b1, "kjoin-2N": b2, "bare-N": b1, "duckdb-1": b1, "duckdb-2": b1}
runs = []
with open(path) as f:
    for line in f:
        tool, r, status, wall, rss, user, sys_, query = line.rstrip("\n").split("\t")[:8]
        runs.append(dict(tool=tool, status=status, wall=float(wall), rss=int(rss),
                         user=float(user), sys=float(sys_), query=float(query) if query else None))
order = ["kjoin-N", "duckdb-1", "duckdb-2", "kjoin-2N", "bare-N"]
S = {}
for tool in order:
    all_ = [x for x in runs if x["tool"] == tool]
    ok = [x for x in all_ if x["status"] == "OK" and x["wall"] > 0]
    s = dict(ok=len(ok), runs=len(all_))
    if ok:
        med = lambda k: statistics.median(x[k] for x in ok)
        s.update(wall=med("wall"), user=med("user"), sys=med("sys"), rss=med("rss") / 1024.0,
                 best=min(x["wall"] for x in ok))
        s["cpu"] = s["user"] + s["sys"]
        s["eps"] = events[tool] / s["wall"]
        s["eps_core"] = events[tool] / max(s["wall"], s["cpu"])
        if all(x["query"] is not None for x in ok):
            s["query"] = statistics.median(x["query"] for x in ok)
    S[tool] = s

print("kjoin benchmark: kjoin --on user --within 1s --time ts%s LEFT RIGHT; %d keys, %d events/s of"
      % (extra, keys, rate))
print("event time per side; N = %d events per side. Medians of OK runs; whole process: wall from"
      % n)
print("$EPOCHREALTIME, CPU and peak RSS from /usr/bin/time; events/s counts both sides.")
print()
hdr = "%-10s %15s %7s %8s %8s %8s %7s %12s %8s %8s" % (
    "run", "events", "ok/runs", "wall s", "(min)", "user s", "sys s", "events/s", "MB/s", "RSS MiB")
print(hdr)
print("-" * len(hdr))
for tool in order:
    s = S[tool]
    if not s["runs"]:
        continue
    okr = "%d/%d" % (s["ok"], s["runs"])
    if s["ok"]:
        print("%-10s %15s %7s %8.3f %8.3f %8.3f %7.3f %12.0f %8.1f %8.1f" % (
            tool, "%d+%d" % (events[tool] // 2, events[tool] // 2), okr, s["wall"], s["best"],
            s["user"], s["sys"], s["eps"], nbytes[tool] / 1e6 / s["wall"], s["rss"]))
    else:
        print("%-10s %15s %7s %8s %8s %8s %7s %12s %8s %8s" % (tool, "", okr, *["n/a"] * 7))
print()
hdr2 = "%-56s %10s %10s  %s" % ("goal", "value", "goal", "result")
print(hdr2)
print("-" * len(hdr2))

def line(label, value, fmt, goal, gfmt, ok_):
    print("%-56s %10s %10s  %s" % (label, fmt % value if value is not None else "n/a",
                                   gfmt % goal, "PASS" if ok_ else "MISS"))

a, d = S["kjoin-N"], S["kjoin-2N"]
have_a = a["ok"] > 0 and "kjoin-N" not in check_failed
have_d = d["ok"] > 0 and "kjoin-2N" not in check_failed
v = a["eps_core"] if have_a else None
line("kjoin events/s on one core, N+N (2N / max(wall, cpu))", v and v / 1e6, "%.2fM",
     GOAL_EPS / 1e6, ">=%.0fM", v is not None and v >= GOAL_EPS)
v = d["rss"] / a["rss"] if have_a and have_d else None
line("bounded memory: peak RSS at 2N+2N / at N+N", v, "%.2fx", GOAL_RSS, "<=%.2fx",
     v is not None and v <= GOAL_RSS)
if have_d:
    print("%-56s %10s %10s  %s" % ("kjoin events/s on one core, 2N+2N",
                                   "%.2fM" % (d["eps_core"] / 1e6), "", "(info)"))
for threads in (2, 1):
    q = S["duckdb-%d" % threads]
    if not q["runs"]:
        continue
    ok_q = have_a and q["ok"] and "duckdb-%d" % threads not in check_failed and q.get("query")
    v = a["wall"] / q["query"] if ok_q else None
    if threads == 2:
        line("kjoin N+N wall / DuckDB query time, 2 threads", v, "%.2fx", GOAL_DDB, "<=%.1fx",
             v is not None and v <= GOAL_DDB)
    else:
        print("%-56s %10s %10s  %s" % ("kjoin N+N wall / DuckDB query time, 1 thread",
                                       "%.2fx" % v if v else "n/a", "", "(info)"))
    if ok_q:
        print("%-56s %10s %10s  %s" % ("kjoin N+N wall / DuckDB whole process, %d thread%s"
                                       % (threads, "s" if threads > 1 else ""), "%.2fx" % (a["wall"] / q["wall"]), "",
                                       "(info)"))
        print("%-56s %10s %10s  %s" % ("  DuckDB's query time, %d thread%s" % (threads, "s" if threads > 1 else ""),
                                       "%.3f s" % q["query"], "", "(info)"))
b = S["bare-N"]
if have_a and b["runs"] and b["ok"]:
    print("%-56s %10s %10s  %s" % ("kjoin events/s / bare per-line pass over both files",
                                   "%.0f%%" % (100 * a["eps"] / b["eps"]), "", "(info)"))
print()
if have_a and have_d:
    print("peak RSS (median, MiB): N+N %.1f, 2N+2N %.1f (growth %.1f MiB for %d more events);"
          % (a["rss"], d["rss"], d["rss"] - a["rss"], 2 * n))
    print("input %.1f MB vs %.1f MB; a 1 s join window holds ~%d events per side"
          % (b1 / 1e6, b2 / 1e6, rate))
for t in ("kjoin-N", "kjoin-2N"):
    if S[t]["runs"] and S[t]["ok"]:
        print("%s CPU/wall %.2f (1.00 = one core busy)" % (t, S[t]["cpu"] / S[t]["wall"]))
busy = [t for t in order if S[t]["runs"] and S[t]["ok"] and S[t]["wall"] >= 0.2
        and S[t]["cpu"] / S[t]["wall"] < 0.75]  # shorter runs: CPU times in 10 ms steps
if busy:
    print()
    print("WARNING: %s got less than 75%% of a core over its wall time: the machine was busy"
          % ", ".join(busy))
    print("  (load average above); wall-time figures are inflated, rerun on a quiet machine.")
if check_failed:
    print()
    print("A result check FAILED (above) for %s: its goals are shown as MISS, not measured."
          % " and ".join(check_failed))
failed = sum(1 for x in runs if x["status"] != "OK")
if failed:
    print("%d run(s) FAILED (exit status, or rows differing from round 1); left out above" % failed)
PYEOF
echo "(per-run data: $RESULTS; outputs: $OUT; stderr and time files: $LOG)"
exit "$FAILED"
