# kwindow and kagg under the bad-input policy (kpipe(7), BAD INPUT): exit 65
# naming SOURCE:LINE after all earlier output was flushed, or dead-letter
# rows with --dead-letter; a bad record changes no state; the summary counts
# every record.
source "$(dirname "$0")/lib.sh"

kw="kwindow --tumble 10s --time ts --by k -a count -a sum:v"

# Each kind of bad record, alone after one good closed window.
good='{"ts":1000,"k":"a","v":1}\n{"ts":20000,"k":"a","v":2}\n'
check_bad() {  # check_bad 'LINE' 'REASON PATTERN'
  printf "$good%s\n" "$1" > "$T/in.jsonl"
  run 65 $kw "$T/in.jsonl"
  # The window [0,10s) closed before the bad line: its row was flushed.
  expect_eq "rows before '$1'" "$(cat "$T/out")" '{"window_start":0,"window_end":10000,"k":"a","count":1,"sum_v":1}'
  expect_grep "$T/err" "^kwindow: error: $T/in.jsonl:3: $2"
  expect_grep "$T/err" "^kwindow: 3 records in, 1 row out, 0 late, 0 dead-lettered$"
}
check_bad 'not json' 'invalid JSON \('
check_bad '{"ts":30000,"k":"a","v":1' 'invalid JSON \('
check_bad '{"k":"a","v":1}' "no event time: 'ts' is missing or null"
check_bad '{"ts":null,"k":"a","v":1}' "no event time: 'ts' is missing or null"
check_bad '{"ts":true,"k":"a","v":1}' "event time 'ts' is not a number or an RFC 3339 string"
check_bad '{"ts":"yesterday","k":"a","v":1}' "event time 'ts': "
check_bad '{"ts":30000,"k":"a","v":"12"}' "'v' is not a number \(sum_v\)"
check_bad '{"ts":30000,"k":"a","v":[1]}' "'v' is not a number \(sum_v\)"
check_bad '{"ts":30000,"k":"a","v":18446744073709551615}' "'v' is an integer beyond the 64-bit range \\(sum_v\\)"
printf "$good\n" > "$T/in.jsonl"
run 65 $kw "$T/in.jsonl"
expect_grep "$T/err" "in.jsonl:3: invalid JSON \(empty line\)"
printf "$good"'{"ts":30000,"k":"\xff","v":1}\n' > "$T/in.jsonl"
run 65 $kw "$T/in.jsonl"
expect_grep "$T/err" "in.jsonl:3: invalid JSON \("
# stdin is named stdin.
sh_run 65 "printf '{\"ts\":1}\nnope\n' | $kw"
expect_grep "$T/err" "^kwindow: error: stdin:2: invalid JSON"

# Integer sums are exact to the last unit, and leaving int64 is an error.
printf '{"ts":1,"v":9223372036854775806}\n{"ts":2,"v":1}\n{"ts":3,"v":1}\n' > "$T/sum.jsonl"
run 65 kwindow --tumble 10s --time ts -a sum:v "$T/sum.jsonl"
expect_grep "$T/err" "sum.jsonl:3: sum_v: the integer sum leaves the 64-bit range"
run 0 kwindow --tumble 10s --time ts -a sum:v --dead-letter "$T/dl.jsonl" "$T/sum.jsonl"
expect_eq "exact sum" "$(cat "$T/out")" '{"window_start":0,"window_end":10000,"sum_v":9223372036854775807}'
expect_grep "$T/dl.jsonl" '"source":"[^"]*sum.jsonl:3"'

# --dead-letter: every bad line goes there, the good ones are aggregated,
# and the state is as if the bad lines were not there.
{
  printf '{"ts":1000,"k":"a","v":1}\n'
  printf 'not json\n'
  printf '\n'
  printf '{"ts":2000,"k":"a","v":"x"}\n'
  printf '{"ts":"soon","k":"a","v":1}\n'
  printf '{"ts":3000,"k":"\xff","v":1}\n'
  python3 -c 'import sys; sys.stdout.write("{\"ts\":4000,\"k\":\"b\",\"v\":5,\"pad\":\"" + "x"*(10*1024*1024) + "\"}\n")'
  printf '{"k":"a","v":1}\n'
  printf '{"ts":5000,"k":"a","v":2}\n'
} > "$T/mixed.jsonl"
run 0 $kw --dead-letter "$T/dead.jsonl" "$T/mixed.jsonl"
expect_eq "rows" "$(cat "$T/out")" '{"window_start":0,"window_end":10000,"k":"a","count":2,"sum_v":3}
{"window_start":0,"window_end":10000,"k":"b","count":1,"sum_v":5}'
expect_eq "dead letters" "$(wc -l < "$T/dead.jsonl")" 6
jq -e . "$T/dead.jsonl" > /dev/null || fail "dead-letter rows are not JSON"
for n in 2 3 4 5 6 8; do expect_grep "$T/dead.jsonl" "\"source\":\"$T/mixed.jsonl:$n\""; done
expect_grep "$T/dead.jsonl" '"raw_encoding":"base64"'
expect_grep "$T/err" "^kwindow: 9 records in, 2 rows out, 0 late, 6 dead-lettered$"

# kagg: the same policy (without --time, records need no event time).
run 65 kagg --by k -a sum:v "$T/mixed.jsonl"
expect_grep "$T/err" "^kagg: error: $T/mixed.jsonl:2: invalid JSON"
run 0 kagg --by k -a count -a sum:v --dead-letter "$T/dead2.jsonl" "$T/mixed.jsonl"
expect_eq "kagg rows" "$(cat "$T/out")" '{"k":"a","count":4,"sum_v":5}
{"k":"b","count":1,"sum_v":5}'
expect_eq "kagg dead letters" "$(wc -l < "$T/dead2.jsonl")" 4
# Lines are parsed a block at a time; each line must still be exactly one
# JSON value. Two values on a line, or one value over two lines, are bad
# input at that line; spaces and a CR around a value are fine.
printf '{"ts":1}\n  {"ts":2}  \n{"ts":3}\r\n{"ts":4} {"ts":5}\n{"ts":6}\n' > "$T/two.jsonl"
run 65 kwindow --tumble 10s --time ts -a count "$T/two.jsonl"
expect_grep "$T/err" "two.jsonl:4: invalid JSON"
printf '{"ts":1}\n{"ts":\n2}\n{"ts":3}\n' > "$T/split.jsonl"
run 65 kagg -a count "$T/split.jsonl"
expect_grep "$T/err" "split.jsonl:2: invalid JSON"
printf '{"ts":1}\n \n{"ts":3}\n' > "$T/blank.jsonl"
run 65 kagg -a count "$T/blank.jsonl"
expect_grep "$T/err" "blank.jsonl:2: invalid JSON"
printf '1\n"x"\n[1,2]\nnull\n2 3\n' > "$T/scalars.jsonl"
run 0 kagg -a count -a n=count:0 --dead-letter "$T/dead3.jsonl" "$T/scalars.jsonl"
expect_eq "scalar lines" "$(cat "$T/out")" '{"count":4,"n":1}'
expect_grep "$T/dead3.jsonl" 'scalars.jsonl:5",'
# Event times beyond +-146 million years are bad input, not an overflow or a
# hang (hopping windows would otherwise step past the int64 range).
printf '{"t":1}\n{"t":9223372036854775807}\n' > "$T/far.jsonl"
run 65 timeout 10 kwindow --time t --hop 10s --slide 1s -a count "$T/far.jsonl"
expect_grep "$T/err" "far.jsonl:2: event time 't' is out of range"
sh_run 65 "echo '{\"t\":-9223372036854775}' | timeout 10 kwindow --time t --time-unit s --tumble 1s -a count"
printf '{"@kpipe":"watermark","ts":9223372036854775807}\n' > "$T/farwm.jsonl"
run 65 kwindow --time t --tumble 1s -a count "$T/farwm.jsonl"
printf '\xEF\xBB\xBF{"t":1}\n' > "$T/bom.jsonl"
run 65 kagg -a count "$T/bom.jsonl"
expect_grep "$T/err" "bom.jsonl:1: invalid JSON .the line starts with a UTF-8 byte order mark"
# A bad watermark record changes nothing: no control output begins.
printf '%s\n' '{"t":1000}' '{"@kpipe":"watermark"}' '{"@kpipe":"watermark","ts":"x"}' '{"t":3000}' > "$T/badwm.jsonl"
run 0 kwindow -q --time t --tumble 1s -a count --dead-letter "$T/badwm.dead" "$T/badwm.jsonl"
expect_eq "rows, no control records" "$(cat "$T/out")" '{"window_start":1000,"window_end":2000,"count":1}
{"window_start":3000,"window_end":4000,"count":1}'
expect_eq "bad watermarks set aside" "$(wc -l < "$T/badwm.dead")" 2
run 2 kwindow --time t --tumble 100000000000d -a count "$T/far.jsonl"
expect_grep "$T/err" "longer than 36 million years"

# Records after an end record: late for kwindow, new keys for kagg; none lost.
printf '%s\n' '{"t":1,"k":"a","v":1}' '{"@kpipe":"end"}' '{"t":2,"k":"b","v":2}' '{"t":3,"k":"a","v":5}' > "$T/after-end.jsonl"
run 0 kagg --by k -a count,sum:v --no-control "$T/after-end.jsonl"
expect_eq "kagg after an end record" "$(cat "$T/out")" '{"k":"a","count":1,"sum_v":1}
{"k":"b","count":1,"sum_v":2}
{"k":"a","count":1,"sum_v":5}'
run 0 kwindow --time t --tumble 1s -a count --no-control "$T/after-end.jsonl"
expect_grep "$T/err" "3 records in, 1 row out, 2 late, 0 dead-lettered"
# Bounded work per record: at most 10,000 hopping windows a record.
printf '%s\n' '{"ts":1}' '{"ts":2}' > "$T/two.jsonl"
run 2 kwindow --hop 1h --slide 1ms --time ts -a count "$T/two.jsonl"
expect_grep "$T/err" "puts each record into 3600000 windows; at most 10000"
run 0 kwindow -q --hop 10s --slide 1ms --time ts -a count "$T/two.jsonl"
expect_eq "10,000 windows a record" "$(wc -l < "$T/out")" 10001
# An envelope whose value its registry schema did not decode (a kafka:
# input gives the reason as value_error) is bad input; bytes and text that
# are no JSON are string records (a binary topic can be counted).
printf '%s\n' '{"topic":"t","partition":0,"offset":1,"timestamp":1000,"key":null,"headers":[],"value":"AAE=","value_encoding":"base64"}' \
  '{"topic":"t","partition":0,"offset":2,"timestamp":1500,"key":null,"headers":[],"value":"AAE=","value_encoding":"base64","value_error":"schema id 9 is not in the registry"}' \
  '{"topic":"t","partition":0,"offset":3,"timestamp":2000,"key":null,"headers":[],"value":"text","value_encoding":"string"}' > "$T/bytes.jsonl"
run 65 kwindow --tumble 1s -a count "$T/bytes.jsonl"
expect_grep "$T/err" "bytes.jsonl:2: schema id 9 is not in the registry"
run 0 kwindow -q --tumble 1s -a count --no-control --dead-letter "$T/bytes.dead" "$T/bytes.jsonl"
expect_eq "bytes and text are records" "$(cat "$T/out")" '{"window_start":1000,"window_end":2000,"count":1}
{"window_start":2000,"window_end":3000,"count":1}'
expect_eq "dead letters" "$(jq -r .error "$T/bytes.dead")" "schema id 9 is not in the registry"
echo ok
