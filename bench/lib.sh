# Shared by bench/window_bench.sh and bench/join_bench.sh: source it after
# setting LOG (a directory for per-run logs) and RUN_TIMEOUT (seconds).

# usage: the calling script's header comment, as help.
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[1]}"; }

# timed OUTFILE NAME CMD...: run CMD under /usr/bin/time, stdout to OUTFILE,
# stderr to $LOG/NAME.err. Sets T_RC and T_MEAS ("wall_s rss_kib user_s sys_s").
timed() {
  local out=$1 name=$2 tf t0 t1
  shift 2
  tf=$LOG/$name.time
  T_RC=0
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%e %M %U %S' -o "$tf" \
    timeout -k 10 "$RUN_TIMEOUT" "$@" >"$out" 2>"$LOG/$name.err" || T_RC=$?
  t1=$EPOCHREALTIME
  # %e has 10 ms steps, too coarse for runs of a few tenths of a second: the
  # wall time is taken around /usr/bin/time instead (includes ~2 ms of its
  # fork/exec and timeout's, for every tool alike).
  T_MEAS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') $(tail -n 1 "$tf" | cut -d' ' -f2-)"
}

# show_err NAME: the first lines of a run's stderr, indented.
show_err() {
  [[ -s $LOG/$1.err ]] && sed 's/^/    | /' "$LOG/$1.err" | head -n 5
  return 0
}

# find_duckdb DIR: sets DDB_PY to a python with DuckDB, from a virtualenv
# DIR/duckdb-venv made with pip the first time (PyPI's duckdb); empty, and
# said so, when that fails or DUCKDB=0.
find_duckdb() {
  local venv=$1/duckdb-venv
  DDB_PY=""
  [[ ${DUCKDB:-1} != 0 ]] || return 0
  if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    { "${PY:-python3}" -m venv "$venv" && "$venv/bin/pip" install -q duckdb; } >"$LOG/duckdb-install.log" 2>&1 || true
  fi
  if "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    DDB_PY=$venv/bin/python
  else
    echo "DuckDB:   NOT AVAILABLE (python3 -m venv + pip install duckdb failed; see $LOG/duckdb-install.log): its runs are skipped"
  fi
}

# duckdb_run STDOUT ROWS FIRST_ROWS ROUND: a run of bench/duckdb_job.py.
# Sets DDB_QUERY_S to the query time it printed; returns 1, saying why, when
# it printed none, or when a later round's rows are not as many as round
# 1's (their order and the last bits of sums follow DuckDB's threads, so
# the count is what must hold; round 1's rows are checked in full).
duckdb_run() {
  local stdout=$1 rows=$2 first=$3 round=$4
  DDB_QUERY_S=$(sed -n 's/.* query_s=\([0-9.]*\) .*/\1/p' "$stdout")
  if [[ -z $DDB_QUERY_S ]]; then
    echo "    DuckDB printed no query time"
    return 1
  fi
  if ((round > 1)) && [[ $(wc -l <"$rows") != $(wc -l <"$first") ]]; then
    echo "    DuckDB's output in round $round has another row count than in round 1"
    return 1
  fi
}
