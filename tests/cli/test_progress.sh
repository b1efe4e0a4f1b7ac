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
echo ok
