# The unit templates of tools/systemd as installed: systemd-analyze verify
# passes on each, instantiated; systemd-analyze security rates their
# sandboxing; and the command lines they run with the example configuration
# are accepted by the tools.
source "$(dirname "$0")/lib.sh"
B=${KPIPE_BIN:?KPIPE_BIN is the build directory}
R=$T/root
run 0 env DESTDIR="$R" cmake --install "$B" --prefix /usr
U=$R/usr/lib/systemd/system
EX=$R/usr/share/doc/kpipe/examples/systemd
instances=("kpipe@.service:kpipe@clicks-per-user.service"
           "kpipe@.service:kpipe@clicks-by-user:2.service"
           "kpipe-pipeline@.service:kpipe-pipeline@clicks-per-minute.service")

# No systemd runs as PID 1 here or in CI, so the unit files are verified by
# path, each template under an instance name (FILE:NAME). verify warns on
# stderr about unknown or unparsable settings and still exits 0; it exits 1
# when ExecStart's program does not exist, and runs man(1) on each
# Documentation= page (the installed ones, through MANPATH).
for i in "${instances[@]}"; do
  (cd "$T" && env MANPATH="$R/usr/share/man" systemd-analyze verify "$U/${i%%:*}:${i#*:}") \
    > "$T/out" 2> "$T/err" || { cat "$T/err" >&2; fail "systemd-analyze verify ${i#*:}"; }
  if grep -q kpipe "$T/err"; then cat "$T/err" >&2; fail "systemd-analyze verify warns about ${i#*:}"; fi
  sed 's/^/note: systemd-analyze verify: /' "$T/err"
  echo "verify ${i#*:}: ok"
done

# The sandboxing: systemd-analyze security's exposure level, from 0.0 (all
# locked) to 10.0; both templates reach 1.2 or less, "OK". --threshold is in
# tenths.
for i in "${instances[@]}"; do
  st=0
  systemd-analyze security --offline=yes --threshold=12 "$U/${i%%:*}:${i#*:}" > "$T/sec" 2>&1 || st=$?
  score=$(sed -n 's/^.*Overall exposure level for .*: \([0-9][0-9.]*\) .*$/\1/p' "$T/sec")
  [ -n "$score" ] || { cat "$T/sec" >&2; fail "no exposure level for ${i#*:}"; }
  echo "security ${i#*:}: exposure $score"
  if [ "$st" != 0 ]; then grep '✗' "$T/sec" >&2; fail "${i#*:}: exposure $score is above 1.2"; fi
done

# What the notify protocol relies on (kpipe(7), RUNNING AS A SERVICE). In a
# pipeline WATCHDOG_PID would name bash, and the first stage would not feed
# the watchdog: systemd would kill the unit every 30 s.
for l in Type=notify NotifyAccess=main WatchdogSec=30s "SuccessExitStatus=143 130"; do
  expect_grep "$U/kpipe@.service" "^$l\$"
done
for l in Type=notify NotifyAccess=all WatchdogSec=30s UnsetEnvironment=WATCHDOG_PID; do
  expect_grep "$U/kpipe-pipeline@.service" "^$l\$"
done
# NotifyAccess=main in kpipe@.service needs the tool to be the main process:
# /usr/bin/env execs it in its own PID.
expect_eq "env keeps the PID" "$(sh -c 'echo $$; exec /usr/bin/env sh -c "echo \$\$"' | uniq | wc -l)" 1

# The Kafka configuration the examples get through LoadCredential=, with an
# address where no broker answers, so that a tool that accepted its command
# line waits for one (10 s) instead of exiting 2 at once; SIGTERM ends that
# wait at once, with status 143.
mkdir -p "$T/cred/clicks-per-user" "$T/cred/clicks-per-minute" "$T/state" "$T/run"
for n in clicks-per-user clicks-per-minute; do
  sed 's/^bootstrap\.servers=.*/bootstrap.servers=127.0.0.1:9/' "$EX/$n.properties" > "$T/cred/$n/kafka.properties"
  expect_grep "$T/cred/$n/kafka.properties" "^bootstrap.servers=127.0.0.1:9\$"
done
isolated=(env -u KPIPE_BROKERS -u KPIPE_CONFIG -u NOTIFY_SOCKET XDG_CONFIG_HOME="$T/xdg")

# kpipe@NAME.service: ExecStart= as systemd expands it, with %i, %n, %S,
# ${VAR} from the service's environment, and $KPIPE_ARGS and
# $KPIPE_STATE_ARGS split at whitespace, from the example's
# /etc/kpipe/NAME.env or else (KPIPE_STATE_ARGS) the unit's Environment=.
# clicks-per-user keeps its state in --state; clicks-by-user is a member of
# a consumer group (no --state; its properties are clicks-per-user's).
for n in clicks-per-user clicks-by-user; do
  mkdir -p "$T/cred/$n"
  [ "$n" == clicks-per-user ] || cp "$T/cred/clicks-per-user/kafka.properties" "$T/cred/$n/kafka.properties"
  declare -A var=(
    [KPIPE_TOOL]=$(sed -n 's/^KPIPE_TOOL=//p' "$EX/$n.env")
    [CREDENTIALS_DIRECTORY]=$T/cred/$n [STATE_DIRECTORY]=$T/state/$n [RUNTIME_DIRECTORY]=$T/run/$n)
  args=$(sed -n 's/^KPIPE_ARGS=//p' "$EX/$n.env")
  [[ $args != *[\"\'\\]* ]] || fail "$n.env: KPIPE_ARGS has quotes, which systemd honours and this test does not"
  read -ra kpipe_args <<< "$args"
  [ ${#kpipe_args[@]} -gt 0 ] || fail "$n.env sets no KPIPE_ARGS"
  if grep -q '^KPIPE_STATE_ARGS=' "$EX/$n.env"; then
    state_args=$(sed -n 's/^KPIPE_STATE_ARGS=//p' "$EX/$n.env")
  else
    state_args=$(sed -n 's/^Environment=KPIPE_STATE_ARGS=//p' "$U/kpipe@.service")
    state_args=${state_args//%S/$T/varlib}
    state_args=${state_args//%i/$n}
    mkdir -p "$T/varlib/kpipe/$n"
  fi
  read -ra state_words <<< "$state_args"
  mkdir -p "${var[STATE_DIRECTORY]}" "${var[RUNTIME_DIRECTORY]}"
  read -ra words <<< "$(sed -n '/^ExecStart=/,/[^\\]$/p' "$U/kpipe@.service" | sed -e 's/^ExecStart=//' -e 's/\\$//' | tr '\n' ' ')"
  cmd=()
  for w in "${words[@]}"; do
    if [ "$w" == '$KPIPE_ARGS' ]; then cmd+=("${kpipe_args[@]}"); continue; fi
    if [ "$w" == '$KPIPE_STATE_ARGS' ]; then cmd+=("${state_words[@]}"); continue; fi
    w=${w//%n/kpipe@$n.service}
    w=${w//%i/$n}
    for v in "${!var[@]}"; do w=${w//"\${$v}"/${var[$v]}}; done
    [[ $w != *'$'* && $w != *%* ]] || fail "ExecStart: '$w' has a variable or specifier this test does not know"
    cmd+=("$w")
  done
  expect_eq "ExecStart runs" "${cmd[0]} ${cmd[1]}" "/usr/bin/env /usr/bin/kagg"
  case $n in
    clicks-per-user) [[ " ${cmd[*]} " == *" --state=$T/varlib/kpipe/$n "* ]] || fail "$n: no --state in ${cmd[*]}" ;;
    clicks-by-user) [[ " ${cmd[*]} " != *" --state"* ]] || fail "$n: a member with --state: ${cmd[*]}" ;;
  esac
  cmd[1]=$R${cmd[1]}
  echo "kpipe@$n.service runs: ${cmd[*]}"
  st=0
  t0=${EPOCHREALTIME/./}
  { "${isolated[@]}" timeout --preserve-status -s TERM 4 "${cmd[@]}" > "$T/out" 2> "$T/err" || st=$?; } 2>/dev/null
  [ "$st" == 143 ] || { cat "$T/err" >&2; fail "kpipe@$n.service: the tool exited $st, want it waiting for the broker until SIGTERM (143)"; }
  took_ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
  [ "$took_ms" -lt 6000 ] || fail "kpipe@$n.service: the run with SIGTERM at 4 s during the wait for brokers took ${took_ms} ms"
  expect_no_grep "$T/err" "error:|Try '"
  unset var
done

# kpipe-pipeline@clicks-per-minute.service: the example script in the
# unit's environment, the installed tools first on its PATH. Every stage must
# accept its flags: a usage error is on stderr at once, though the other
# stages go on.
n=clicks-per-minute
bash -n "$EX/$n.pipeline" || fail "$n.pipeline: syntax"
expect_grep "$U/kpipe-pipeline@.service" '^ExecStart=/bin/bash -o pipefail -eu /etc/kpipe/%i\.pipeline$'
declare -A penv=()
for a in $(sed -n 's/^Environment=//p' "$U/kpipe-pipeline@.service"); do
  a=${a//%n/kpipe-pipeline@$n.service}
  penv[${a%%=*}]=${a#*=}
done
expect_eq "the pipelines' PATH starts with the bindir" "${penv[PATH]%%:*}" /usr/bin
expect_eq "KPIPE_UNIT" "${penv[KPIPE_UNIT]}" "kpipe-pipeline@$n.service"
mkdir -p "$T/state/$n" "$T/run/$n"
"${isolated[@]}" PATH="$R/usr/bin:${penv[PATH]}" KPIPE_UNIT="${penv[KPIPE_UNIT]}" \
  CREDENTIALS_DIRECTORY="$T/cred/$n" STATE_DIRECTORY="$T/state/$n" RUNTIME_DIRECTORY="$T/run/$n" \
  setsid bash -o pipefail -eu "$EX/$n.pipeline" > "$T/out" 2> "$T/err" &
pid=$!
sleep 4
kill -0 "$pid" 2>/dev/null || { cat "$T/err" >&2; fail "$n.pipeline ended early"; }
# bash and its two stages (env execs the tools), all still running.
pgrep -g "$pid" -l > "$T/ps" || true
{ kill -KILL -- "-$pid"; wait "$pid" || true; } 2>/dev/null
expect_eq "processes of $n.pipeline: $(tr '\n' ' ' < "$T/ps")" "$(grep -cE ' (bash|kwindow|kproduce)$' "$T/ps")" 3
expect_no_grep "$T/err" "error:|Try '"

# kpipe@NAME:N, members side by side: the unit names each one in
# KPIPE_INSTANCE, host and instance, which a member takes as its
# --instance (group.instance.id) unless it is given; a single process
# ignores it.
expect_grep "$U/kpipe@.service" '^Environment=KPIPE_INSTANCE=%l-%i$'
probe=("${isolated[@]}" KPIPE_INSTANCE=myhost-clicks-by-user:2 timeout --preserve-status -s TERM 2
       "$R/usr/bin/kagg" -v -b 127.0.0.1:9 --by user -a count)
st=0; { "${probe[@]}" -G g kafka:clicks > "$T/out" 2> "$T/err" || st=$?; } 2>/dev/null
expect_eq "a member waiting for its broker, stopped" "$st" 143
expect_grep "$T/err" "^kagg: group.instance.id=myhost-clicks-by-user:2$"
st=0; { "${probe[@]}" -G g --instance other kafka:clicks > "$T/out" 2> "$T/err" || st=$?; } 2>/dev/null
expect_grep "$T/err" "^kagg: group.instance.id=other$"
st=0; { "${probe[@]}" kafka:clicks > "$T/out" 2> "$T/err" || st=$?; } 2>/dev/null
expect_eq "a single process with KPIPE_INSTANCE set, stopped" "$st" 143
expect_no_grep "$T/err" "group.instance.id"
# Without KPIPE_INSTANCE, a member with a local copy (--state, made a member
# by --changelog) is named by the host and the directory.
st=0; { env -u KPIPE_INSTANCE "${isolated[@]}" timeout --preserve-status -s TERM 2 "$R/usr/bin/kagg" -v \
          -b 127.0.0.1:9 --by user -a count -G g --changelog c --state "$T/copy/" kafka:clicks \
          > "$T/out" 2> "$T/err" || st=$?; } 2>/dev/null
expect_grep "$T/err" "^kagg: group.instance.id=$(hostname):$T/copy$"
echo ok
