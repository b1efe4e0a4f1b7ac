# Failures users will hit first: an unreachable broker, a bad line in the
# middle, the broker dying mid-run, signals, a closed pipe, a live tail.
source "$(dirname "$0")/../cli/lib.sh"
id=fail-$$-$(date +%s)

# Broker unreachable at start: a clear error within the 10 s the man page states.
start=$(date +%s)
sh_run 1 "echo '{\"a\":1}' | kproduce -b 127.0.0.1:1 -t $id"
expect_grep "$T/err" "^kproduce: error: cannot reach brokers 127.0.0.1:1: no broker answered within 10 s"
run 1 kconsume -b 127.0.0.1:1 -e "$id"
expect_grep "$T/err" "^kconsume: error: cannot reach brokers 127.0.0.1:1"
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -le 40 ] || fail "unreachable broker took ${elapsed}s to report"

# --rate paces a slow rate too (delivery reports must not cut the wait
# short): 8 messages at 10 a second are 0.7 s from first to last.
seq 1 8 | sed 's/.*/{"n":&}/' > "$T/eight.jsonl"
run 0 kproduce -q -t "$id-rate" --rate 10 "$T/eight.jsonl"
run 0 kconsume -q -e --envelope --no-control "$id-rate"
spread=$(jq -s 'map(.timestamp) | max - min' "$T/out")
[ "$spread" -ge 650 ] || fail "--rate 10: 8 messages within $spread ms"

# A bad line: exit 65 naming it, every line before it delivered.
{ seq 1 500 | sed 's/.*/{"n":&}/'; echo '{"n":501,'; seq 502 600 | sed 's/.*/{"n":&}/'; } > "$T/bad.jsonl"
run 65 kproduce -t "$id-bad" "$T/bad.jsonl"
expect_grep "$T/err" "^kproduce: error: $T/bad.jsonl:501: invalid JSON"
run 0 kconsume -q -e "$id-bad"
expect_eq "delivered before the bad line" "$(wc -l < "$T/out")" 500
expect_eq "last delivered" "$(tail -1 "$T/out")" '{"n":500}'

# A message too large is refused alone: the ones after it in its batch are
# delivered, and counted so.
{ printf '"%01100000d"\n' 0; echo '{"i":1}'; echo '{"i":2}'; } > "$T/big.jsonl"
run 1 kproduce -t "$id-big" -p 0 "$T/big.jsonl"
expect_grep "$T/err" "^kproduce: error: 1 of 3 messages were not delivered .*too large"
expect_grep "$T/err" "3 lines in, 2 messages delivered, 1 failed"
run 0 kconsume -q -e "$id-big"
expect_eq "delivered after the refused one" "$(cat "$T/out")" '{"i":1}
{"i":2}'
# Dead letters in a file are not messages in that count.
{ cat "$T/big.jsonl"; echo '{bad'; echo '{bad'; } > "$T/big-bad.jsonl"
run 1 kproduce -t "$id-big" -p 0 --dead-letter "$T/big-dead.jsonl" "$T/big-bad.jsonl"
expect_grep "$T/err" "^kproduce: error: 1 of 3 messages were not delivered .*too large"

# The broker stops mid-run: non-zero exit with the number of undelivered messages.
b2=$T/broker2
mkdir -p "$b2"
ln -s "$KPIPE_BROKER_DIR/libs" "$b2/libs"   # reuse the jars, not the data
port2=$(( KPIPE_BROKER_PORT + 100 ))   # +1 controller; keep below the ephemeral range
addr2=$(KPIPE_BROKER_DIR=$b2 KPIPE_BROKER_PORT=$port2 bash "$SRC/tests/kafka/broker.sh" start | tail -1)
seq 1 40000 | sed 's/.*/{"n":&}/' > "$T/many.jsonl"
kproduce -b "$addr2" -t "$id-down" --rate 2000 -X message.timeout.ms=5000 "$T/many.jsonl" \
  > "$T/out" 2> "$T/err" &
pid=$!
sleep 3
KPIPE_BROKER_DIR=$b2 KPIPE_BROKER_PORT=$port2 bash "$SRC/tests/kafka/broker.sh" stop > /dev/null
status=0
wait $pid || status=$?
rm -rf "$b2"
expect_eq "kproduce exit after the broker died" "$status" 1
expect_grep "$T/err" "^kproduce: error: [0-9]+ of [0-9]+ messages were not delivered"
expect_grep "$T/err" "stopped reading input at $T/many.jsonl:[0-9]+"

# SIGTERM and SIGINT on a live consumer: clean exit 143 / 130, committed.
echo '{"x":1}' | kproduce -q -t "$id-live"
for sig in TERM INT; do
  # Gone first: the redirection below truncates it in the child, which the
  # wait loop could otherwise outrun and see the last round's line.
  rm -f "$T/live.out"
  kconsume -G "$id-g-$sig" "$id-live" > "$T/live.out" 2> "$T/live.err" &
  pid=$!
  for _ in $(seq 1 100); do [ -s "$T/live.out" ] && break; sleep 0.1; done
  [ -s "$T/live.out" ] || fail "live consumer wrote nothing"
  kill -$sig $pid
  status=0
  wait $pid || status=$?
  want=$([ $sig = TERM ] && echo 143 || echo 130)
  expect_eq "kconsume exit on SIG$sig" "$status" "$want"
  expect_no_grep "$T/live.err" "error"
  run 0 kconsume --lag "$id-g-$sig"
  expect_grep "$T/out" "\"committed\":1,\"end\":1,\"lag\":0"
done

# kproduce reading a pipe that stays open: SIGINT delivers what was read, 130.
mkfifo "$T/fifo"
kproduce -t "$id-int" "$T/fifo" > /dev/null 2> "$T/int.err" &
pid=$!
exec 7> "$T/fifo"
printf '{"a":1}\n{"a":2}\n' >&7
sleep 1
kill -INT $pid
status=0
wait $pid || status=$?
exec 7>&-
expect_eq "kproduce exit on SIGINT" "$status" 130
run 0 kconsume -q -e "$id-int"
expect_eq "messages delivered before SIGINT" "$(wc -l < "$T/out")" 2

# A closed pipe ends a live consumer quietly, even when it is idle.
sh_run 0 "timeout 20 kconsume $id-live | head -1"
expect_empty "$T/err"

# A live tail shows each record promptly (flush when the input goes idle).
kconsume -q -o end "$id-live" > "$T/tail.out" &
pid=$!
sleep 2
echo '{"tail":1}' | kproduce -q -t "$id-live"
for _ in $(seq 1 50); do grep -q tail "$T/tail.out" && break; sleep 0.1; done
kill $pid; wait $pid || true
expect_grep "$T/tail.out" '^\{"tail":1\}$'
echo ok
