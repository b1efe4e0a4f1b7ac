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
grep watermark "$T/control" | jq -r .ts > "$T/ts"
[ -s "$T/ts" ] || fail "no watermark emitted"
sort -n -c "$T/ts" || fail "watermarks went backwards"
max=$(sort -n "$T/ts" | tail -1)
[ "$max" -le 185 ] || fail "watermark $max passed partition 1's max event time 190 - 5"
# Each watermark is emitted after the records that allow it: at the point
# where it is written, every partition has shown a record with t - 5 >= ts.
"$PY" - "$T/out" <<'PY' || fail "a watermark was emitted before the data that justifies it"
import json, sys
seen = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "@kpipe" in r:
        if r["@kpipe"] == "watermark":
            assert len(seen) == 2 and min(seen.values()) - 5 >= r["ts"], (seen, r)
    else:
        seen[r["p"]] = max(seen.get(r["p"], -10**18), r["et"])
PY
# --time: event time from a field instead of the message timestamp.
run 0 kconsume -q -e --watermarks --time et "$id"
expect_eq "max watermark from the et field" "$(grep watermark "$T/out" | jq -r .ts | sort -n | tail -1)" 190
# Without --watermarks: no control records at all.
run 0 kconsume -q -e "$id"
expect_no_grep "$T/out" '@kpipe'
echo ok
