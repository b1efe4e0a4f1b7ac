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
