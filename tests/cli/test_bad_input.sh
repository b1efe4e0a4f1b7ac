# The bad-input policy (kpipe(7), BAD INPUT) through kproduce --dry-run:
# exit 65 naming source and line after everything before it was written, or
# dead-letter rows with --dead-letter; nothing is lost silently.
source "$(dirname "$0")/lib.sh"

printf '{"a":1}\nnot json\n{"a":3}\n' > "$T/in.jsonl"
run 65 kproduce --dry-run -t t "$T/in.jsonl"
expect_eq "lines before the bad one" "$(wc -l < "$T/out")" 1
expect_grep "$T/out" '"value":\{"a":1\}'
expect_grep "$T/err" "^kproduce: error: $T/in.jsonl:2: invalid JSON \("

sh_run 65 "printf '{\"a\":1}\n\n' | kproduce --dry-run -t t"
expect_grep "$T/err" "^kproduce: error: stdin:2: invalid JSON \(empty line\)"

printf '{"a":"\xff"}\n' > "$T/utf8.jsonl"
run 65 kproduce --dry-run -t t "$T/utf8.jsonl"
expect_grep "$T/err" "utf8.jsonl:1: invalid JSON"

# --dead-letter: the bad lines go there, the rest is produced, exit 0.
printf '{"a":1}\nnot json\n\n{"a":"\xff"}\n{"a":5}\n' > "$T/mixed.jsonl"
run 0 kproduce --dry-run -t t --dead-letter "$T/dead.jsonl" "$T/mixed.jsonl"
expect_eq "good lines" "$(wc -l < "$T/out")" 2
expect_eq "dead letters" "$(wc -l < "$T/dead.jsonl")" 3
expect_grep "$T/dead.jsonl" "^\{\"error\":\"invalid JSON .*\",\"source\":\"$T/mixed.jsonl:2\",\"raw\":\"not json\"\}$"
expect_grep "$T/dead.jsonl" "\"source\":\"$T/mixed.jsonl:3\",\"raw\":\"\"\}$"
expect_grep "$T/dead.jsonl" "\"source\":\"$T/mixed.jsonl:4\",\"raw\":\"eyJhIjoi/yJ9\",\"raw_encoding\":\"base64\"\}$"
expect_grep "$T/err" "5 lines in, 2 messages printed \(dry run\), 0 failed, 3 dead-lettered"
# Each dead-letter row is itself valid JSON.
jq -e . "$T/dead.jsonl" > /dev/null || fail "dead-letter rows are not JSON"

# Bad event timestamps are bad input too.
sh_run 65 "printf '{\"ts\":\"yesterday\"}\n' | kproduce --dry-run -t t --timestamp ts"
expect_grep "$T/err" "stdin:1: timestamp 'ts': invalid RFC 3339 time 'yesterday'"
sh_run 65 "printf '{\"ts\":true}\n' | kproduce --dry-run -t t --timestamp ts"
expect_grep "$T/err" "stdin:1: timestamp 'ts' is not a number or an RFC 3339 string"
sh_run 65 "printf '{\"x\":1}\n' | kproduce --dry-run -t t --timestamp ts"
expect_grep "$T/err" "stdin:1: missing timestamp field 'ts'"

# A 10 MB line is just a line.
python3 -c 'import sys; sys.stdout.write("{\"big\":\"" + "x"*(10*1024*1024) + "\"}\n{\"small\":1}\n")' > "$T/big.jsonl"
run 0 kproduce --dry-run -q -t t "$T/big.jsonl"
expect_eq "lines out of a 10 MB input" "$(wc -l < "$T/out")" 2
expect_eq "big value length" "$(head -1 "$T/out" | jq -r '.value.big | length')" 10485760

# --raw takes any bytes.
printf 'not json\n\xff\xfe\n' > "$T/raw.txt"
run 0 kproduce --dry-run -q --raw -t t "$T/raw.txt"
expect_grep "$T/out" '"value":"not json","value_encoding":"string"'
expect_grep "$T/out" '"value":"//4=","value_encoding":"base64"'
echo ok
