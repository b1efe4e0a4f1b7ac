# Every runnable example of the man pages runs, in order, from the
# repository root against the test broker; the output lines a page shows
# under an example must come out of it (man_examples.py says how).
source "$(dirname "$0")/../cli/lib.sh"
"$PY" "$SRC/tests/kafka/man_examples.py" "$SRC" "$$-$(date +%s)"
echo ok
