# kproduce --dry-run shows exactly what would be produced: keys, timestamps,
# headers, partitions; envelope input round-trips byte for byte.
source "$(dirname "$0")/lib.sh"
printf '%s\n' '{"id":7,"user":{"name":"ann"},"ts":"2026-11-24T10:00:00.123Z"}' \
  '{"id":8,"user":{"name":"bob"},"ts":1795514400999}' > "$T/in.jsonl"
run 0 kproduce --dry-run -q -t orders -k user.name --timestamp ts -H a=1 -H a=2 -p 3 "$T/in.jsonl"
expect_eq "line 1" "$(head -1 "$T/out")" '{"topic":"orders","partition":3,"offset":null,"timestamp":1795514400123,"timestamp_type":"create","key":"ann","key_encoding":"string","headers":[["a",1],["a",2]],"value":{"id":7,"user":{"name":"ann"},"ts":"2026-11-24T10:00:00.123Z"}}'
expect_eq "line 2 key and time" "$(tail -1 "$T/out" | jq -c '[.key,.timestamp]')" '["bob",1795514400999]'
# A non-string key is its JSON text.
run 0 kproduce --dry-run -q -t orders -k user "$T/in.jsonl"
expect_eq "object key" "$(head -1 "$T/out" | jq -c .key)" '{"name":"ann"}'
# Envelope in, envelope out: identical bytes, also for odd payloads.
cat > "$T/env.jsonl" <<'EOT'
{"topic":"a","partition":1,"offset":5,"timestamp":1,"timestamp_type":"create","key":null,"headers":[],"value":null}
{"topic":"a","partition":0,"offset":6,"timestamp":2,"timestamp_type":"create","key":"","key_encoding":"string","headers":[["h",null],["h","","string"],["b","/w==","base64"]],"value":"","value_encoding":"string"}
{"topic":"a","partition":2,"offset":7,"timestamp":3,"timestamp_type":"create","key":{"k" : [1, 2]},"headers":[],"value":{"spaced" :  true}}
EOT
run 0 kproduce --dry-run -q --envelope -t b "$T/env.jsonl"
sed -e 's/"topic":"a"/"topic":"b"/' -e 's/"offset":[0-9]*/"offset":null/' "$T/env.jsonl" > "$T/want.jsonl"
diff "$T/want.jsonl" "$T/out" || fail "envelope round trip differs"
run 0 kproduce --dry-run -q --envelope --keep-topic "$T/env.jsonl"
expect_grep "$T/out" '^\{"topic":"a"'
# Output closed early: quiet success.
seq 1 200000 | sed 's/.*/{"n":&}/' > "$T/many.jsonl"
sh_run 0 "kproduce --dry-run -t t $T/many.jsonl | head -1"
expect_empty "$T/err"
# Control records of an upstream kpipe tool are skipped, not produced.
printf '{"a":1}\n{"@kpipe":"watermark","ts":5}\n{"@kpipe":"end"}\n' > "$T/ctl.jsonl"
run 0 kproduce --dry-run -t t "$T/ctl.jsonl"
expect_eq "control records skipped" "$(wc -l < "$T/out")" 1
expect_grep "$T/err" "1 line in"
# Timestamps go through the event-time parser and Kafka's rules: each bad
# one is bad input naming the line, never a silent "now" or a wrapped value.
bad_ts() {  # JSON-TIMESTAMP MESSAGE
  printf '{"ts":%s}\n' "$1" > "$T/ts.jsonl"
  run 65 kproduce --dry-run -q -t t --timestamp ts "$T/ts.jsonl"
  expect_grep "$T/err" "^kproduce: error: $T/ts.jsonl:1: .*$2"
}
bad_ts 0 "timestamp 0 .* cannot be produced: librdkafka takes 0 for the current time"
bad_ts -1 "timestamp -1 is before 1970"
bad_ts 1e300 "out of range"
bad_ts 9223372036854775807 "out of range"
bad_ts '"2024-02-31T00:00:00Z"' "invalid RFC 3339 time"
bad_ts '"2024-02-29T00:00:00+99:99"' "invalid RFC 3339 time"
bad_ts '"soon"' "invalid RFC 3339 time"
printf '{"ts":1.7}\n{"ts":"2024-02-29T01:00:00+01:00"}\n' > "$T/ts.jsonl"
run 0 kproduce --dry-run -q -t t --timestamp ts "$T/ts.jsonl"
expect_eq "timestamps floored, offsets applied" "$(jq -c .timestamp "$T/out" | tr '\n' ' ')" "1 1709164800000 "
printf '%s\n' '{"topic":"t","partition":0,"offset":1,"timestamp":0,"key":null,"headers":[],"value":1}' > "$T/env0.jsonl"
run 65 kproduce --dry-run -q --envelope -t t "$T/env0.jsonl"
expect_grep "$T/err" "timestamp 0 .* cannot be produced"
echo ok
