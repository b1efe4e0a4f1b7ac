# --help, --version, unknown flags and usage errors (kpipe(7), EXIT STATUS).
source "$(dirname "$0")/lib.sh"
for tool in kproduce kconsume kwindow kagg kjoin kjq kadmin; do
  run 0 "$tool" --help
  expect_grep "$T/out" "^Usage: $tool "
  expect_empty "$T/err"
  run 0 "$tool" --version
  expect_grep "$T/out" "^$tool \(kpipe\) [0-9]"
  expect_grep "$T/out" "^librdkafka 2\."
  run 2 "$tool" --no-such-flag
  expect_empty "$T/out"
  expect_eq "$tool unknown flag: stderr lines" "$(wc -l < "$T/err")" 2
  expect_grep "$T/err" "^$tool: error: .*--no-such-flag"
  expect_eq "$tool unknown flag: last line" "$(tail -1 "$T/err")" "Try '$tool --help' for more information."
done
run 2 kproduce --dry-run
expect_grep "$T/err" "^kproduce: error: -t TOPIC is required"
expect_grep "$T/err" "Try 'kproduce --help'"
run 2 kproduce --dry-run -t x --raw --envelope
run 2 kproduce --dry-run -t x -H novalue
run 2 kproduce --dry-run -t x -k 'a..b'
run 2 kconsume
expect_grep "$T/err" "no topic given"
run 2 kconsume -o sideways t
expect_grep "$T/err" "expected beginning, end, stored"
run 2 kconsume -o stored t
expect_grep "$T/err" "needs a consumer group"
run 2 kconsume -e --until end t
for c in 0 -1 -2; do
  run 2 kconsume -c "$c" t
  expect_grep "$T/err" "^kconsume: error: -c $c: expected a positive count"
done
run 2 kconsume --idle 5s t
run 2 kproduce -t x -X no.such.property=1 --dry-run
expect_grep "$T/err" "no.such.property"
# Values checked before anything runs, each flag named in its message.
# A bad --from/--until of a kafka: input: usage (2) before connecting, so
# even an unreachable broker gives 2.
run 2 kagg --by a -a count --from 2024-13-01 -b 127.0.0.1:1 kafka:t
expect_grep "$T/err" "^kagg: error: --from: invalid time '2024-13-01'"
run 2 kjoin --on a --within 1s --until 2024-13-01 -b 127.0.0.1:1 kafka:t kafka:u
expect_grep "$T/err" "^kjoin: error: --until: invalid time"
run 2 kproduce --dry-run -t x --acks 7
expect_grep "$T/err" "^kproduce: error: --acks 7: expected all, 1 or 0"
run 2 kproduce --dry-run -t x -p -1
expect_grep "$T/err" "^kproduce: error: --partition -1: must be a partition number"
run 2 kproduce --dry-run -t x --rate -3
expect_grep "$T/err" "^kproduce: error: --rate -3: must be >= 0"
run 2 kproduce --dry-run -t x --transactional-id t --txn-every -1
expect_grep "$T/err" "^kproduce: error: --txn-every -1: must be >= 0"
# kwindow and kagg: window kinds, aggregates, durations.
run 2 kwindow --time ts -a count
expect_grep "$T/err" "exactly one of --tumble"
run 2 kwindow --tumble 1m --session 5s --time ts -a count
run 2 kwindow --hop 1m --time ts -a count
expect_grep "$T/err" "--hop needs --slide"
run 2 kwindow --tumble 1m --time ts
expect_grep "$T/err" "no aggregate given"
run 2 kwindow --tumble 0s --time ts -a count
run 2 kwindow --tumble 1m --time ts -a nosuch:x
expect_grep "$T/err" "unknown function 'nosuch'"
run 2 kwindow --tumble 1m --time ts -a quantile:x:1.5
expect_grep "$T/err" "Q must be a number from 0 to 1"
run 2 kwindow --tumble 1m --time ts -a top:x
run 2 kwindow --tumble 1m --time ts -a count,count
expect_grep "$T/err" "two aggregates are named 'count'"
# A group field named as another column: a row would carry the name twice.
run 2 kwindow --tumble 1m --time ts -a count --by count
expect_grep "$T/err" "two columns are named 'count' \(--by and -a\)"
run 2 kwindow --tumble 1m --time ts -a count --by window_start
expect_grep "$T/err" "two columns are named 'window_start' \(the window and --by\)"
run 2 kwindow --session 1m --time ts -a count --emit changes --by retract
run 2 kagg -a count --by user,user
expect_grep "$T/err" "two columns are named 'user' \(--by and --by\)"
run 2 kagg -a n=count --by n=user
run 2 kwindow --tumble 1m --time ts -a count --max-late -1
expect_grep "$T/err" "^kwindow: error: --max-late -1: N must be >= 0"
run 2 kjoin --on a --within 1s --max-late -1 "$T/none" "$T/none"
# CLI11's messages for the commonest mistakes, in the tools' words.
run 2 kwindow --tumble 1m --time ts -a count --max-late x
expect_grep "$T/err" "^kwindow: error: --max-late x: expected an integer$"
run 2 kwindow --tumble 1m --tumble 2m --time ts -a count
expect_grep "$T/err" "^kwindow: error: --tumble given 2 times: give it once$"
run 2 kagg -a count --by
expect_grep "$T/err" "^kagg: error: --by needs a value$"
# kproduce's summary line, with nothing read too.
run 0 kproduce --dry-run -t x /dev/null
expect_grep "$T/err" "^kproduce: 0 lines in, 0 messages printed \(dry run\)"
run 2 kwindow --tumble 1m --time ts -a count --emit sometimes
run 2 kwindow --tumble 1m --time ts -a count --time-format iso
run 2 kwindow --tumble 1m --time ts -a count --max-delay soon
run 2 kwindow --tumble 1m --time ts -a count --time-unit h
run 2 kagg -a count --ttl 0s
run 2 kagg -a count --by 'a..b'
# An empty value is an error, not the option left out (an unset variable).
run 2 kagg -a count --ttl ""
expect_grep "$T/err" "^kagg: error: --ttl: empty value \(expected DUR\)$"
run 2 kwindow --tumble "" --time ts -a count
run 2 kagg -a count --by= "$T/one.jsonl"  # not the next word as its value
expect_grep "$T/err" "^kagg: error: --by: empty value \(expected PATH\)$"
run 2 kagg -a count --ttl=
run 2 kconsume -b "" -e t
run 0 kjq --arg x "" '$x' /dev/null
for between in ,5ms -5s, , 1s,2s,3s; do
  run 2 kjoin --on k --time t --between "$between" "$T/none" "$T/none"
  expect_grep "$T/err" "^kjoin: error: --between $between: expected LO,HI"
done
echo '{"ts":1}' > "$T/one.jsonl"
# A standard descriptor closed at start is closed for the tool too: an error,
# not a wait on the descriptor that took its number.
for tool in "kproduce --dry-run -t x" "kjq ." "kwindow --tumble 1s --time ts -a count" "kagg -a count"; do
  sh_run 1 "timeout 20 $tool <&-"
  expect_grep "$T/err" "stdin: read: Bad file descriptor"
done
sh_run 1 "timeout 20 kproduce --dry-run -t x $T/one.jsonl >&-"
expect_grep "$T/err" "stdout: write: Bad file descriptor"
run 2 kwindow --tumble 1m -a count "$T/one.jsonl"
expect_grep "$T/err" "no --time given and the input is not envelope lines"
echo ok
