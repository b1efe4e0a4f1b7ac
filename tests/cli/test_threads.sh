# --threads: input parsed on a second thread gives the same rows, dead
# letters, errors and summaries as one thread, on inputs large enough for
# the block parser (json/block_parser.h), with bad lines of every kind
# scattered through them (each sends its chunk back to the line-by-line path).
source "$(dirname "$0")/lib.sh"

"$PY" - "$T/in.jsonl" "$T/right.jsonl" <<'PY'
import random, sys
rnd = random.Random(7)
bad = ['', 'not json', '{"ts":1,"k":"a"', '{"ts":5,"k":"a","v":1} {"ts":6}', '1,2', '   ', '[1,2',
       '{"ts":"soon","k":"a","v":1}', '{"k":"a","v":1}', '{"ts":7,"k":"a","v":1}\r',
       # event times the parse thread reads ahead (RecordDecoder::TimeFunction)
       # and leaves to the reading thread to refuse, or reads as it would
       '{"ts":1e300,"k":"a","v":1}', '{"ts":null,"k":"a","v":1}', '{"ts":true,"k":"a","v":1}',
       '{"ts":-9223372036854775808,"k":"a","v":1}', '{"ts":12.7,"k":"a","v":1}',
       '{"ts":"2024-11-24T10:00:00Z","k":"a","v":1}', '{"ts":[1],"k":"a","v":1}']
for path, n in ((sys.argv[1], 60000), (sys.argv[2], 30000)):
    with open(path, "w") as f:
        for i in range(n):
            if i % 2999 == 1500:
                f.write(bad[(i // 2999) % len(bad)] + "\n")
            elif i == 20001:  # a value over two lines, then two values on one:
                # joined by commas they would look like two good lines
                f.write('{"ts":200010,"k":"a"\n"v":2},{"ts":200011,"k":"b","v":1}\n')
            else:
                f.write('{"ts":%d,"k":"u%d","v":%d}\n' % (i * 10 + rnd.randrange(40), rnd.randrange(300), i % 7))
PY
[ "$(wc -c < "$T/in.jsonl")" -gt 1000000 ] || fail "the input is too small for the block parser"

same() {  # same NAME CMD...: --threads 1 and 2 give the same stdout, stderr, dead letters and status
  local name=$1 t
  shift
  for t in 1 2; do
    rm -f "$T/dead.jsonl"
    local st=0
    "$@" --threads "$t" --dead-letter "$T/dead.jsonl" >"$T/$name.$t.out" 2>"$T/$name.$t.err" || st=$?
    echo "$st" >"$T/$name.$t.status"
    cp "$T/dead.jsonl" "$T/$name.$t.dead" 2>/dev/null || : >"$T/$name.$t.dead"
  done
  for part in out err dead status; do
    cmp -s "$T/$name.1.$part" "$T/$name.2.$part" || {
      diff "$T/$name.1.$part" "$T/$name.2.$part" | head -n 10 >&2
      fail "$name: --threads 2 differs from --threads 1 in its $part"
    }
  done
  [ "$(cat "$T/$name.1.status")" = 0 ] || fail "$name: status $(cat "$T/$name.1.status")"
  [ -s "$T/$name.1.dead" ] || fail "$name: no dead letters (the bad lines were not seen)"
}
same kwindow kwindow --tumble 10s --time ts --max-delay 1s --by k -a count -a sum:v "$T/in.jsonl"
same kagg kagg --by k -a count -a sum:v --time ts "$T/in.jsonl"
same kwindow-s kwindow --tumble 10m --time ts --time-unit s --max-delay 1s --by k -a count "$T/in.jsonl"
same kjoin kjoin --on k --within 100ms --time ts --max-delay 1s "$T/in.jsonl" "$T/right.jsonl"
# A composite key, outer rows both ways, and records dropped out of their
# arrival order (the input is out of order by up to 40 ms).
same kjoin-full kjoin --on k --on v --between -30ms,20ms --type full --merge --time ts --max-delay 50ms \
  "$T/in.jsonl" "$T/right.jsonl"
expect_grep "$T/kwindow.2.err" "dead-lettered"
# Every bad line of the input is in the dead letters, by its line number.
n=$(grep -c . "$T/kwindow.2.dead")
[ "$n" -ge 18 ] || fail "kwindow dead-lettered $n lines, want at least 18"
# Without --dead-letter the first bad line stops both alike, naming it.
for t in 1 2; do
  st=0
  kwindow --tumble 10s --time ts --by k -a count --threads "$t" "$T/in.jsonl" >"$T/stop.$t.out" 2>"$T/stop.$t.err" || st=$?
  [ "$st" = 65 ] || fail "--threads $t: status $st, want 65"
done
cmp -s "$T/stop.1.out" "$T/stop.2.out" && cmp -s "$T/stop.1.err" "$T/stop.2.err" || fail "the stop at the first bad line differs"
expect_grep "$T/stop.2.err" "in.jsonl:1501: invalid JSON"
run 2 kwindow --tumble 10s --time ts --by k -a count --threads 0 "$T/in.jsonl"
expect_grep "$T/err" "--threads 0: expected 1 or more"
echo ok
