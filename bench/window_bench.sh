#!/usr/bin/env bash
# window_bench.sh - kwindow and kagg against DuckDB, Miller and a bare simdjson pass.
#
# Usage: bench/window_bench.sh [-n EVENTS] [-r RUNS] [-m MLR_RUNS] [--skip-missing] [VAR=VALUE...]
#        bench/window_bench.sh -h
#
# What it does, in order:
#   1. Writes EVENTS deterministic JSON lines of ~62 bytes (bench/gen_events.py,
#      seed 42) to $DIR/events-EVENTS.jsonl, or reuses that file:
#        {"ts":1732441201983,"user":"u089","amount":41.66,"id":2}
#      1,000 users; amount an integer one time in four, else up to 2 decimals;
#      ts in epoch ms, ~500 events/s, out of order by at most 2 s.
#   2. Builds bench/simdjson_pass in $DIR/simdjson_pass-build (cmake, only
#      simdjson) unless SIMDJSON_PASS names a binary.
#   3. Runs RUNS rounds; each round runs, one after the other, on the same file:
#        kwindow --tumble 1m --time ts --max-delay 2s --by user -a count -a sum:amount FILE
#        mlr --ijsonl --ojsonl put '$w = floor($ts/60000)' \
#            then stats1 -a count,sum -f amount -g w,user FILE      (rounds 1..MLR_RUNS)
#        kagg --by user -a count -a sum:amount FILE
#        mlr --ijsonl --ojsonl stats1 -a count,sum -f amount -g user FILE   (rounds 1..MLR_RUNS)
#        cat FILE | kwindow ..., cat FILE | kagg ...   (the same jobs through a
#                                          pipe, as in a pipeline; timed whole,
#                                          cat included; rows byte-identical to
#                                          the file's)
#        simdjson_pass --per-line FILE     the bare pass: memchr + one
#                                          simdjson::dom::parser::parse per line
#        simdjson_pass --parse-many FILE   dom parse_many over each 1 MiB block,
#                                          one thread: simdjson's fastest reading
#        simdjson_pass --ondemand FILE     (information: On-Demand per line,
#                                          reading only ts/user/amount)
#        duckdb_job.py window|agg 1|2 FILE ROWS   DuckDB, the same two jobs with
#                                          1 and 2 threads (bench/duckdb_job.py:
#                                          read_json, GROUP BY, COPY TO ROWS);
#                                          it also prints its own query time
#      DuckDB comes from PyPI into $DIR/duckdb-venv (python3 -m venv, pip
#      install duckdb) the first time; when that fails it is said so and
#      DuckDB's runs are skipped (DUCKDB=0 skips them too).
#      simdjson_pass reads the file as the tools do (1 MiB blocks into one
#      padded buffer, lines parsed in place) and reads ts/user/amount of every
#      record into a checksum.
#      Every tool writes its rows to a file (not /dev/null: writing is part of
#      the job). Each run is measured by `/usr/bin/time -f '%M %U %S'` (peak
#      RSS KiB, user s, sys s) and bash's $EPOCHREALTIME around it (wall s,
#      finer than time's 10 ms %e).
#   4. Checks the results before believing any timing (untimed):
#      - kwindow: the late records are recomputed from the data (watermark
#        W = max ts - 2 s, judged before each record, per kpipe(7)); kwindow's
#        rows must equal Miller's (window, user) groups minus those late
#        records: same row set, counts equal, sums within 1e-9 relative; every
#        window 60000 ms and epoch-aligned; rows in the order the spec gives
#        (window end, then first arrival = Miller's first-seen order); total
#        count = EVENTS - late; the "K late" of kwindow's stderr summary = late.
#      - kagg: per user count and sum equal to Miller's, users in Miller's
#        first-seen order, total count = EVENTS, total sum = the bare pass's.
#      - Miller: counts sum to EVENTS. simdjson_pass: every mode gives the same
#        record count and checksums.
#      - DuckDB: its rows equal kwindow's and kagg's (same keys and counts,
#        sums within 1e-9 relative; its row order and the last bits of its
#        sums depend on its threads, so later rounds are held to the row
#        count alone).
#      A later run of a tool counts only if it exits 0 and its output is
#      byte-identical to its checked first run (simdjson_pass: same checksums).
#   5. Prints every run, then medians and the goals, each PASS or MISS:
#      - kwindow and kagg at least 25x Miller's speed (wall time, same job);
#      - at least 3M events/s on one core: EVENTS / max(wall, user+sys), so a
#        tool using a second thread is held to its CPU time;
#      - at least 50% of the bare per-line DOM pass's events/s, and 70% of
#        the one-thread parse_many pass's (issue 19); both are whole-process
#        wall times, like the tools' (load the file + parse); the tools' events
#        per CPU second against the parse_many pass are printed beside them;
#      - peak RSS of each;
#      - kwindow and kagg wall time at most 0.8x DuckDB's with 2 threads,
#        DuckDB's taken as its own query time (the strict reading: its
#        interpreter start is left out); the whole-process ratios are printed
#        beside it.
#
# The machine has few cores: anything else running (a compiler) skews all of
# this; the load average is printed before and after. Miller 6 runs its reader,
# mapper and writer as goroutines, so its CPU time exceeds its wall time.
#
# Options (each also settable as VAR=VALUE in the environment or as an argument):
#   -n, --events N     N: events in the data file (default 1000000)
#   -r, --runs R       RUNS: rounds of kwindow/kagg/simdjson_pass (default 5)
#   -m, --mlr-runs M   MLR_RUNS: rounds that also run Miller (default: every
#                      round, alternating with the others like every peer;
#                      Miller takes ~5 s per command per 1M events)
#   --skip-missing     SKIP_MISSING=1: run the rest when kwindow or kagg is not
#                      built yet (exit status 1 then)
#   -h, --help         print this and exit
# Environment:
#   THREADS           passed to kwindow and kagg as --threads THREADS (default: the
#                     tools' own, 2 on 2 cores or more: input parsed on a second thread)
#   KPIPE_BIN         where kwindow and kagg are (default build/), else PATH
#   KWINDOW, KAGG, MLR, SIMDJSON_PASS   the binaries, overriding the above
#   KPIPE_BENCH_DIR   scratch dir for data, outputs and logs (default build/bench)
#   RUN_TIMEOUT       seconds before one run is killed (default 600)
#
# Needs: /usr/bin/time, mlr (Miller 6), python3, cmake and simdjson (Debian
# libsimdjson-dev) for the bare pass. scripts/install-deps.sh installs them.
# Exit status: 0 when every run succeeded and every check agreed (whatever
# PASS/MISS says), 1 when a run failed or a result disagreed, 2 on bad usage
# or a missing prerequisite.
#
# Examples:
#   bench/window_bench.sh                    # 1M events, 5 rounds, Miller in each
#   bench/window_bench.sh -n 100000 -r 3     # quick smoke run
#   bench/window_bench.sh -r 7 -m 3
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
die() { echo "window_bench.sh: $*" >&2; exit 2; }

N=${N:-1000000}
RUNS=${RUNS:-5}
MLR_RUNS=${MLR_RUNS:-$RUNS}
SKIP_MISSING=${SKIP_MISSING:-0}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}

while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n|--events) (($# >= 2)) || die "$1 needs a value"; N=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    -m|--mlr-runs) (($# >= 2)) || die "$1 needs a value"; MLR_RUNS=$2; shift ;;
    --skip-missing) SKIP_MISSING=1 ;;
    N=*|RUNS=*|MLR_RUNS=*|SKIP_MISSING=*|RUN_TIMEOUT=*|KPIPE_BIN=*|KWINDOW=*|KAGG=*|MLR=*|\
    SIMDJSON_PASS=*|KPIPE_BENCH_DIR=*|DUCKDB=*|THREADS=*) declare "${1%%=*}=${1#*=}" ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
[[ $MLR_RUNS =~ ^[1-9][0-9]*$ ]] || die "MLR_RUNS must be a positive integer (Miller's result checks the others)"
((MLR_RUNS <= RUNS)) || MLR_RUNS=$RUNS
[[ $RUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "RUN_TIMEOUT must be a positive integer"

DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
BIN=${KPIPE_BIN:-$REPO/build}
PY=${KPIPE_PYTHON:-/usr/bin/python3}
MLR=${MLR:-mlr}

# ---- prerequisites: say how to get them, install nothing --------------------
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (GNU time); install it: apt-get install -y time"
command -v "$MLR" >/dev/null || die "mlr missing; install it: apt-get install -y miller"
command -v "$PY" >/dev/null || die "$PY missing"
command -v timeout >/dev/null || die "timeout (coreutils) missing"

# find_tool NAME: $BIN/NAME, else NAME on PATH, else empty.
find_tool() {
  if [[ -x $BIN/$1 ]]; then
    echo "$BIN/$1"
  else
    command -v "$1" || true
  fi
}
KWINDOW=${KWINDOW:-$(find_tool kwindow)}
KAGG=${KAGG:-$(find_tool kagg)}
MISSING=()
[[ -n $KWINDOW && -x $KWINDOW ]] || MISSING+=(kwindow)
[[ -n $KAGG && -x $KAGG ]] || MISSING+=(kagg)
if ((${#MISSING[@]})); then
  ((SKIP_MISSING)) ||
    die "${MISSING[*]} not found in $BIN or on PATH; build them (cmake --build $REPO/build -j2) or pass --skip-missing"
  echo "window_bench.sh: warning: ${MISSING[*]} not found; running without (exit status will be 1)" >&2
fi
has() { [[ " ${MISSING[*]} " != *" $1 "* ]]; }

mkdir -p "$DIR"
LOG=$DIR/window-logs
OUT=$DIR/window-out
mkdir -p "$LOG" "$OUT"
RESULTS=$DIR/window-results.tsv
: >"$RESULTS"

if [[ -z ${SIMDJSON_PASS:-} ]]; then
  command -v cmake >/dev/null || die "cmake missing (to build bench/simdjson_pass)"
  SPBUILD=$DIR/simdjson_pass-build
  { cmake -S "$HERE" -B "$SPBUILD" -DCMAKE_BUILD_TYPE=Release &&
      cmake --build "$SPBUILD" -j2; } >"$LOG/simdjson_pass-build.log" 2>&1 ||
    die "could not build bench/simdjson_pass (needs libsimdjson-dev); see $LOG/simdjson_pass-build.log"
  SIMDJSON_PASS=$SPBUILD/simdjson_pass
fi
[[ -x $SIMDJSON_PASS ]] || die "no simdjson_pass at $SIMDJSON_PASS"

find_duckdb "$DIR"  # DuckDB, a peer in a virtualenv of the benchmark's own

# The tools may be rebuilt while this runs (a developer's build dir): note
# what was measured, and refuse to report a mix of two builds as one.
fingerprint() {
  local t
  for t in "$@"; do
    if [[ -n $t && -x $t ]]; then cksum <"$t" | cut -d' ' -f1; fi
  done | tr '\n' ' '
}
BIN_PRINT=$(fingerprint "$KWINDOW" "$KAGG" "$SIMDJSON_PASS")

# ---- data --------------------------------------------------------------------
DATA=$DIR/events-$N.jsonl
if [[ -s $DATA ]] && [[ $(wc -l <"$DATA") -eq $N ]]; then
  echo "data: reusing $DATA"
else
  echo "data: writing $N events to $DATA"
  "$PY" "$HERE/gen_events.py" -n "$N" "$DATA"
fi
BYTES=$(wc -c <"$DATA")
cat "$DATA" >/dev/null # into the page cache before the first timed run

echo "$N events, $BYTES bytes ($(awk -v b="$BYTES" -v n="$N" 'BEGIN{printf "%.1f", b/n}') bytes/line); $RUNS rounds, Miller in $MLR_RUNS"
echo "cpu:      $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) cores"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before"
has kwindow && echo "kwindow:  $KWINDOW ($("$KWINDOW" --version 2>&1 | head -n 1))"
has kagg && echo "kagg:     $KAGG ($("$KAGG" --version 2>&1 | head -n 1))"
echo "mlr:      $(command -v "$MLR") ($("$MLR" --version 2>&1 | head -n 1))"
echo "simdjson: $SIMDJSON_PASS ($("$SIMDJSON_PASS" --per-line /dev/null 2>&1 | head -n 1))"
[[ -n $DDB_PY ]] && echo "duckdb:   $("$DDB_PY" -c 'import duckdb; print(duckdb.__version__)') in $DDB_PY"

THREAD_ARGS=()
[[ -n ${THREADS:-} ]] && THREAD_ARGS=(--threads "$THREADS")
# ---- commands ----------------------------------------------------------------
# cmd_for NAME -> sets cmd. NAMEs are what the report and the logs use.
# shellcheck disable=SC2016,SC2054  # Miller's DSL is meant literally; commas are args
cmd_for() {
  case $1 in
    kwindow) cmd=("$KWINDOW" --tumble 1m --time ts --max-delay 2s --by user
                  -a count -a sum:amount "${THREAD_ARGS[@]}" "$DATA") ;;
    mlr-window) cmd=("$MLR" --ijsonl --ojsonl put '$w = floor($ts/60000)'
                     'then' stats1 -a count,sum -f amount -g w,user "$DATA") ;;
    kagg) cmd=("$KAGG" --by user -a count -a sum:amount "${THREAD_ARGS[@]}" "$DATA") ;;
    kwindow-pipe|kagg-pipe)  # the same job read from a pipe, as in a pipeline
      cmd_for "${1%-pipe}"
      cmd=(bash -c 'set -o pipefail; cat "$1" | "${@:2}"' pipe "$DATA" "${cmd[@]:0:${#cmd[@]}-1}") ;;
    mlr-agg) cmd=("$MLR" --ijsonl --ojsonl stats1 -a count,sum -f amount -g user "$DATA") ;;
    sj-per-line|sj-parse-many|sj-ondemand)
      cmd=("$SIMDJSON_PASS" "--${1#sj-}" "$DATA") ;;
    duckdb-window-1|duckdb-window-2|duckdb-agg-1|duckdb-agg-2)
      local job=${1#duckdb-}
      cmd=("$DDB_PY" "$HERE/duckdb_job.py" "${job%-*}" "${job##*-}" "$DDB_ROWS" "$DATA") ;;
  esac
}


# ---- checks (Python, untimed) ------------------------------------------------
# check_results KIND ...: prints one line per finding; exit 0 when all agree.
check_results() {
  "$PY" - "$@" <<'PYEOF'
import json, math, re, sys

def rows(path):
    """JSON rows of a tool's output; control records counted apart."""
    out, control = [], 0
    with open(path) as f:
        for i, line in enumerate(f, 1):
            o = json.loads(line)
            if isinstance(o, dict) and "@kpipe" in o:
                control += 1
                continue
            out.append(o)
    return out, control

def close(a, b):
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)

problems = []
def bad(msg):
    problems.append(msg)

def number(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("%s is not a number: %r" % (what, v))
    return v

kind = sys.argv[1]
if kind == "window":
    data, kw_out, kw_err, mlr_out, n = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
    size, delay = 60000, 2000
    # Late records per kpipe(7): judged against W before the record; W = max(W, t - D).
    W = None
    late = {}  # (start, user) -> [count, sum]
    nlate = 0
    with open(data) as f:
        for line in f:
            o = json.loads(line)
            t = o["ts"]
            start = (t // size) * size
            if W is not None and start + size <= W:
                nlate += 1
                a = late.setdefault((start, o["user"]), [0, 0])
                a[0] += 1
                a[1] += o["amount"]
            W = t - delay if W is None else max(W, t - delay)
    mrows, _ = rows(mlr_out)
    expect = {}
    order = []
    for r in mrows:
        key = (r["w"] * size, r["user"])
        c, s = r["amount_count"], r["amount_sum"]
        if key in late:
            c -= late[key][0]
            s -= late[key][1]
        if c > 0:
            expect[key] = (c, s)
            order.append(key)
    if sum(r["amount_count"] for r in mrows) != n:
        bad("Miller's counts add up to %d, not %d" % (sum(r["amount_count"] for r in mrows), n))
    krows, control = rows(kw_out)
    got = {}
    korder = []
    total = 0
    try:
        for r in krows:
            s0, e0 = r["window_start"], r["window_end"]
            if e0 - s0 != size or s0 % size:
                bad("row with window [%s, %s) is not an aligned 1m window" % (s0, e0))
                break
            key = (s0, r["user"])
            if key in got:
                bad("duplicate row for window %s user %s" % key)
            got[key] = (number(r["count"], "count"), number(r["sum_amount"], "sum_amount"))
            korder.append(key)
            total += r["count"]
    except (KeyError, ValueError) as e:
        bad("kwindow row lacks or mistypes %s; first row: %s" % (e, json.dumps(krows[0]) if krows else "none"))
    if not problems:
        missing = [k for k in expect if k not in got]
        extra = [k for k in got if k not in expect]
        if missing:
            bad("%d (window, user) groups of Miller's missing in kwindow's output, e.g. %s" % (len(missing), missing[:3]))
        if extra:
            bad("%d (window, user) groups in kwindow's output that Miller lacks, e.g. %s" % (len(extra), extra[:3]))
        cnt = [k for k in expect if k in got and got[k][0] != expect[k][0]]
        sm = [k for k in expect if k in got and not close(got[k][1], expect[k][1])]
        if cnt:
            k = cnt[0]
            bad("%d groups with a count other than Miller's, e.g. %s: %s vs %s" % (len(cnt), k, got[k][0], expect[k][0]))
        if sm:
            k = sm[0]
            bad("%d groups with a sum other than Miller's, e.g. %s: %r vs %r" % (len(sm), k, got[k][1], expect[k][1]))
        exact = sum(1 for k in expect if k in got and got[k][1] == expect[k][1])
        if total != n - nlate:
            bad("kwindow's counts add up to %d, not N - late = %d - %d" % (total, n, nlate))
        # Spec order: window end, then window start, then first arrival of (window, key);
        # Miller's first-seen order restricted to one window is that arrival order.
        want = sorted(order, key=lambda k: k[0])  # stable: keeps first-seen order within a window
        if not missing and not extra and korder != want:
            i = next(i for i, (a, b) in enumerate(zip(korder, want)) if a != b)
            bad("rows out of the spec's order (window end, then first arrival) from row %d: %s, expected %s" % (i + 1, korder[i], want[i]))
    err = open(kw_err).read()
    m = re.search(r"(\d+) late", err)
    if not m:
        bad("no 'K late' in kwindow's stderr summary: %r" % err.strip()[:200])
    elif int(m.group(1)) != nlate:
        bad("kwindow reports %s late records; recomputed from the data: %d" % (m.group(1), nlate))
    if not problems:
        print("kwindow OK: %d rows = Miller's (window, user) groups; %d late (recomputed and reported); "
              "counts add up to N - late = %d; sums bit-identical to Miller's in %d of %d rows%s"
              % (len(krows), nlate, total, exact, len(expect),
                 "; %d control records" % control if control else ""))
elif kind == "agg":
    kg_out, mlr_out, n, pass_sum = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    mrows, _ = rows(mlr_out)
    expect = {r["user"]: (r["amount_count"], r["amount_sum"]) for r in mrows}
    if sum(c for c, _ in expect.values()) != n:
        bad("Miller's counts add up to %d, not %d" % (sum(c for c, _ in expect.values()), n))
    krows, control = rows(kg_out)
    got, order = {}, []
    try:
        for r in krows:
            got[r["user"]] = (number(r["count"], "count"), number(r["sum_amount"], "sum_amount"))
            order.append(r["user"])
    except (KeyError, ValueError) as e:
        bad("kagg row lacks or mistypes %s; first row: %s" % (e, json.dumps(krows[0]) if krows else "none"))
    if not problems:
        if len(order) != len(got):
            bad("kagg writes %d rows for %d users" % (len(order), len(got)))
        if set(got) != set(expect):
            bad("users differ: %d only in kagg, %d only in Miller" % (len(set(got) - set(expect)), len(set(expect) - set(got))))
        cnt = [u for u in expect if u in got and got[u][0] != expect[u][0]]
        sm = [u for u in expect if u in got and not close(got[u][1], expect[u][1])]
        if cnt:
            bad("%d users with a count other than Miller's, e.g. %s: %s vs %s" % (len(cnt), cnt[0], got[cnt[0]][0], expect[cnt[0]][0]))
        if sm:
            bad("%d users with a sum other than Miller's, e.g. %s: %r vs %r" % (len(sm), sm[0], got[sm[0]][1], expect[sm[0]][1]))
        if not cnt and not sm and order != [r["user"] for r in mrows]:
            bad("users not in first-seen order (Miller's order)")
        total = sum(c for c, _ in got.values())
        tsum = sum(s for _, s in got.values())
        if total != n:
            bad("kagg's counts add up to %d, not %d" % (total, n))
        if pass_sum != "" and not math.isclose(tsum, float(pass_sum), rel_tol=1e-9):
            bad("kagg's sums add up to %.2f, the bare pass's sum_amount is %s" % (tsum, pass_sum))
        exact = sum(1 for u in expect if u in got and got[u][1] == expect[u][1])
    if not problems:
        print("kagg OK: %d users = Miller's, same counts and order; sums bit-identical to Miller's in %d of %d; "
              "total count %d, total sum %.2f = the bare pass's%s"
              % (len(got), exact, len(expect), total, tsum, "; %d control records" % control if control else ""))
elif kind == "duckdb":
    # DuckDB's rows against the checked rows of kwindow or kagg, as sets.
    name, ddb_out, ref_out = sys.argv[2], sys.argv[3], sys.argv[4]
    keyf = (lambda r: (r["window_start"], r["user"])) if "window" in name else (lambda r: r["user"])
    ref = {keyf(r): (r["count"], r["sum_amount"]) for r in rows(ref_out)[0]}
    got = {keyf(r): (r["count"], r["sum_amount"]) for r in rows(ddb_out)[0]}
    if set(got) != set(ref):
        bad("%d keys only in DuckDB's rows, %d only in kpipe's" % (len(set(got) - set(ref)), len(set(ref) - set(got))))
    else:
        diff = [k for k in ref if got[k][0] != ref[k][0] or not close(got[k][1], ref[k][1])]
        if diff:
            bad("%d rows differ, e.g. %s: DuckDB %s, kpipe %s" % (len(diff), diff[0], got[diff[0]], ref[diff[0]]))
    if not problems:
        print("%s OK: %d rows, the same keys, counts and sums (within 1e-9) as kpipe's" % (name, len(got)))
for p in problems:
    print("%s FAILED: %s" % (sys.argv[2] if kind == "duckdb" else "kwindow" if kind == "window" else "kagg", p))
sys.exit(1 if problems else 0)
PYEOF
}

# ---- runs --------------------------------------------------------------------
FAILED=0
SJ_REF=""              # "records sum_ts sum_amount user_hash" of the bare pass

record() { # bench tool run status wall rss user sys parse_s
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

# A run of NAME in round R. The first run's output is kept and checked later;
# a later run must reproduce it byte for byte.
run_one() {
  local name=$1 r=$2 bench=$3 out status parse_s=""
  if ((r == 1)); then DDB_ROWS=$OUT/$name.jsonl; else DDB_ROWS=$OUT/$name.last; fi
  cmd_for "$name"
  if ((r == 1)); then out=$OUT/$name.jsonl; else out=$OUT/$name.last; fi
  [[ $name == duckdb-* ]] && out=$LOG/$name-$r.stdout
  timed "$out" "$name-$r" "${cmd[@]}"
  read -r wall rss user sys <<<"$T_MEAS"
  status=OK
  ((T_RC == 0)) || status=FAILED
  if [[ $name == sj-* && $status == OK ]]; then
    local line sums
    line=$(grep '^mode=' "$out" || true)
    sums=$(sed -n 's/.* records=\([0-9]*\) .* sum_ts=\([0-9]*\) sum_amount=\([0-9.]*\) user_hash=\([0-9a-f]*\).*/\1 \2 \3 \4/p' <<<"$line")
    parse_s=$(sed -n 's/.* parse_s=\([0-9.]*\) .*/\1/p' <<<"$line")
    if [[ -z $sums || ${sums%% *} != "$N" ]]; then
      status=FAILED
    elif [[ -z $SJ_REF ]]; then
      SJ_REF=$sums
    elif [[ $sums != "$SJ_REF" ]]; then
      status=FAILED
      echo "    checksums differ from the first bare pass: $sums vs $SJ_REF"
    fi
  elif [[ $name == duckdb-* && $status == OK ]]; then
    duckdb_run "$out" "$DDB_ROWS" "$OUT/$name.jsonl" "$r" || status=FAILED
    parse_s=$DDB_QUERY_S
  elif [[ $name == *-pipe && $status == OK ]] && ! cmp -s "$out" "$OUT/${name%-pipe}.jsonl"; then
    status=FAILED
    echo "    output of $name in round $r differs from ${name%-pipe}'s from the file ($out vs $OUT/${name%-pipe}.jsonl)"
  elif ((r > 1)) && [[ $status == OK ]] && ! cmp -s "$out" "$OUT/$name.jsonl"; then
    status=FAILED
    echo "    output of $name in round $r differs from round 1 ($out vs $OUT/$name.jsonl)"
  fi
  [[ $status == OK ]] || FAILED=1
  record "$bench" "$name" "$r" "$status" "$wall" "$rss" "$user" "$sys" "$parse_s"
  printf '  round %d %-22s %-6s %7.3f s  user %6.2f s  sys %5.2f s  %8d KiB  exit %d\n' \
    "$r" "$name" "$status" "$wall" "$user" "$sys" "$rss" "$T_RC"
  [[ $status == OK ]] || show_err "$name-$r"
}

echo
echo "== $RUNS rounds, alternating tools; Miller in the first $MLR_RUNS =="
for ((r = 1; r <= RUNS; r++)); do
  has kwindow && run_one kwindow "$r" window
  has kwindow && run_one kwindow-pipe "$r" window
  if [[ -n $DDB_PY ]]; then run_one duckdb-window-1 "$r" window; run_one duckdb-window-2 "$r" window; fi
  ((r <= MLR_RUNS)) && run_one mlr-window "$r" window
  has kagg && run_one kagg "$r" agg
  has kagg && run_one kagg-pipe "$r" agg
  if [[ -n $DDB_PY ]]; then run_one duckdb-agg-1 "$r" agg; run_one duckdb-agg-2 "$r" agg; fi
  ((r <= MLR_RUNS)) && run_one mlr-agg "$r" agg
  for m in per-line parse-many ondemand; do
    run_one "sj-$m" "$r" bare
  done
done
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) after"
if [[ $(fingerprint "$KWINDOW" "$KAGG" "$SIMDJSON_PASS") != "$BIN_PRINT" ]]; then
  echo "FAILED: kwindow, kagg or simdjson_pass changed on disk during the runs (rebuilt?);"
  echo "        the timings mix two builds: rerun (or copy the binaries and set KWINDOW/KAGG)"
  FAILED=1
fi

# ---- checks ------------------------------------------------------------------
echo
echo "== checks of the first round's results (untimed) =="
CHECK_FAILED=""  # tools whose result disagreed
PASS_SUM=$(awk '{print $3}' <<<"$SJ_REF")
if has kwindow; then
  if grep -q $'^window\tkwindow\t1\tOK' "$RESULTS" && grep -q $'^window\tmlr-window\t1\tOK' "$RESULTS"; then
    check_results window "$DATA" "$OUT/kwindow.jsonl" "$LOG/kwindow-1.err" "$OUT/mlr-window.jsonl" "$N" ||
      CHECK_FAILED+=" kwindow"
  else
    echo "kwindow FAILED: kwindow's or Miller's window run failed; nothing to compare"
    CHECK_FAILED+=" kwindow"
  fi
fi
if has kagg; then
  if grep -q $'^agg\tkagg\t1\tOK' "$RESULTS" && grep -q $'^agg\tmlr-agg\t1\tOK' "$RESULTS"; then
    check_results agg "$OUT/kagg.jsonl" "$OUT/mlr-agg.jsonl" "$N" "$PASS_SUM" || CHECK_FAILED+=" kagg"
  else
    echo "kagg FAILED: kagg's or Miller's aggregation run failed; nothing to compare"
    CHECK_FAILED+=" kagg"
  fi
fi
for d in duckdb-window-1 duckdb-window-2 duckdb-agg-1 duckdb-agg-2; do
  [[ -n $DDB_PY ]] || break
  ref=$OUT/kwindow.jsonl
  [[ $d == duckdb-agg-* ]] && ref=$OUT/kagg.jsonl
  if grep -q $'\t'"$d"$'\t1\tOK' "$RESULTS" && [[ -s $ref ]]; then
    check_results duckdb "$d" "$OUT/$d.jsonl" "$ref" || CHECK_FAILED+=" $d"
  else
    echo "$d FAILED: its first run, or kpipe's, failed; nothing to compare"
    CHECK_FAILED+=" $d"
  fi
done
[[ -n $SJ_REF ]] && echo "bare pass OK: every mode read $N records with the same checksums ($SJ_REF)"
[[ -z $CHECK_FAILED ]] || FAILED=1

# ---- report ------------------------------------------------------------------
echo
"$PY" - "$RESULTS" "$N" "$BYTES" "$CHECK_FAILED" <<'PYEOF'
import statistics, sys

GOAL_MLR = 25.0     # tool speed / Miller's speed, at least
GOAL_EPS = 3e6      # events/s on one core, at least
GOAL_BARE = 0.5     # tool events/s / bare per-line pass events/s, at least
GOAL_MANY = 0.7     # tool events/s / bare parse_many pass events/s, at least (issue 19)
GOAL_DDB = 0.8      # tool wall / DuckDB's query time with 2 threads, at most (issue 19)

path, n, nbytes, check_failed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
runs = []
with open(path) as f:
    for line in f:
        bench, tool, r, status, wall, rss, user, sys_, parse_s = line.rstrip("\n").split("\t")
        runs.append(dict(bench=bench, tool=tool, status=status, wall=float(wall), rss=int(rss),
                         user=float(user), sys=float(sys_), parse=float(parse_s) if parse_s else None))
order = ["kwindow", "kwindow-pipe", "duckdb-window-1", "duckdb-window-2", "mlr-window", "kagg", "kagg-pipe",
         "duckdb-agg-1", "duckdb-agg-2", "mlr-agg", "sj-per-line", "sj-parse-many", "sj-ondemand"]
S = {}
for tool in order:
    all_ = [x for x in runs if x["tool"] == tool]
    ok = [x for x in all_ if x["status"] == "OK" and x["wall"] > 0]
    s = dict(ok=len(ok), runs=len(all_))
    if ok:
        med = lambda k: statistics.median(x[k] for x in ok)
        s.update(wall=med("wall"), user=med("user"), sys=med("sys"), rss=med("rss") / 1024.0,
                 best=min(x["wall"] for x in ok))
        s["eps"] = n / s["wall"]
        s["cpu"] = s["user"] + s["sys"]
        s["eps_core"] = n / max(s["wall"], s["cpu"])  # held to CPU time if it used >1 core
        if all(x["parse"] is not None for x in ok):
            s["parse"] = statistics.median(x["parse"] for x in ok)
    S[tool] = s

print("kwindow/kagg benchmark: %d events, %.2f MB (input incl. newlines); medians of OK runs;" % (n, nbytes / 1e6))
print("whole process: wall from $EPOCHREALTIME, CPU and peak RSS from /usr/bin/time; events/s = N / wall;")
print("(min) is the fastest run, for information: run-to-run spread shows how noisy the machine was.")
print()
hdr = "%-22s %7s %8s %8s %8s %7s %12s %8s %8s" % ("tool", "ok/runs", "wall s", "(min)", "user s",
                                                   "sys s", "events/s", "MB/s", "RSS MiB")
print(hdr)
print("-" * len(hdr))
for tool in order:
    s = S[tool]
    if not s["runs"]:
        continue
    okr = "%d/%d" % (s["ok"], s["runs"])
    if s["ok"]:
        print("%-22s %7s %8.3f %8.3f %8.3f %7.3f %12.0f %8.1f %8.1f" % (
            tool, okr, s["wall"], s["best"], s["user"], s["sys"], s["eps"], nbytes / 1e6 / s["wall"],
            s["rss"]))
    else:
        print("%-22s %7s %8s %8s %8s %7s %12s %8s %8s" % (tool, okr, *["n/a"] * 7))
for prefix, what in (("sj-", "bare pass, its own timing of read + parse (no process start/exit)"),
                     ("duckdb-", "DuckDB, its own timing of the query (read, group, write; no interpreter start)")):
    own = [t for t in order if t.startswith(prefix) and S[t].get("parse")]
    if own:
        print()
        print(what + ", median:")
        for t in own:
            print("  %-22s %8.3f s  %12.0f events/s" % (t, S[t]["parse"], n / S[t]["parse"]))
print()
hdr2 = "%-52s %10s %10s  %s" % ("goal", "value", "goal", "result")
print(hdr2)
print("-" * len(hdr2))

def line(label, value, fmt, goal, gfmt, ok_):
    print("%-52s %10s %10s  %s" % (label, fmt % value if value is not None else "n/a",
                                   gfmt % goal, "PASS" if ok_ else "MISS"))

for tool, peer in (("kwindow", "mlr-window"), ("kagg", "mlr-agg")):
    a, m = S[tool], S[peer]
    if not a["runs"]:
        print("%-52s %10s %10s  %s" % (tool + ": not run", "", "", "MISS"))
        continue
    have = a["ok"] > 0 and tool not in check_failed
    v = m["wall"] / a["wall"] if have and m["ok"] else None
    line("%s speed vs Miller (Miller wall / %s wall)" % (tool, tool), v, "%.1fx", GOAL_MLR, ">=%.0fx",
         v is not None and v >= GOAL_MLR)
    if have and m["ok"]:
        # Miller spreads over ~1.5 cores, so on a quiet 2-core machine its wall time
        # gains from the idle core; CPU time shows the work each does.
        print("%-52s %10s %10s  %s" % ("%s CPU time vs Miller (Miller cpu / %s cpu)" % (tool, tool),
                                       "%.1fx" % (m["cpu"] / a["cpu"]), "", "(info)"))
    v = a["eps_core"] if have else None
    line("%s events/s on one core (N / max(wall, cpu))" % tool, v and v / 1e6, "%.2fM", GOAL_EPS / 1e6,
         ">=%.0fM", v is not None and v >= GOAL_EPS)
    for b, label, goal in (("sj-per-line", "bare per-line DOM pass", GOAL_BARE),
                           ("sj-parse-many", "bare parse_many pass (1 thread)", GOAL_MANY)):
        v = a["eps"] / S[b]["eps"] if have and S[b]["ok"] else None
        line("%s events/s / %s" % (tool, label), v and v * 100, "%.0f%%", goal * 100, ">=%.0f%%",
             v is not None and v >= goal)
    if have and S["sj-parse-many"]["ok"]:
        # The same with the tool held to its CPU time, as if on one thread.
        print("%-52s %10s %10s  %s" % ("%s events per CPU second / parse_many pass" % tool,
                                       "%.0f%%" % (100 * a["eps_core"] / S["sj-parse-many"]["eps"]), "", "(info)"))
    job = "window" if tool == "kwindow" else "agg"
    for threads in (2, 1):
        d = S.get("duckdb-%s-%d" % (job, threads), {})
        if not d.get("runs"):
            continue
        ok_d = have and d.get("ok") and "duckdb-%s-%d" % (job, threads) not in check_failed and d.get("parse")
        v = a["wall"] / d["parse"] if ok_d else None
        if threads == 2:
            line("%s wall / DuckDB query time, 2 threads" % tool, v, "%.2fx", GOAL_DDB, "<=%.1fx",
                 v is not None and v <= GOAL_DDB)
        else:
            print("%-52s %10s %10s  %s" % ("%s wall / DuckDB query time, 1 thread" % tool,
                                           "%.2fx" % v if v else "n/a", "", "(info)"))
        if ok_d:
            print("%-52s %10s %10s  %s" % ("%s wall / DuckDB whole process, %d thread%s" % (
                tool, threads, "s" if threads > 1 else ""), "%.2fx" % (a["wall"] / d["wall"]), "", "(info)"))
    p = S[tool + "-pipe"]
    if have and p.get("ok"):
        print("%-52s %10s %10s  %s" % ("%s from a pipe (cat FILE |) / from the file, wall" % tool,
                                       "%.2fx" % (p["wall"] / a["wall"]), "", "(info)"))
    for b, label in (("sj-ondemand", "On-Demand per line, 3 fields"),):
        if have and S[b]["ok"]:
            print("%-52s %10s %10s  %s" % ("%s / %s" % (tool, label), "%.0f%%" % (100 * a["eps"] / S[b]["eps"]), "", "(info)"))
print()
print("peak RSS (median, MiB): " + ", ".join(
    "%s %.1f" % (t, S[t]["rss"]) for t in order if S[t]["runs"] and S[t]["ok"]))
mw = [t for t in ("mlr-window", "mlr-agg") if S[t]["runs"]]
if mw:
    print("Miller ran %d time(s) per command; its CPU/wall: %s" % (
        S[mw[0]]["runs"], ", ".join("%s %.2f" % (t, S[t]["cpu"] / S[t]["wall"]) for t in mw if S[t]["ok"])))
for t in ("kwindow", "kagg"):
    if S[t]["runs"] and S[t]["ok"]:
        print("%s CPU/wall %.2f (1.00 = one core busy)" % (t, S[t]["cpu"] / S[t]["wall"]))
busy = [t for t in ("kwindow", "kagg", "sj-per-line", "sj-parse-many")
        if S[t]["runs"] and S[t]["ok"] and S[t]["cpu"] / S[t]["wall"] < 0.75]
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
    print("%d run(s) FAILED (exit status or output differing from round 1); left out above" % failed)
PYEOF
echo "(per-run data: $RESULTS; outputs: $OUT; stderr and time files: $LOG)"
((${#MISSING[@]} == 0)) || FAILED=1
exit "$FAILED"
