# The README's first command ends with examples/demo.sh: keep it working.
source "$(dirname "$0")/lib.sh"
run 0 bash "$SRC/examples/demo.sh"
expect_grep "$T/out" "^identical: 200 messages$"
expect_grep "$T/out" "input.jsonl:4\",\"raw\":"
expect_grep "$T/out" '^\{"window_start":"2024-11-24T09:39:00.000Z","window_end":"2024-11-24T09:40:00.000Z","user":"u3","clicks":1,"spent":32.9\}$'
expect_grep "$T/out" '^\.\.\. 61 rows; late beyond --max-delay 200ms, kept aside: 1$'
expect_no_grep "$T/err" "warning"
expect_grep "$T/out" '^\{"user":"u3","minutes":6,"clicks":18,"busiest":6,"spent":430.95\}$'
echo ok
