# kconsume --watermarks: control records carry the minimum over partitions of
# each partition's max(t - max-delay); they only advance; a bounded read ends
# with {"@kpipe":"end"}; --time reads event time from a field.
source "$(dirname "$0")/../cli/lib.sh"
id=wm-$$-$(date +%s)
"$PY" - "$id" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
import os
a = AdminClient({"bootstrap.servers": os.environ["KPIPE_BROKERS"]})
for f in a.create_topics([NewTopic(sys.argv[1], 2, 1)]).values():
    f.result()
PY
# Partition 0 runs ahead (event time 1000..1900), partition 1 lags (100..190).
{ for i in $(seq 0 9); do
    echo "{\"topic\":\"$id\",\"partition\":0,\"timestamp\":$((1000 + i * 100)),\"key\":null,\"headers\":[],\"value\":{\"et\":$((1000 + i * 100)),\"p\":0}}"
    echo "{\"topic\":\"$id\",\"partition\":1,\"timestamp\":$((100 + i * 10)),\"key\":null,\"headers\":[],\"value\":{\"et\":$((100 + i * 10)),\"p\":1}}"
  done; } > "$T/in.jsonl"
run 0 kproduce -q --envelope -t "$id" "$T/in.jsonl"

run 0 kconsume -q -e --watermarks --max-delay 5ms "$id"
grep '"@kpipe"' "$T/out" > "$T/control" || true
grep -v '"@kpipe"' "$T/out" > "$T/data" || true
expect_eq "data lines" "$(wc -l < "$T/data")" 20
expect_eq "last control record" "$(tail -1 "$T/control")" '{"@kpipe":"end"}'
# Watermarks only advance and never pass the lagging partition's max - 5.
grep '"watermark","ts"' "$T/control" | jq -r .ts > "$T/ts"
[ -s "$T/ts" ] || fail "no watermark emitted"
sort -n -c "$T/ts" || fail "watermarks went backwards"
# A partition the bounded read has finished no longer holds the watermark
# back (kpipe(7), WATERMARKS): it may pass 190 once partition 1 is done.
# Each watermark is emitted after the records that allow it: at the point
# where it is written, every partition still to come has shown a record with
# t - 5 >= ts, and no record after it is older than ts.
"$PY" - "$T/out" <<'PY' || fail "a watermark was emitted before the data that justifies it"
import json, sys
seen = {}
rest = open(sys.argv[1]).read().splitlines()
for i, line in enumerate(rest):
    r = json.loads(line)
    if "@kpipe" in r:
        if r["@kpipe"] == "watermark":
            later = [json.loads(l) for l in rest[i + 1:] if '"@kpipe"' not in l]
            assert all(x["et"] >= r["ts"] for x in later), (r, later[:3])
            coming = {x["p"] for x in later}
            assert all(p in seen and seen[p] - 5 >= r["ts"] for p in coming), (seen, r)
    else:
        seen[r["p"]] = max(seen.get(r["p"], -10**18), r["et"])
PY
# --time: event time from a field instead of the message timestamp.
run 0 kconsume -q -e --watermarks --time et "$id"
max=$(grep '"watermark","ts"' "$T/out" | jq -r .ts | sort -n | tail -1)
[ "$max" = 190 ] || [ "$max" = 1900 ] || fail "max watermark from the et field: $max, want 190 (or 1900 when partition 1 ended first)"
# Without --watermarks: no control records at all.
run 0 kconsume -q -e "$id"
expect_no_grep "$T/out" '@kpipe'

# A backlog of 4 partitions whose event times interleave, read by kconsume
# one partition's batch after another: with --envelope --watermarks it first
# announces the partitions, so kwindow's watermark waits for each and no
# record is late; the rows are those of kwindow reading the topic itself.
bl=$id-backlog
"$PY" - "$bl" <<'PY'
import os, sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": os.environ["KPIPE_BROKERS"]})
for f in a.create_topics([NewTopic(sys.argv[1], 4, 1)]).values():
    f.result()
PY
"$PY" - "$bl" > "$T/backlog.jsonl" <<'PY'
import json, sys
for i in range(5000):
    for p in range(4):
        t = 1700000000000 + i * 40 + p * 10
        print(json.dumps({"topic": sys.argv[1], "partition": p, "timestamp": t, "key": None, "headers": [],
                          "value": {"p": p, "user": "u%d" % (i % 7)}}, separators=(",", ":")))
PY
run 0 kproduce -q --envelope -t "$bl" "$T/backlog.jsonl"
run 0 kconsume -q -e --envelope --watermarks "$bl"
expect_eq "first line: the partitions" "$(head -1 "$T/out" | jq -c '.["@kpipe"], (.names | sort)' | tr '\n' ' ')" \
  "\"partitions\" [\"$bl/0\",\"$bl/1\",\"$bl/2\",\"$bl/3\"] "
sh_run 0 "kconsume -q -e --envelope --watermarks $bl | kwindow --tumble 1s --by user -a count --no-control"
expect_grep "$T/err" "^kwindow: 20000 records in, [0-9]+ rows? out, 0 late, 0 dead-lettered\$"
sort "$T/out" > "$T/piped.rows"
run 0 kwindow -q --until end --tumble 1s --by user -a count "kafka:$bl"
sort "$T/out" > "$T/direct.rows"
cmp "$T/piped.rows" "$T/direct.rows" || fail "kconsume --envelope --watermarks | kwindow differs from kwindow kafka:"
# Without the announcement the partitions read last would be late (not a
# check: how the batches interleave is librdkafka's business).
sh_run 0 "kconsume -q -e --envelope $bl | kwindow --tumble 1s --by user -a count --no-control > /dev/null"
sed 's/^/without --watermarks: /' "$T/err"

# The README's live pipeline: with one partition quiet, --idle on kconsume
# (whose watermark records bound kwindow's) and on kwindow lets windows close
# while records come on the other partition.
idle=idle-$$-$(date +%s)
"$PY" - "$idle" <<'PY'
import sys, os
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": os.environ["KPIPE_BROKERS"]})
for f in a.create_topics([NewTopic(sys.argv[1], 2, 1)]).values():
    f.result()
PY
echo '{"n":0}' | kproduce -q -t "$idle" -p 1
( for i in $(seq 1 60); do echo "{\"n\":$i}"; sleep 0.1; done ) | kproduce -q -t "$idle" -p 0 &
feeder=$!
sh_run 124 "timeout 7 sh -c 'kconsume -q -G $idle --envelope --watermarks --idle 1s $idle | kwindow -q --tumble 1s --idle 1s -a count'"
wait $feeder
rows=$(grep -c '"window_start"' "$T/out" || true)
[ "$rows" -ge 3 ] || fail "a quiet partition held every window open: $rows rows in 7 s"
echo ok
