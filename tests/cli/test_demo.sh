# The README's first command ends with examples/demo.sh: keep it working.
source "$(dirname "$0")/lib.sh"
run 0 bash "$SRC/examples/demo.sh"
expect_grep "$T/out" "^identical: 200 messages$"
expect_grep "$T/out" "input.jsonl:4\",\"raw\":"
echo ok
