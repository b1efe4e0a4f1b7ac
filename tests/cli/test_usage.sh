# --help, --version, unknown flags and usage errors (kpipe(7), EXIT STATUS).
source "$(dirname "$0")/lib.sh"
for tool in kproduce kconsume; do
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
run 2 kconsume --idle 5s t
run 2 kproduce -t x -X no.such.property=1 --dry-run
expect_grep "$T/err" "no.such.property"
echo ok
