# --metrics against the real broker: consumer lag per partition (also past
# transaction markers), transactions, checkpoints; progress of kconsume -e on
# a terminal.
source "$(dirname "$0")/../cli/lib.sh"
id=svc-$$-$(date +%s)
"$PY" - "$id" <<'PY'
import os, sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": os.environ["KPIPE_BROKERS"]})
for f in a.create_topics([NewTopic(sys.argv[1], 2, 1), NewTopic(sys.argv[1] + "-out", 2, 1),
                                 NewTopic(sys.argv[1] + "-big", 2, 1)]).values():
    f.result()
PY
seq 0 999 | awk '{printf "{\"user\":\"u%d\",\"amount\":%d}\n", $1 % 20, $1 % 7}' > "$T/in.jsonl"
run 0 kproduce -q -t "$id" -k user "$T/in.jsonl"

# value FILE METRIC LABELS: the sample's value (labels as written, after tool).
value() { grep -F "$2{$3}" "$1" | awk '{print $2}'; }

# kagg topic to topic, exactly once, to the end offsets at start.
run 0 kagg -q --by user -a count --emit changes --exactly-once -G "$id-g" --state "$T/state" \
  --checkpoint-every 100ms --until end --output "kafka:$id-out" "kafka:$id" \
  --metrics "$T/kagg.prom" --metrics-label pipeline=test
m=$T/kagg.prom
expect_eq "records in" "$(value "$m" kpipe_records_in_total 'tool="kagg",pipeline="test"')" 1000
expect_eq "rows out" "$(value "$m" kpipe_records_out_total 'tool="kagg",pipeline="test"')" 1000
expect_eq "lag p0" "$(value "$m" kpipe_consumer_lag_records "tool=\"kagg\",pipeline=\"test\",topic=\"$id\",partition=\"0\"")" 0
expect_eq "lag p1" "$(value "$m" kpipe_consumer_lag_records "tool=\"kagg\",pipeline=\"test\",topic=\"$id\",partition=\"1\"")" 0
committed=$(value "$m" kpipe_transactions_total 'tool="kagg",pipeline="test",result="committed"')
[ "$committed" -ge 1 ] || fail "no committed transaction counted: $(cat "$m")"
expect_eq "aborted" "$(value "$m" kpipe_transactions_total 'tool="kagg",pipeline="test",result="aborted"')" 0
expect_grep "$m" '^kpipe_checkpoint_duration_seconds\{tool="kagg",pipeline="test"\} [0-9.e-]+$'
expect_grep "$m" '^kpipe_checkpoint_age_seconds\{tool="kagg",pipeline="test"\} [0-9.e-]+$'
# The bytes of the keys and values read.
bytes=$(value "$m" kpipe_bytes_in_total 'tool="kagg",pipeline="test"')
want=$(awk '{ n += length($0); match($0, /"user":"[^"]*"/); n += RLENGTH - 9 } END { print n }' "$T/in.jsonl")
expect_eq "bytes in" "$bytes" "$want"

# The output topic is transactional: at its end, each partition's last
# offset is a commit marker, and the lag is still 0, not 1.
run 0 kconsume -q -e "$id-out" --metrics "$T/out.prom"
expect_eq "rows read back" "$(wc -l < "$T/out")" 1000
for p in 0 1; do
  expect_eq "lag past the markers, p$p" \
    "$(value "$T/out.prom" kpipe_consumer_lag_records "tool=\"kconsume\",topic=\"$id-out\",partition=\"$p\"")" 0
done

# Stopped after 100 of 1000: the lag of each partition the fetcher has seen
# is what is left of it.
run 0 kconsume -q -c 100 "$id" --metrics "$T/c.prom"
lag=$(grep -F "kpipe_consumer_lag_records{tool=\"kconsume\",topic=\"$id\"" "$T/c.prom" | awk '{s += $2; n++} END {print n, s}')
read -r n total <<< "$lag"
[ "$n" -ge 1 ] || fail "no partition lag after -c 100: $(cat "$T/c.prom")"
if [ "$n" = 2 ]; then expect_eq "lag after 100 of 1000" "$total" 900; fi
expect_eq "records in after -c 100" "$(value "$T/c.prom" kpipe_records_in_total 'tool="kconsume"')" 100

# Progress of a bounded read on a terminal, cleared at exit; none otherwise.
# (200,000 records and a reader that starts late: the read outlasts the
# first redraw.)
seq 1 200000 | sed 's/.*/{"n":&}/' > "$T/big.jsonl"
run 0 kproduce -q -t "$id-big" "$T/big.jsonl"
script -qec "kconsume -q -e $id-big | (sleep 0.5; cat > /dev/null)" /dev/null > "$T/tty" < /dev/null
expect_grep "$T/tty" '% [0-9]+ records'
tail -c 4 "$T/tty" | od -c | head -1 | grep -q '\\r 033   \[   K' || { od -c "$T/tty" | tail -3; fail "progress not cleared"; }
run 0 kconsume -q -e "$id"
expect_empty "$T/err"
# kagg reading the topic to its end offsets (--until end): the same.
script -qec "kagg -q --by n -a count --emit changes --until end kafka:$id-big | (sleep 0.5; cat > /dev/null)" /dev/null > "$T/tty2" < /dev/null
expect_grep "$T/tty2" '% [0-9]+ records'
tail -c 4 "$T/tty2" | od -c | head -1 | grep -q '\\r 033   \[   K' || { od -c "$T/tty2" | tail -3; fail "kagg: progress not cleared"; }
# kconsume under a fake systemd notify socket (tests/cli/service_check.py).
"$PY" -c "import sys; sys.path.insert(0, '$SRC/tests/cli'); import service_check; service_check.test_kconsume('$id', '$KPIPE_BROKERS')"
echo ok
