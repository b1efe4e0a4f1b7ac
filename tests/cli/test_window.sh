# kwindow and kagg end to end: late records, control records in and out,
# envelope input with per-partition watermarks, --idle, --emit every on a
# live pipe, output destinations, a closed pipe and signals.
source "$(dirname "$0")/lib.sh"

# Late records: written with the window end and W, counted in the summary.
printf '%s\n' '{"ts":1000,"k":"a"}' '{"ts":12000,"k":"a"}' '{"ts":5000,"k":"b"}' \
  '{"@kpipe":"watermark","ts":25000}' '{"@kpipe":"flush"}' '{"ts":26000,"k":"a"}' \
  '{"@kpipe":"end"}' '{"ts":1,"k":"z"}' > "$T/ctl.jsonl"
run 0 kwindow --tumble 10s --time ts --by k -a count --late "$T/late.jsonl" "$T/ctl.jsonl"
# The watermark record (25000) cannot take W past the records' own 12000
# (W = min(W_in, W_own)); the record at 26000 then moves W to 25000.
# The first control record turns watermarks on: "watermarks follow" first.
expect_eq "rows and control records" "$(cat "$T/out")" '{"window_start":0,"window_end":10000,"k":"a","count":1}
{"@kpipe":"partitions","names":[],"watermarks":true}
{"@kpipe":"watermark","ts":10000}
{"@kpipe":"flush"}
{"window_start":10000,"window_end":20000,"k":"a","count":1}
{"@kpipe":"watermark","ts":20000}
{"window_start":20000,"window_end":30000,"k":"a","count":1}
{"@kpipe":"end"}'
expect_eq "late rows" "$(cat "$T/late.jsonl")" '{"late":{"ts":5000,"k":"b"},"window_end":10000,"watermark":12000}
{"late":{"ts":1,"k":"z"},"window_end":10000,"watermark":null}'
expect_grep "$T/err" "^kwindow: 5 records in, 3 rows out, 2 late, 0 dead-lettered$"
# --no-control strips them; --time-format rfc3339 writes times as text.
run 0 kwindow --tumble 10s --time ts --by k -a count --no-control --time-format rfc3339 "$T/ctl.jsonl"
expect_no_grep "$T/out" '@kpipe'
expect_grep "$T/out" '^\{"window_start":"1970-01-01T00:00:00.000Z","window_end":"1970-01-01T00:00:10.000Z","k":"a","count":1\}$'
# Without control records in the input, none come out unless --watermarks.
printf '%s\n' '{"ts":1000}' '{"ts":12000}' > "$T/plain.jsonl"
run 0 kwindow --tumble 10s --time ts -a count "$T/plain.jsonl"
expect_no_grep "$T/out" '@kpipe'
run 0 kwindow --tumble 10s --time ts -a count --watermarks "$T/plain.jsonl"
expect_eq "--watermarks" "$(cat "$T/out")" '{"@kpipe":"partitions","names":[],"watermarks":true}
{"window_start":0,"window_end":10000,"count":1}
{"@kpipe":"watermark","ts":10000}
{"window_start":10000,"window_end":20000,"count":1}
{"@kpipe":"end"}'
# Sessions: a row may start long before the row written ahead of it, and
# no watermark comes while a session is open; the first record tells the
# tool downstream to wait for them, so that it drops no row as late.
printf '%s\n' '{"t":0,"k":"a"}' '{"t":300,"k":"a"}' '{"t":600,"k":"a"}' '{"t":900,"k":"a"}' '{"t":1000,"k":"b"}' \
  '{"t":1200,"k":"a"}' '{"t":1500,"k":"a"}' '{"t":5000,"k":"c"}' > "$T/sess.jsonl"
kwindow -q --session 500ms --time t --by k --watermarks -a count "$T/sess.jsonl" > "$T/sess.out"
run 0 kwindow --tumble 1s --time window_start -a rows=count,n=sum:count "$T/sess.out"
expect_eq "sessions downstream" "$(cat "$T/out")" '{"@kpipe":"partitions","names":[],"watermarks":true}
{"window_start":0,"window_end":1000,"rows":1,"n":6}
{"window_start":1000,"window_end":2000,"rows":1,"n":1}
{"window_start":5000,"window_end":6000,"rows":1,"n":1}
{"@kpipe":"end"}'
expect_grep "$T/err" " 0 late"

# Envelope lines: the record is the value, the time the envelope timestamp,
# and W the minimum over partitions.
env() { printf '{"topic":"c","partition":%s,"offset":0,"timestamp":%s,"timestamp_type":"create","key":null,"headers":[],"value":{"user":"%s"}}\n' "$@"; }
{ env 0 1000 a; env 1 500 b; env 0 15000 a; env 1 9000 b; env 1 11000 b; } > "$T/env.jsonl"
run 0 kwindow --tumble 10s --by user -a count "$T/env.jsonl"
expect_eq "envelope rows" "$(cat "$T/out")" '{"window_start":0,"window_end":10000,"user":"a","count":1}
{"window_start":0,"window_end":10000,"user":"b","count":2}
{"window_start":10000,"window_end":20000,"user":"a","count":1}
{"window_start":10000,"window_end":20000,"user":"b","count":1}'
expect_grep "$T/err" " 0 late"
# --time still applies to the value.
printf '{"topic":"c","partition":0,"offset":0,"timestamp":1,"timestamp_type":"create","key":null,"headers":[],"value":{"t":"1970-01-01T00:00:15Z"}}\n' > "$T/env2.jsonl"
run 0 kwindow --tumble 10s --time t -a count "$T/env2.jsonl"
expect_grep "$T/out" '"window_start":10000'

# --idle: a quiet partition stops holding W back (live input through a FIFO).
mkfifo "$T/fifo"
kwindow --tumble 10s --by user -a count --idle 300ms < "$T/fifo" > "$T/idle.out" 2> "$T/idle.err" &
pid=$!
{
  env 1 1000 b; env 0 1000 a
  # Partition 0 goes on, partition 1 is quiet: after 300 ms W is partition
  # 0's alone, and W = 15000 closes [0,10s). (When every partition is
  # quiet, W stays where it is.)
  for i in 1 2 3 4 5 6 7 8 9 10 11 12; do env 0 $((15000 + i)) a; sleep 0.1; done
  cat "$T/idle.out" > "$T/idle.mid"
} > "$T/fifo"
wait $pid
expect_eq "rows while partition 1 was idle" "$(cat "$T/idle.mid")" '{"window_start":0,"window_end":10000,"user":"b","count":1}
{"window_start":0,"window_end":10000,"user":"a","count":1}'

# --emit every:DUR writes the current rows of changed windows while the
# input is open, and the final rows as usual.
mkfifo "$T/fifo2"
kwindow --tumble 10s --time ts -a count --emit every:200ms < "$T/fifo2" > "$T/every.out" 2>/dev/null &
pid=$!
{
  echo '{"ts":1000}'; echo '{"ts":2000}'
  sleep 1
  cat "$T/every.out" > "$T/every.mid"
} > "$T/fifo2"
wait $pid
expect_eq "periodic row" "$(cat "$T/every.mid")" '{"window_start":0,"window_end":10000,"count":2}'
expect_eq "periodic then final" "$(cat "$T/every.out")" '{"window_start":0,"window_end":10000,"count":2}
{"window_start":0,"window_end":10000,"count":2}'

# --output FILE; INPUT from a process substitution.
run 0 kwindow --tumble 10s --time ts -a count --output "$T/rows.jsonl" <(cat "$T/plain.jsonl")
expect_empty "$T/out"
expect_eq "rows in file" "$(wc -l < "$T/rows.jsonl")" 2

# A reader that goes away: quiet exit 0.
python3 -c 'import json
for i in range(300000): print(json.dumps({"ts": i * 10, "k": i % 7}))' > "$T/many.jsonl"
sh_run 0 "kwindow --tumble 1s --time ts --by k -a count $T/many.jsonl | head -n 2"
expect_empty "$T/err"

# SIGTERM and SIGINT: stop reading, flush, exit 143 / 130.
for sig in TERM INT; do
  mkfifo "$T/sig$sig"
  kwindow --tumble 10s --time ts -a count --emit changes < "$T/sig$sig" > "$T/sig.out" 2> "$T/sig.err" &
  pid=$!
  exec 7> "$T/sig$sig"
  echo '{"ts":1}' >&7
  sleep 0.5
  kill -$sig $pid
  status=0; wait $pid || status=$?
  exec 7>&-
  expect_eq "exit after SIG$sig" "$status" "$([ $sig = TERM ] && echo 143 || echo 130)"
  expect_eq "row flushed before SIG$sig" "$(cat "$T/sig.out")" '{"window_start":0,"window_end":10000,"count":1}'
done
# A FIFO given as INPUT with no writer yet: open() would wait for one, deaf
# to the signals; the tools wait in a poll that hears them. Two inputs may
# not be one FIFO.
mkfifo "$T/nowriter"
for tool in kwindow kjq; do
  if [ $tool = kwindow ]; then kwindow -q --tumble 1s --time ts -a count "$T/nowriter" 2> "$T/nw.err" &
  else kjq -q . "$T/nowriter" 2> "$T/nw.err" & fi
  pid=$!
  sleep 0.3
  kill -TERM $pid
  status=0; wait $pid || status=$?
  expect_eq "$tool on a FIFO without a writer, SIGTERM" "$status" 143
done
run 2 kjoin --on k --within 1s --time ts "$T/nowriter" "$T/nowriter"
expect_grep "$T/err" "is given twice: a FIFO can be read by one input only"

# kagg: changes, a running table; --ttl forgets keys by event time.
printf '%s\n' '{"ts":0,"k":"a","v":1}' '{"ts":1000,"k":"b","v":2}' '{"ts":2000,"k":"a","v":3}' \
  '{"ts":9000,"k":"b","v":4}' '{"ts":9500,"k":"a","v":5}' > "$T/kv.jsonl"
run 0 kagg --by k -a count -a sum:v --emit changes "$T/kv.jsonl"
expect_eq "kagg changes" "$(cat "$T/out")" '{"k":"a","count":1,"sum_v":1}
{"k":"b","count":1,"sum_v":2}
{"k":"a","count":2,"sum_v":4}
{"k":"b","count":2,"sum_v":6}
{"k":"a","count":3,"sum_v":9}'
# TTL 5s: b at 9000 comes 8s after b's last (1000), so b's row is written and
# b starts afresh (before W gets to 6000, and whatever --max-delay: the
# records' times decide, not how far the input has been read); at W = 9000, a
# (last at 2000) is forgotten and its row written; the later a starts afresh.
for delay in 0s 20s; do
  run 0 kagg --by k -a count -a sum:v --time ts --ttl 5s --max-delay $delay "$T/kv.jsonl"
  expect_eq "kagg ttl, --max-delay $delay" "$(sort "$T/out")" "$(printf '%s\n' '{"k":"b","count":1,"sum_v":2}' \
    '{"k":"a","count":2,"sum_v":4}' '{"k":"b","count":1,"sum_v":4}' '{"k":"a","count":1,"sum_v":5}' | sort)"
done
run 0 kagg --by k -a count -a sum:v --time ts --ttl 5s "$T/kv.jsonl"
expect_eq "kagg ttl" "$(cat "$T/out")" '{"k":"b","count":1,"sum_v":2}
{"k":"a","count":2,"sum_v":4}
{"k":"b","count":1,"sum_v":4}
{"k":"a","count":1,"sum_v":5}'
# The same records of two partitions read in two interleavings (as two runs of
# kconsume may read them): W is the slower partition's, so before a's record
# at 3000 it is 0 in one and 2500 in the other (which forgets a, last at 0).
# The rows must not depend on it: a's record at 3000, 3s after a's last, starts
# a afresh in both.
e() { printf '{"topic":"t","partition":%s,"offset":%s,"timestamp":%s,"key":null,"headers":[],"value":{"k":"%s"}}\n' "$@"; }
{ e 0 0 0 a; e 1 0 0 z; e 0 1 2500 b; e 0 2 3000 a; e 1 1 5000 z; } > "$T/ttl-a.jsonl"
{ e 0 0 0 a; e 1 0 0 z; e 0 1 2500 b; e 1 1 5000 z; e 0 2 3000 a; } > "$T/ttl-b.jsonl"
run 0 kagg --by k -a count --ttl 2s "$T/ttl-a.jsonl"
sort "$T/out" > "$T/ttl-a.rows"
run 0 kagg --by k -a count --ttl 2s "$T/ttl-b.jsonl"
expect_eq "kagg ttl, partitions read in another interleaving" "$(sort "$T/out")" "$(cat "$T/ttl-a.rows")"
expect_eq "kagg ttl, stretches cut by the records' times" "$(cat "$T/ttl-a.rows")" '{"k":"a","count":1}
{"k":"a","count":1}
{"k":"b","count":1}
{"k":"z","count":1}
{"k":"z","count":1}'
run 2 kagg --by k -a count --ttl 5s "$T/kv.jsonl"
expect_grep "$T/err" "no --time given"
# Without --by: one row of the whole input.
run 0 kagg -a count -a max:v -a min:v -a avg:v "$T/kv.jsonl"
expect_eq "kagg total" "$(cat "$T/out")" '{"count":5,"max_v":5,"min_v":1,"avg_v":3}'
# A reader of the output that goes (| head) ends a tool that waits on a
# quiet input, not at its next row (which may never come): the input here
# stays open until the tool is gone, or 10 s.
for cmd in "kjq ." "kagg --time ts -a count --emit changes" "kwindow --tumble 1s --time ts -a count --emit changes"; do
  rm -f "$T/gone" "$T/waited"
  sh_run 0 "{ echo '{\"ts\":1}'; for _ in \$(seq 100); do [ -e $T/gone ] && break; sleep 0.1; done
              [ -e $T/gone ] || touch $T/waited; } |
    { $cmd; echo \$? > $T/gone; } | head -n 1"
  expect_eq "$cmd, its reader gone: exit" "$(cat "$T/gone")" 0
  [ ! -e "$T/waited" ] || fail "$cmd waited for the end of its input after its reader had gone"
done
# Numbers are keys and values by their value at any depth: [1], [1.0] and
# [1e0] are one.
printf '%s\n' '{"v":[1]}' '{"v":[1.0]}' '{"v":[1e0]}' '{"v":{"a":1E2}}' '{"v":{"a":100}}' > "$T/nested.jsonl"
run 0 kagg --by v -a count -a distinct:v -a top:v:1 "$T/nested.jsonl"
expect_eq "nested numbers" "$(cat "$T/out")" '{"v":[1],"count":3,"distinct_v":1,"top_v_1":[{"value":[1],"count":3}]}
{"v":{"a":100},"count":2,"distinct_v":1,"top_v_1":[{"value":{"a":100},"count":2}]}'
# A partition that ends ("ended", kpipe(7) CONTROL RECORDS) stops holding
# the watermark back at once: the window it held open closes before the
# next control record, not at the end of the input.
envl() { echo "{\"topic\":\"a\",\"partition\":$1,\"offset\":$2,\"timestamp\":$3,\"key\":null,\"headers\":[],\"value\":{}}"; }
{ echo '{"@kpipe":"partitions","names":["a/0","a/1"]}'; envl 0 0 1000; envl 1 0 500; envl 0 1 70000
  echo '{"@kpipe":"partitions","ended":["a/1"]}'; echo '{"@kpipe":"flush"}'; } > "$T/ended.jsonl"
run 0 kwindow --tumble 1m -a count "$T/ended.jsonl"
expect_eq "rows around an ended partition" "$(grep -v '"watermark"' "$T/out")" '{"window_start":0,"window_end":60000,"count":2}
{"@kpipe":"partitions","names":[],"watermarks":true}
{"@kpipe":"flush"}
{"window_start":60000,"window_end":120000,"count":1}
{"@kpipe":"end"}'
echo ok
