# Progress on stderr only when it is a terminal and the input a regular file;
# cleared at exit. script(1) gives the tool a pseudo-terminal.
source "$(dirname "$0")/lib.sh"
seq 1 30000 | sed 's/.*/{"n":&}/' > "$T/in.jsonl"
script -qec "kproduce --dry-run -q --rate 20000 -t t $T/in.jsonl > /dev/null" /dev/null > "$T/tty" < /dev/null
expect_grep "$T/tty" '% [0-9]+ records'
# The last thing written is the erase sequence: the line is cleared.
tail -c 4 "$T/tty" | od -c | head -1 | grep -q '\\r 033   \[   K' || { od -c "$T/tty" | tail -3; fail "progress not cleared at exit"; }
# Not a terminal: no progress at all.
run 0 kproduce --dry-run -q --rate 20000 -t t "$T/in.jsonl"
expect_empty "$T/err"
# A pipe as input (unknown size): no progress either.
script -qec "cat $T/in.jsonl | kproduce --dry-run -q -t t > /dev/null" /dev/null > "$T/tty2" < /dev/null
expect_no_grep "$T/tty2" 'records'
# kagg, kwindow and kjoin on regular files: the same (a reader that starts
# late makes the run outlast the first redraw).
seq 1 200000 | awk '{printf "{\"user\":\"u%d\",\"ts\":%d,\"id\":%d}\n", $1 % 100, $1, $1}' > "$T/ev.jsonl"
for cmd in "kagg --by user -a count --emit changes $T/ev.jsonl" \
           "kwindow --tumble 10ms --by user -a count --time ts $T/ev.jsonl" \
           "kjoin --on id --within 1s --time ts $T/ev.jsonl $T/ev.jsonl"; do
  script -qec "$cmd -q | (sleep 0.5; cat > /dev/null)" /dev/null > "$T/tty3" < /dev/null
  expect_grep "$T/tty3" '% [0-9]+ records'
  tail -c 4 "$T/tty3" | od -c | head -1 | grep -q '\\r 033   \[   K' || { od -c "$T/tty3" | tail -3; fail "$cmd: progress not cleared"; }
  run 0 bash -c "$cmd -q > /dev/null"
  expect_empty "$T/err"
done
# A pipe (unknown size): no progress.
script -qec "cat $T/ev.jsonl | kagg --by user -a count --emit changes -q | (sleep 0.5; cat > /dev/null)" /dev/null > "$T/tty4" < /dev/null
expect_no_grep "$T/tty4" 'records'
echo ok
