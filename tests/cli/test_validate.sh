# --validate SCHEMA (kpipe(7), VALIDATION) on kagg, kwindow, kjoin, kjq and
# kproduce: a record that does not fit stops the tool with 65 naming
# SOURCE:LINE, the path and the rule, after what came before it; with
# --dead-letter it goes there and the rest is computed as without it; an
# envelope's value is what is checked; a schema that cannot be used is a
# usage error before any record is read.
source "$(dirname "$0")/lib.sh"
cd "$T"
cat > s.json <<'S'
{"type":"object","required":["ts","user","amount"],
 "properties":{"ts":{"type":"integer"},"user":{"$ref":"#/definitions/user"},"amount":{"type":"number","minimum":0}},
 "definitions":{"user":{"type":"string","pattern":"^u[0-9]+$"}}}
S
printf '%s\n' '{"ts":1000,"user":"u1","amount":5}' '{"ts":2000,"user":"x","amount":1}' \
  '{"ts":3000,"user":"u2","amount":-1}' '{"@kpipe":"watermark","ts":500}' '{"ts":4000,"user":"u3"}' \
  '{"ts":5000,"user":"u1","amount":2.5}' > in.jsonl
grep -v '"x"\|-1\|"u3"}' in.jsonl > good.jsonl

# Stopped at the first bad record, which is named.
run 65 kagg -q --by user -a count --validate s.json in.jsonl
expect_grep err '^kagg: error: in.jsonl:2: schema s.json: /user: pattern: "x" does not match \^u\[0-9\]\+\$$'
run 65 kproduce -q --dry-run -t t --validate s.json in.jsonl
expect_grep err '^kproduce: error: in.jsonl:2: schema s.json: /user: pattern'
expect_eq "kproduce printed the line before the bad one" "$(grep -c '"user":"u1"' out)" 1
run 65 kjq -q . --validate s.json in.jsonl
expect_grep err '^kjq: error: in.jsonl:2: schema s.json: /user: pattern'
run 65 kjoin -q --on user --within 1s --time ts --validate s.json good.jsonl in.jsonl
expect_grep err '^kjoin: error: in.jsonl:2: schema s.json'

# With --dead-letter: the three bad records there, each with its rule; the
# rows are those of the good records alone.
for tool in "kagg --by user -a count -a sum:amount" "kwindow --tumble 1m --time ts --by user -a count"; do
  rm -f dl.jsonl
  run 0 $tool -q --validate s.json --dead-letter dl.jsonl in.jsonl
  cp out with.out
  run 0 $tool -q good.jsonl
  diff -u out with.out || fail "$tool --validate --dead-letter: rows differ from the good records'"
  expect_eq "$tool dead letters" "$(wc -l < dl.jsonl)" 3
  expect_grep dl.jsonl '^\{"error":"schema s.json: /user: pattern: \\"x\\" does not match \^u\[0-9\]\+\$","source":"in.jsonl:2","raw":'
  expect_grep dl.jsonl '"error":"schema s.json: /amount: minimum: -1 is below 0","source":"in.jsonl:3"'
  expect_grep dl.jsonl '"error":"schema s.json: \(root\): required: no property \\"amount\\"","source":"in.jsonl:5"'
done
run 0 kjq -q .user --validate s.json --dead-letter dl2.jsonl in.jsonl
expect_eq "kjq outputs" "$(grep -v '@kpipe' out | tr '\n' ' ')" '"u1" "u1" '
expect_eq "kjq dead letters" "$(wc -l < dl2.jsonl)" 3
expect_grep out '^\{"@kpipe":"watermark","ts":500\}$'  # control records are not checked
run 0 kproduce -q --dry-run -t t --validate s.json --dead-letter dl3.jsonl in.jsonl
expect_eq "kproduce messages" "$(wc -l < out)" 2
expect_eq "kproduce dead letters" "$(wc -l < dl3.jsonl)" 3

# Envelope input: the message value is checked, not the envelope.
run 0 kproduce -q --dry-run -t t good.jsonl
mv out genv.jsonl
run 0 kagg -q -a count --validate s.json genv.jsonl
expect_eq "envelope values fit" "$(cat out)" '{"count":2}'
run 0 kjq -q .amount --validate s.json genv.jsonl
expect_grep out '"value":5'
run 0 kproduce -q --dry-run --envelope -t t --validate s.json genv.jsonl

# A tombstone (an envelope whose value is null) has no record to check: a
# table join's delete goes through; kproduce and kjq pass it on.
printf '%s\n' '{"topic":"t","partition":0,"offset":0,"timestamp":1000,"key":"u1","headers":[],"value":{"ts":1000,"user":"u1","amount":1}}' \
  '{"topic":"t","partition":0,"offset":1,"timestamp":2000,"key":"u1","headers":[],"value":null}' > table.jsonl
printf '%s\n' '{"ts":3000,"user":"u1","amount":7}' > left.jsonl
run 0 kjoin -q --on user --table --type left --validate s.json left.jsonl table.jsonl
expect_eq "the deleted key joins nothing" "$(cat out)" '{"left":{"ts":3000,"user":"u1","amount":7},"right":null}'
run 0 kproduce -q --dry-run --envelope -t t --validate s.json table.jsonl
expect_eq "kproduce: both messages" "$(wc -l < out)" 2
run 0 kjq -q . --validate s.json table.jsonl
expect_eq "kjq: both records" "$(wc -l < out)" 2
# A number beyond 64 bits cannot be checked: bad input, not a pass.
echo '{"ts":1,"user":"u1","amount":100000000000000000000000}' > big.jsonl
run 65 kjq -q . --validate s.json big.jsonl
expect_grep err "a number beyond 64 bits cannot be checked"

# Schemas that cannot be used: usage errors, nothing read.
echo '{"$ref":"http://example.com/s.json"}' > remote.json
echo '{"type":' > broken.json
echo '{"pattern":"(x"}' > regex.json
for tool in "kagg -a count" "kwindow --tumble 1m --time ts -a count" "kjq ." "kproduce --dry-run -t t"; do
  run 2 $tool --validate remote.json in.jsonl
  expect_grep err "names nothing in this schema"
  run 2 $tool --validate broken.json in.jsonl
  expect_grep err "schema broken.json: not JSON"
  run 2 $tool --validate missing.json in.jsonl
  expect_grep err -- "--validate missing.json: No such file"
  run 2 $tool --validate regex.json in.jsonl
  expect_grep err "pattern \(x"
done
run 2 kproduce --dry-run -t t --raw --validate s.json in.jsonl
expect_grep err "does not apply"
echo ok
