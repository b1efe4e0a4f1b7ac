# kjoin end to end: interval joins over files, FIFOs and <(...), a blocked
# side that does not stall the other, table and as-of joins, --merge,
# late records, bad input and usage errors.
source "$(dirname "$0")/lib.sh"

printf '%s\n' '{"id":1,"ts":1000,"a":"x"}' '{"id":2,"ts":2000,"a":"y"}' '{"id":3,"ts":9000,"a":"z"}' > "$T/L.jsonl"
printf '%s\n' '{"id":1,"ts":1500,"p":10}' '{"id":3,"ts":8000,"p":30}' '{"id":2,"ts":9000,"p":20}' > "$T/R.jsonl"

run 0 kjoin --on id --within 1s --time ts "$T/L.jsonl" "$T/R.jsonl"
sort "$T/out" > "$T/inner"
expect_eq "inner rows" "$(cat "$T/inner")" '{"left":{"id":1,"ts":1000,"a":"x"},"right":{"id":1,"ts":1500,"p":10}}
{"left":{"id":3,"ts":9000,"a":"z"},"right":{"id":3,"ts":8000,"p":30}}'
expect_grep "$T/err" "^kjoin: 3 left in, 3 right in, 2 rows out, 0 late, 0 dead-lettered$"
# The same through FIFOs and process substitution; stdin for one side.
run 0 kjoin --on id --within 1s --time ts <(cat "$T/L.jsonl") <(cat "$T/R.jsonl")
expect_eq "through <(...)" "$(sort "$T/out")" "$(cat "$T/inner")"
sh_run 0 "cat $T/R.jsonl | kjoin --on id --within 1s --time ts $T/L.jsonl -"
expect_eq "right from stdin" "$(sort "$T/out")" "$(cat "$T/inner")"
run 0 kjoin --on id --type full --between -1s,0s --time ts "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/out" '^\{"left":\{"id":2,"ts":2000,"a":"y"\},"right":null\}$'
expect_grep "$T/out" '^\{"left":null,"right":\{"id":2,"ts":9000,"p":20\}\}$'
expect_grep "$T/out" '^\{"left":\{"id":1,"ts":1000,"a":"x"\},"right":null\}$'  # 1500 is after lt + 0
run 0 kjoin --on id=id --within 1s --time ts --merge "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/out" '^\{"id":1,"ts":1000,"a":"x","p":10\}$'
# Different field names per side.
printf '%s\n' '{"order":1,"at":"1970-01-01T00:00:01.200Z"}' > "$T/R2.jsonl"
run 0 kjoin --on id=order --within 1s --left-time ts --right-time at "$T/L.jsonl" "$T/R2.jsonl"
expect_grep "$T/out" '"right":\{"order":1,"at":"1970-01-01T00:00:01.200Z"\}'

# A blocked side does not stall the other: RIGHT is an open FIFO that never
# writes; LEFT keeps coming, and with --idle its outer rows come out.
mkfifo "$T/right" "$T/left"
# (kjoin opens LEFT, then RIGHT: the writers open them in that order.)
kjoin --on id --within 1s --time ts --type left --idle 300ms "$T/left" "$T/right" > "$T/live.out" 2>/dev/null &
pid=$!
{
  for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do echo "{\"id\":$i,\"ts\":$((i * 1000))}"; sleep 0.1; done
  cp "$T/live.out" "$T/live.mid"
} > "$T/left" &
writer=$!
exec 8> "$T/right"
wait $writer
exec 8>&-
wait $pid
[ "$(wc -l < "$T/live.mid")" -ge 5 ] || fail "outer rows did not come out while RIGHT was blocked: $(cat "$T/live.mid")"
expect_grep "$T/live.mid" '^\{"left":\{"id":1,"ts":1000\},"right":null\}$'
expect_eq "all rows at the end" "$(wc -l < "$T/live.out")" 15

# Late records: with --late, written with the side and W. (LEFT ends before
# RIGHT starts, so W is RIGHT's own watermark: the outcome is certain.)
printf '%s\n' '{"id":1,"ts":5000}' > "$T/Llate.jsonl"
run 0 kjoin --on id --within 1s --time ts --late "$T/late.jsonl" "$T/Llate.jsonl" \
  <(sleep 0.5; printf '%s\n' '{"id":1,"ts":5000}' '{"id":1,"ts":1000}')
expect_grep "$T/late.jsonl" '^\{"late":\{"id":1,"ts":1000\},"side":"right","watermark":5000\}$'
expect_eq "the on-time pair" "$(cat "$T/out")" '{"left":{"id":1,"ts":5000},"right":{"id":1,"ts":5000}}'
expect_grep "$T/err" " 1 late,"

# Table join: RIGHT read first; the latest record per key.
printf '%s\n' '{"user":"u1","name":"Ann"}' '{"user":"u2","name":"Bo"}' '{"user":"u1","name":"Anna"}' > "$T/users.jsonl"
printf '%s\n' '{"user":"u1","n":1}' '{"user":"u3","n":2}' > "$T/clicks.jsonl"
run 0 kjoin --on user --table --type left --merge "$T/clicks.jsonl" "$T/users.jsonl"
expect_eq "table join" "$(cat "$T/out")" '{"user":"u1","n":1,"name":"Anna"}
{"user":"u3","n":2}'
# Envelope tombstones delete the key their message key set.
env() { printf '{"topic":"u","partition":0,"offset":%s,"timestamp":1,"timestamp_type":"create","key":"%s","key_encoding":"string","headers":[],"value":%s}\n' "$@"; }
{ env 0 k1 '{"user":"u1","name":"Ann"}'; env 1 k1 null; env 2 k2 '{"user":"u2","name":"Bo"}'; } > "$T/table-env.jsonl"
printf '%s\n' '{"user":"u1"}' '{"user":"u2"}' > "$T/lookups.jsonl"
run 0 kjoin --on user --table "$T/lookups.jsonl" "$T/table-env.jsonl"
expect_eq "tombstone" "$(cat "$T/out")" '{"left":{"user":"u2"},"right":{"user":"u2","name":"Bo"}}'
# As-of: the version current at the left time.
printf '%s\n' '{"sym":"A","ts":1000,"px":1}' '{"sym":"A","ts":3000,"px":3}' > "$T/prices.jsonl"
printf '%s\n' '{"sym":"A","ts":500}' '{"sym":"A","ts":2000}' '{"sym":"A","ts":3000}' > "$T/trades.jsonl"
run 0 kjoin --on sym --as-of --time ts --type left --merge "$T/trades.jsonl" "$T/prices.jsonl"
expect_eq "as-of" "$(cat "$T/out")" '{"sym":"A","ts":500}
{"sym":"A","ts":2000,"px":1}
{"sym":"A","ts":3000,"px":3}'
# A tombstone whose offset comes before its key's first version (an earlier
# time at a later offset) still ends that version.
printf '%s\n' '{"topic":"t","partition":0,"offset":0,"timestamp":2000,"key":"k","value":null}' \
  '{"topic":"t","partition":0,"offset":1,"timestamp":1000,"key":"k","value":{"cust":"k","v":1}}' > "$T/tomb.env"
printf '%s\n' '{"cust":"k","ts":1500}' '{"cust":"k","ts":3000}' > "$T/asof-left.jsonl"
run 0 kjoin -q --on cust --as-of --left-time ts --type left "$T/asof-left.jsonl" "$T/tomb.env"
expect_eq "an early tombstone" "$(cat "$T/out")" '{"left":{"cust":"k","ts":1500},"right":{"cust":"k","v":1}}
{"left":{"cust":"k","ts":3000},"right":null}'

# Bad input: a missing join key, invalid JSON, a missing time; dead letters.
printf '%s\n' '{"id":1,"ts":1000}' '{"ts":2000}' > "$T/Lbad.jsonl"
run 65 kjoin --on id --within 1s --time ts "$T/Lbad.jsonl" "$T/R.jsonl"
expect_grep "$T/err" "^kjoin: error: $T/Lbad.jsonl:2: join key 'id' is missing or null$"
printf '%s\n' '{"id":1,"ts":1000}' 'nope' '{"id":1}' '{"id":1,"ts":1100}' > "$T/Lbad2.jsonl"
run 0 kjoin --on id --within 1s --time ts --dead-letter "$T/dead.jsonl" "$T/Lbad2.jsonl" "$T/R.jsonl"
expect_eq "dead letters" "$(wc -l < "$T/dead.jsonl")" 2
expect_grep "$T/dead.jsonl" "Lbad2.jsonl:2\""
expect_grep "$T/dead.jsonl" "no event time: 'ts' is missing or null"
expect_eq "pairs despite bad lines" "$(wc -l < "$T/out")" 2
run 65 kjoin --on 0 --table --merge <(echo '[1,2]') <(echo '[1,3]')
expect_grep "$T/err" ":1: --merge needs JSON objects$"

# --idle leaves a quiet input out only while the other is active: one that
# ended is not, and the quiet one still holds the watermark (it went to
# +infinity, and every later record of the quiet input was late).
run 0 kjoin --on k --time ts --within 1s --idle 300ms <(sleep 1; echo '{"k":"a","ts":5000}') \
  <(printf '%s\n' '{"k":"a","ts":1000}' '{"k":"a","ts":5000}')
expect_eq "idle beside an ended input" "$(cat "$T/out")" '{"left":{"k":"a","ts":5000},"right":{"k":"a","ts":5000}}'
expect_grep "$T/err" " 0 late,"

# [1] and [1e0] are one key.
run 0 kjoin -q --on k --within 1s --time ts <(echo '{"ts":1,"k":[1]}') <(echo '{"ts":1,"k":[1e0]}')
expect_eq "nested number keys" "$(cat "$T/out")" '{"left":{"ts":1,"k":[1]},"right":{"ts":1,"k":[1e0]}}'

# A tombstone without a message key names no row: bad input, not a delete of
# the row that another keyless message set.
E='{"topic":"t","partition":0,"offset":%d,"timestamp":1000,"key":null,"value":%s}\n'
{ printf "$E" 0 '{"k":"a"}'; printf "$E" 1 '{"k":"b"}'; printf "$E" 2 null; } > "$T/keyless.jsonl"
printf '%s\n' '{"k":"a"}' '{"k":"b"}' > "$T/ab.jsonl"
run 0 kjoin -q --on k --table --type left --dead-letter "$T/keyless-dead.jsonl" "$T/ab.jsonl" "$T/keyless.jsonl"
expect_eq "rows beside a keyless tombstone" "$(cat "$T/out")" '{"left":{"k":"a"},"right":{"k":"a"}}
{"left":{"k":"b"},"right":{"k":"b"}}'
expect_grep "$T/keyless-dead.jsonl" "a tombstone \(null value\) without a message key"

# --retain keeps, per key, the newest version older than W - DUR: a version
# exactly at the horizon does not stand in for it.
printf '%s\n' '{"k":"a","ts":1000150,"v":"X"}' '{"k":"a","ts":1000200,"v":"Y"}' '{"k":"a","ts":1000120,"v":"Z"}' > "$T/versions.jsonl"
echo '{"k":"a","ts":1000170}' > "$T/at170.jsonl"
for retain in 0ms 100ms; do
  run 0 kjoin -q --on k --as-of --time ts --retain $retain "$T/at170.jsonl" "$T/versions.jsonl"
  expect_eq "--retain $retain" "$(cat "$T/out")" '{"left":{"k":"a","ts":1000170},"right":{"k":"a","ts":1000150,"v":"X"}}'
done

# Usage errors.
run 2 kjoin --on id --within 1s --time ts - -
expect_grep "$T/err" "at most one input may be -"
run 2 kjoin --on id --time ts "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/err" "give one of --within"
run 2 kjoin --on id --within 1s --between 0s,1s --time ts "$T/L.jsonl" "$T/R.jsonl"
run 2 kjoin --on id --between 1s,0s --time ts "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/err" "LO is after HI"
run 2 kjoin --on id --table --type full "$T/L.jsonl" "$T/R.jsonl"
run 2 kjoin --on id --within 1s "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/err" "no --time given"
run 2 kjoin --within 1s --time ts "$T/L.jsonl" "$T/R.jsonl"
expect_grep "$T/err" "--on PATH is required"
run 2 kjoin --on id --within 1s --time ts "$T/L.jsonl"
echo ok
