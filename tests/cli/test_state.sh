# --state DIR: checkpoints, restore and resume. A run killed with SIGKILL
# at random moments and restarted on the same state directory each time
# ends with output files identical to one uninterrupted run (rows written
# after the last checkpoint are cut off and written again).
source "$(dirname "$0")/lib.sh"

python3 - "$T/in.jsonl" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    t = 1732441200000
    for i in range(1000000):
        t += random.randrange(0, 5)
        late = random.random() < 0.001
        ts = t - (10000 if late else random.randrange(0, 1500))
        if random.random() < 0.0005:
            f.write('{"ts":%d,"user":"u%d","amount":"oops"}\n' % (ts, i % 50))
        else:
            f.write('{"ts":%d,"user":"u%d","amount":%d}\n' % (ts, i % 50, i % 97))
PY

# kill_chain NAME CHECK CMD...: runs CMD (which keeps its state in
# $T/NAME.state and writes $T/NAME.out, .late, .dead) again and again, each
# time killed with SIGKILL a random CRASH_AFTER_MS + [0, CRASH_SPREAD_MS)
# after its start, until it has been killed 8 times. Every restart goes on
# from its checkpoint, so on a fast machine the input can be done before the
# 8th kill: then CHECK WHAT must find that chain's files right, and a new
# chain starts from an empty state with CRASH_SPREAD_MS halved, up to four
# chains. Sets kills.
kill_chain() {
  local name=$1 check=$2 done i chain pid spread=${CRASH_SPREAD_MS:-60} after=${CRASH_AFTER_MS:-10}
  shift 2
  for chain in 1 2 3 4; do
    rm -rf "$T/$name.state" "$T/$name.out" "$T/$name.dead"
    : > "$T/$name.late"
    kills=0 done=0
    for i in $(seq 1 40); do
      "$@" 2> "$T/$name.err" &
      pid=$!
      sleep "$(awk -v ms=$((RANDOM % spread + after)) 'BEGIN { printf "%.3f", ms / 1000 }')"
      if kill -9 $pid 2> /dev/null; then
        wait $pid 2> /dev/null || true
        kills=$((kills + 1))
      else
        wait $pid || fail "$name: a restarted run failed: $(cat "$T/$name.err")"
        done=1
      fi
      [ $kills -ge 8 ] || [ $done = 1 ] && break
    done
    [ $kills -ge 8 ] && return 0
    $check "after $kills kills and a restart that finished"
    echo "$name: finished after $kills kills (each up to $((spread + after)) ms after its start); again, with the spread of kill times halved"
    spread=$(( (spread + 1) / 2 ))
  done
  fail "$name: the run finished before it was killed 8 times ($kills), four times over; make the input bigger"
}

crash_test() {  # crash_test NAME TOOL ARGS...: kill -9 at least 8 times, then finish
  local name=$1 in=${CRASH_INPUT:-$T/in.jsonl}
  shift
  # kagg has no late records: its late file stays empty on both sides.
  late() { [ "$1" = kagg ] || echo "--late $2"; }
  : > "$T/$name.late.ref"
  "$@" --output "$T/$name.ref" $(late "$1" "$T/$name.late.ref") --dead-letter "$T/$name.dead.ref" "$in" 2> /dev/null
  same() {  # same WHAT: the files of the restarted runs equal the reference
    cmp "$T/$name.out" "$T/$name.ref" || fail "$name: rows $1 differ from one uninterrupted run"
    cmp "$T/$name.late" "$T/$name.late.ref" || fail "$name: late records $1 differ"
    cmp "$T/$name.dead" "$T/$name.dead.ref" || fail "$name: dead letters $1 differ"
  }
  kill_chain "$name" same "$@" --state "$T/$name.state" --checkpoint-every 5ms --output "$T/$name.out" \
    $(late "$1" "$T/$name.late") --dead-letter "$T/$name.dead" "$in"
  "$@" --state "$T/$name.state" --output "$T/$name.out" $(late "$1" "$T/$name.late") \
    --dead-letter "$T/$name.dead" "$in" 2> "$T/$name.err" || fail "$name: final run: $(cat "$T/$name.err")"
  same "after $kills kills"
  [ -s "$T/$name.ref" ] && [ -s "$T/$name.dead.ref" ] || fail "$name: empty reference"
  echo "$name: identical after $kills kills"
  rm -rf "$T/$name".*
}
crash_test kwindow kwindow -q --tumble 10s --time ts --max-delay 2s --by user -a count -a sum:amount -a median:amount
crash_test sessions kwindow -q --session 3s --time ts --max-delay 2s --by user -a count -a sum:amount -a distinct:amount
crash_test kagg kagg -q --time ts --max-delay 2s --by user -a count -a sum:amount --emit changes
# Many keys, forgotten by --ttl and seen again: kagg's incremental
# checkpoints delete and re-create their entries.
crash_test kagg-ttl kagg -q --time ts --max-delay 2s --by user,amount -a count -a sum:amount --ttl 5s
# 100,000 keys, most changed between two checkpoints: kagg writes each
# checkpoint from another thread while it reads on (copy on write), so the
# kills land while one is being written.
python3 - "$T/keys.jsonl" <<'PY'
import random, sys
random.seed(11)
with open(sys.argv[1], "w") as f:
    for i in range(400000):
        f.write('{"k":"k%d","v":%d}\n' % (random.randrange(100000), i % 89))
    f.write('{"k":"k1","v":"oops"}\n')
PY
# Kills 60-460 ms after the start: after a checkpoint or two has been
# written behind (each takes about 100 ms here), or while one is.
CRASH_INPUT=$T/keys.jsonl CRASH_AFTER_MS=60 CRASH_SPREAD_MS=400 crash_test kagg-behind kagg -q --by k -a count -a sum:v -a max:v --emit changes
# End records mid-stream: each lets go of every key, while a checkpoint may
# be being written behind.
awk '{print} NR % 50000 == 0 {print "{\"@kpipe\":\"end\"}"}' "$T/keys.jsonl" > "$T/keys-end.jsonl"
CRASH_INPUT=$T/keys-end.jsonl CRASH_AFTER_MS=60 CRASH_SPREAD_MS=400 crash_test kagg-behind-end kagg -q --by k -a count -a sum:v -a distinct:v

# --memory-budget: ten times more keys than the budget holds; the rest live
# in the state directory and are read back when their key comes again. The
# rows equal an all-in-memory run's, final and as a changelog.
python3 - "$T/keys.jsonl" <<'PY'
import random, sys
r = random.Random(3)
with open(sys.argv[1], "w") as f:
    for i in range(150000):
        f.write('{"key":"k%d","v":%d}\n' % (r.randrange(30000), i % 100))
PY
for emit in final changes; do
  kagg -q --by key -a count -a sum:v -a max:v --emit $emit "$T/keys.jsonl" > "$T/budget.ref"
  rm -rf "$T/budget.state"
  kagg -q --by key -a count -a sum:v -a max:v --emit $emit --state "$T/budget.state" --memory-budget 1M \
    "$T/keys.jsonl" > "$T/budget.out" || fail "--memory-budget run failed"
  cmp "$T/budget.out" "$T/budget.ref" || fail "--memory-budget 1M, --emit $emit: rows differ from an all-in-memory run"
done
run 2 kagg --by key -a count --memory-budget 1M "$T/keys.jsonl"
expect_grep "$T/err" 'needs --state'
echo "memory budget: same rows"

# Killed before its first timed checkpoint: the one made before reading is
# enough to cut the late and dead-letter files (which append) back.
# (An input where one record in 20 is late, so late rows reach the file early.)
python3 -c '
import sys
for i in range(1000000):
    late = i % 20 == 19
    print("{\"ts\":%d,\"user\":\"u%d\",\"amount\":%d}" % (1732441200000 + i - (60000 if late else 0), i % 50, i % 7))
' > "$T/early.jsonl"
args=(--tumble 10s --time ts --max-delay 2s --by user -a sum:amount)
kwindow -q "${args[@]}" --output "$T/early.ref" --late "$T/early.late.ref" --dead-letter "$T/early.dead.ref" "$T/early.jsonl"
kwindow -q "${args[@]}" --state "$T/early.state" --checkpoint-every 1h --output "$T/early.out" \
  --late "$T/early.late" --dead-letter "$T/early.dead" "$T/early.jsonl" &
pid=$!
for i in $(seq 1 300); do  # kill it as soon as a late row has reached the file
  [ -s "$T/early.late" ] && break
  sleep 0.01
done
kill -9 $pid 2> /dev/null && { wait $pid 2> /dev/null || true; } || fail "the early run ended before the kill"
[ -s "$T/early.late" ] || fail "the early run wrote no late row before the kill"
kwindow -q "${args[@]}" --state "$T/early.state" --output "$T/early.out" --late "$T/early.late" \
  --dead-letter "$T/early.dead" "$T/early.jsonl"
for f in early early.late early.dead; do
  cmp "$T/$f.out" "$T/$f.ref" 2> /dev/null || cmp "$T/$f" "$T/$f.ref" || fail "$f differs after an early kill"
done
rm -rf "$T"/early.*

# Checkpoints only ever cover whole lines handled: with --emit every (whose
# ticks come in the middle of a block) a bad line still stops every restart.
python3 -c '
for i in range(6000):
    print("{\"t\":%d}" % (i * 10) if i != 5000 else "not json")' > "$T/bad-at-5001.jsonl"
for attempt in 1 2; do
  run 65 kwindow --time t --tumble 1s -a count --emit every:1ms --state "$T/every.state" \
    --checkpoint-every 1ms --output "$T/every.out" "$T/bad-at-5001.jsonl"
  expect_grep "$T/err" "bad-at-5001.jsonl:5001: invalid JSON"
done

# kjoin: both inputs' positions and the stored records. Rows are compared
# as a multiset (how the two inputs interleave may differ after a restart;
# with no late records the result does not depend on it).
python3 - "$T/left.jsonl" "$T/right.jsonl" <<'PY'
import random, sys
random.seed(3)
for path in sys.argv[1:]:
    with open(path, "w") as f:
        for i in range(400000):
            f.write('{"ts":%d,"k":%d,"i":%d}\n' % (1732441200000 + i // 10, random.randrange(20000), i))
PY
kjoin -q --on k --within 1s --time ts --type full --output "$T/join.ref" "$T/left.jsonl" "$T/right.jsonl"
join_same() { cmp <(sort "$T/join.out") <(sort "$T/join.ref") || fail "kjoin: rows $1 differ from one run"; }
kill_chain join join_same kjoin -q --on k --within 1s --time ts --type full --state "$T/join.state" \
  --checkpoint-every 5ms --output "$T/join.out" "$T/left.jsonl" "$T/right.jsonl"
kjoin -q --on k --within 1s --time ts --type full --state "$T/join.state" --output "$T/join.out" \
  "$T/left.jsonl" "$T/right.jsonl"
join_same "after $kills kills"
echo "kjoin: the same rows after $kills kills"
run 0 kjoin --on k --within 1s --time ts --type full --state "$T/join.state" --dump-state "$T/left.jsonl" "$T/right.jsonl"
expect_grep "$T/out" '^\{"checkpoint":\{"left":\{"input":".*left.jsonl","line":400000,"records_in":400000,"ended":true\},'
rm -rf "$T/left.jsonl" "$T/right.jsonl" "$T"/join.*

# The summary counts the whole input across restarts.
kwindow --tumble 10s --time ts --by user -a count --state "$T/sum.state" --output /dev/null "$T/in.jsonl" 2> /dev/null || true
run 0 kwindow --tumble 10s --time ts --by user -a count --state "$T/sum.state" --output /dev/null "$T/in.jsonl"
expect_grep "$T/err" "^kwindow: 1000000 records in, "

head -n 1000 "$T/in.jsonl" | grep -v oops > "$T/small.jsonl"
# SIGTERM: a final checkpoint, exit 143; the next run goes on from there.
mkfifo "$T/fifo"
kagg --by user -a count --state "$T/term.state" < "$T/fifo" > "$T/term.out" 2> "$T/term.err" &
pid=$!
exec 7> "$T/fifo"
head -n 100 "$T/small.jsonl" >&7
sleep 0.5
kill -TERM $pid
status=0; wait $pid || status=$?
exec 7>&-
expect_eq "exit after SIGTERM" "$status" 143
# --dump-state: the checkpoint's record, then the rows it holds.
run 0 kagg --by user -a count --state "$T/term.state" --dump-state
expect_grep "$T/out" '^\{"checkpoint":\{"input":"-","offset":[0-9]+,"line":100,"number":[0-9]+,"records_in":100,"rows_out":0,"watermark":null,"input_ended":false\}\}$'
expect_eq "rows dumped" "$(grep -c '"user"' "$T/out")" 50
expect_empty "$T/err"
# Other options than the checkpoint's are refused.
run 2 kagg --by user -a count -a sum:amount --state "$T/term.state" "$T/small.jsonl"
expect_grep "$T/err" "made with other options \(kagg --by user -a count --emit final; now: kagg --by user -a count -a sum:amount --emit final\)"
# A restart finds the outputs as the checkpoint left them, or refuses: an
# output shorter than the checkpoint's record was cut, removed or is another
# file (growing it back would write zeros), and an input where the checkpoint
# does not fall at a line's start is another file than the one read.
head -n 3000 "$T/in.jsonl" > "$T/three.jsonl"
run 0 kwindow -q --tumble 1s --time ts --by user -a count --state "$T/moved.state" --output "$T/moved.out" --late "$T/moved.late" "$T/three.jsonl"
cp "$T/moved.out" "$T/moved.keep"
rm "$T/moved.out"
run 2 kwindow -q --tumble 1s --time ts --by user -a count --state "$T/moved.state" --output "$T/moved.out" --late "$T/moved.late" "$T/three.jsonl"
expect_grep "$T/err" "moved.out: 0 bytes, where the checkpoint had written [0-9]+: the file was cut, removed or replaced"
run 2 kwindow -q --tumble 1s --time ts --by user -a count --state "$T/moved.state" --output "$T/other.out" --late "$T/moved.late" "$T/three.jsonl"
cp "$T/moved.keep" "$T/moved.out"
sed -n '2,3000p' "$T/in.jsonl" > "$T/shifted.jsonl"
run 2 kwindow -q --tumble 1s --time ts --by user -a count --state "$T/moved.state" --output "$T/moved.out" --late "$T/moved.late" "$T/shifted.jsonl"
expect_grep "$T/err" "shifted.jsonl: the checkpoint goes on at byte [0-9]+, which is not where a line starts in this file"
run 0 kwindow -q --tumble 1s --time ts --by user -a count --state "$T/moved.state" --output "$T/moved.out" --late "$T/moved.late" "$T/three.jsonl"
cmp "$T/moved.out" "$T/moved.keep" || fail "the restored output changed"
# A file that ended in a line without '\n': what is appended after it
# starts with that '\n', and the restart reads on from the next line (a
# run that reached the end has let its keys go: "a" counts from 1 again).
printf '{"ts":1,"user":"a"}\n{"ts":2,"user":"b"}' > "$T/open.jsonl"
run 0 kagg -q --by user -a count --emit changes --state "$T/open.state" --output "$T/open.out" "$T/open.jsonl"
printf '\n{"ts":3,"user":"a"}\n' >> "$T/open.jsonl"
run 0 kagg -q --by user -a count --emit changes --state "$T/open.state" --output "$T/open.out" "$T/open.jsonl"
expect_eq "rows after the append" "$(tail -n 1 "$T/open.out")" '{"user":"a","count":1}'
expect_eq "rows in all" "$(wc -l < "$T/open.out")" 3
# A switch given once and not the next time is named in the message.
run 0 kjoin -q --on user --within 1s --time ts --state "$T/open.state2" --merge "$T/open.jsonl" "$T/open.jsonl"
run 2 kjoin -q --on user --within 1s --time ts --state "$T/open.state2" "$T/open.jsonl" "$T/open.jsonl"
expect_grep "$T/err" "--merge; now: kjoin"
if grep -q -P '\x00' "$T/moved.out" "$T/moved.late"; then fail "zero bytes in an output"; fi
run 2 kagg --by user -a count --dump-state "$T/small.jsonl"
expect_grep "$T/err" "need --state DIR"
# stdin cannot be rewound: the state is restored, with a warning.
sh_run 0 "head -n 200 $T/small.jsonl | tail -n 100 | kagg --by user -a count --state $T/term.state"
expect_grep "$T/err" "cannot be rewound"
expect_eq "counts over both runs" "$(jq -s 'map(.count) | add' "$T/out")" 200
# Two processes on one --state: the second says which directory and which
# process holds it, exit 1.
mkfifo "$T/lock.fifo"
kagg -q --by a -a count --state "$T/lock.state" "$T/lock.fifo" > /dev/null &
holder=$!
exec 7> "$T/lock.fifo"
for _ in $(seq 50); do [ -e "$T/lock.state/LOCK" ] && break; sleep 0.1; done
echo '{"a":1}' > "$T/one.jsonl"
run 1 kagg -q --by a -a count --state "$T/lock.state" "$T/one.jsonl"
expect_grep "$T/err" "^kagg: error: --state $T/lock.state is in use by another process \(pid $holder\)"
exec 7>&-
wait $holder
# A restart on the checkpoint made at the end of the input: nothing new to
# read, nothing said; lines appended since are as after an end record, and
# it says so.
printf '%s\n' '{"a":1,"t":1000}' '{"a":1,"t":2000}' > "$T/grow.jsonl"
run 0 kagg -q --by a -a count --state "$T/grow.state" --output "$T/grow.out" "$T/grow.jsonl"
run 0 kagg -q --by a -a count --state "$T/grow.state" --output "$T/grow.out" "$T/grow.jsonl"
expect_eq "nothing said" "$(cat "$T/err")" ""
run 0 kwindow -q --tumble 1s --time t -a count --state "$T/growk.state" --output "$T/growk.out" "$T/grow.jsonl"
echo '{"a":1,"t":9000}' >> "$T/grow.jsonl"
run 0 kagg -q --by a -a count --state "$T/grow.state" --output "$T/grow.out" "$T/grow.jsonl"
expect_grep "$T/err" "made at the end of the input, which closed every window and key; what is read from here on starts new keys"
expect_eq "a new key" "$(tail -n 1 "$T/grow.out")" '{"a":1,"count":1}'
run 0 kwindow -q --tumble 1s --time t -a count --state "$T/growk.state" --output "$T/growk.out" "$T/grow.jsonl"
expect_grep "$T/err" "what is read from here on is late"
# A restart does not cut back another output file than the checkpoint's.
printf '%s\n' '{"a":1}' '{"a":2}' > "$T/two.jsonl"
run 0 kagg -q --by a -a count --emit changes --state "$T/other.state" --output "$T/other1" "$T/two.jsonl"
cat "$T/other1" "$T/other1" > "$T/other2"
run 2 kagg -q --by a -a count --emit changes --state "$T/other.state" --output "$T/other2" "$T/two.jsonl"
expect_grep "$T/err" "the checkpoint wrote to .*other1, not .*other2, which a restart would cut back"
expect_eq "the other file kept" "$(wc -l < "$T/other2")" 4
run 0 kagg -q --by a -a count --emit changes --state "$T/other.state" --output "$T/other1" "$T/two.jsonl"
# One whose path is gone was moved: it goes on with a warning.
mv "$T/other1" "$T/other3"
run 0 kagg -q --by a -a count --emit changes --state "$T/other.state" --output "$T/other3" "$T/two.jsonl"
expect_grep "$T/err" "other1, which is gone; going on with .*other3 as that file"
# A LOCK that cannot be opened (a permission, here a directory) is not
# another process's.
mkdir -p "$T/badlock.state/LOCK"
run 1 kagg -q --by a -a count --state "$T/badlock.state" "$T/one.jsonl"
expect_grep "$T/err" "LOCK: Is a directory"
expect_no_grep "$T/err" "in use"
echo ok
