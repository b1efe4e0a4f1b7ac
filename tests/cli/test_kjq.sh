# kjq against jq 1.6 on a corpus of programs (kjq(1)): the same values as
# `jq -c` record by record, original bytes where the program returns the
# record unchanged, control records in place, program errors as bad input
# (dead letters, or status 65 naming SOURCE:LINE), envelopes kept around
# the program's outputs.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq is needed (scripts/install-deps.sh installs it)"

cat > "$T/in.jsonl" <<'EOF'
{"user": "u1", "amount": 120.50, "tags": ["a", "b"], "geo": {"country": "es"}}
{"@kpipe":"partitions","names":[],"watermarks":true}
{"user":"u2","amount":20,"tags":[],"geo":{"country":"fr"}}
{"user":"u3","amount":"n/a","tags":["c"],"geo":null}
{"@kpipe":"watermark","ts":1000}
{"user":"u\u00e9","amount":1e2,"tags":["a"],"geo":{"country":"es","city":"Bilbao"}}
[1,2,3]
"just a string"
{"user":"u5","amount":-3.25,"big":12345678901234567890,"tags":["x","y","z"]}
{"user":"u6","amount":0.1,"n":[1e-5,1.5e300,-0.0,1e17,1e16,1e15,123456789,0.000123,1e-4,-1.5e-7,5e-324,1.7976931348623157e308,2.5e-3,100,1e100,33.333333333333336],"s":"tab\there \u0001 \u007f \u00e9 \u2028 \ud83d\ude00 \"q\" \\ / \b\f\r\n"}
{"user":"u7","amount":123456789012345678901234567890,"n":[1e99999]}
{"user":"u8","user":"u8b","amount":8,"geo":{"country":"pt","country":"br"}}
{"amount":9,"user":"u9"}
{"user":"u10","geo":5,"tags":{"a":{"b":1,"b":2}}}
{"user":"u11","geo":"s","tags":{"a":{"b":[{"c":1,"c":2}]}}}
{"user":null,"amount":null}
{}
{"@kpipe":"end"}
EOF

KPIPE_KJQ=$(command -v kjq) "$PY" - "$T" <<'PYEOF'
import json, os, subprocess, sys
T = sys.argv[1]
kjq = os.environ["KPIPE_KJQ"]
# split("\n"), not splitlines(): U+2028 inside a JSON string is no line break.
lines = open(f"{T}/in.jsonl", encoding="utf-8").read().rstrip("\n").split("\n")
programs = [
    ".", "select(.amount? > 100)", "select(.user == \"u2\")", "{user, amount}",
    ".amount *= 2", "map_values(tostring)?", ".tags[]?", "empty", ".geo.country", "[.[]?] | length",
    "if type == \"object\" then .user else error(\"not an object\") end", ".amount + 1",
    "to_entries? | map(.key)", "(.user? // \"none\"), (.amount? // 0)", "$pre + (.user? // \"x\")",
    "{n: .n?, s: .s?}", ".n[]? * 3", ".amount? / 7", "[.s?, (.n? | length)]", "{(.user? // \"k\"): .amount?}",
    "$ARGS", "get_search_list",
    # Projections, which kjq runs without jq where it can (kjq(1)): repeated
    # keys, missing and null steps, steps into numbers and strings.
    "{amount, user}", "{u: .user, c: .geo.country}", "{\"the user\": .user, tags}", "{ \"user\" }",
    "{amount, user, tags, geo, n, s, big}", "{user, missing}", "{c: .tags.a.b}", "{if: .user}",
]
bad = 0
for prog in programs:
    # jq, one record at a time: what each record must give.
    want, errors = [], 0
    for i, line in enumerate(lines, 1):
        if line.startswith('{"@kpipe"'):
            want.append(line)
            continue
        p = subprocess.run(["jq", "-c", "--arg", "pre", "P:", prog], input=line.encode(), capture_output=True)
        if p.returncode != 0:
            errors += 1
            continue
        # Equal as jq sees values (numbers are doubles), members in the same
        # order: the record's own bytes, so 12345678901234567890 stays as it
        # was written...
        # ... unless an object repeats a key (jq keeps the last, kpipe's
        # readers the first) or a number is past the largest double (jq
        # reads it as the largest, the other tools refuse it): the bytes
        # would not mean the output.
        repeated = []
        def num(t):
            if abs(float(t)) == float("inf"):
                repeated.append(True)
            return float(t)
        def pairs(ps):
            if len({k for k, _ in ps}) != len(ps):
                repeated.append(True)
            return dict(ps)
        json.loads(line, parse_int=num, parse_float=num, object_pairs_hook=pairs)
        src = json.loads(line, parse_int=num, parse_float=num, object_pairs_hook=tuple)
        for out in p.stdout.decode().rstrip("\n").split("\n") if p.stdout else []:
            same = json.loads(out, parse_int=num, parse_float=num, object_pairs_hook=tuple) == src and not repeated
            want.append(line if same else out)
    dead = f"{T}/dead.jsonl"
    if os.path.exists(dead):
        os.remove(dead)
    p = subprocess.run([kjq, "-q", "--arg", "pre", "P:", "--dead-letter", dead, prog, f"{T}/in.jsonl"],
                       capture_output=True)
    got = p.stdout.decode().rstrip("\n").split("\n") if p.stdout else []
    ndead = len(open(dead).read().splitlines()) if os.path.exists(dead) else 0
    if p.returncode != 0 or got != want or ndead != errors:
        bad += 1
        print(f"FAIL: kjq {prog!r}: exit {p.returncode}, {ndead} dead letters (jq failed on {errors})\n"
              f"  got  {got}\n  want {want}\n  {p.stderr.decode()}", file=sys.stderr)
print(f"{len(programs) - bad} of {len(programs)} programs as jq -c gives them", file=sys.stderr)
sys.exit(1 if bad else 0)
PYEOF

# A number with a leading zero is jq's to read, and written as jq writes
# it (the line is not JSON); an integer beyond 64 bits is kept as it was.
printf '%s\n' '{"a":012}' '{"a":123456789012345678901234567890}' '[1e400,.5]' '[1e400,nan]' > "$T/num.jsonl"
run 0 kjq -q . "$T/num.jsonl"
expect_eq "numbers jq reads" "$(cat "$T/out")" '{"a":12}
{"a":123456789012345678901234567890}
[1.7976931348623157e+308,0.5]
[1.7976931348623157e+308,null]'
# An envelope whose value holds such a number is an envelope still.
printf '%s\n' '{"topic":"t","partition":0,"offset":5,"timestamp":1,"key":"k","headers":[],"value":{"x":1,"big":123456789012345678901}}' > "$T/envbig.jsonl"
run 0 kjq -q .x "$T/envbig.jsonl"
expect_eq "envelope with a big number" "$(cat "$T/out")" '{"topic":"t","partition":0,"offset":5,"timestamp":1,"key":"k","headers":[],"value":1}'

# halt and halt_error stop the run as they stop jq: what came before is
# written, nothing after; halt_error's value goes to stderr (a string as it
# is) and its status is the exit status (5 unless given); halt exits 0.
"$PY" -c 'import json
for i in range(1, 200001): print(json.dumps({"n": i, "pad": "x" * 40}))' > "$T/many.jsonl"
for threads in 1 3; do
  run 7 kjq -q --threads $threads 'if .n == 150000 then "stop at \(.n)\n" | halt_error(7) else .n end' "$T/many.jsonl"
  expect_eq "halt_error, $threads threads: lines before it" "$(wc -l < "$T/out") $(tail -n 1 "$T/out")" "149999 149999"
  expect_eq "halt_error's message" "$(cat "$T/err")" "stop at 150000"
done
printf '%s\n' '{"a":1}' '{"a":2}' '{"a":3}' > "$T/three.jsonl"
run 5 kjq -q 'if .a == 2 then halt_error else . end' "$T/three.jsonl"
expect_eq "halt_error on an object" "$(cat "$T/out")|$(cat "$T/err")" '{"a":1}|{"a":2}'
run 0 kjq -q 'if .a == 2 then halt else . end' "$T/three.jsonl"
expect_eq "halt" "$(cat "$T/out")" '{"a":1}'
run 2 kjq --threads 0 . "$T/three.jsonl"
run 2 kjq --threads -1 . "$T/three.jsonl"
# After a halt nothing runs on a later line with one thread (its stderr
# would show it); with four, a thread that began a later line before the
# halt was known writes none of its outputs.
run 0 kjq -q --threads 1 'if .n == 1 then halt else (stderr | empty) end' "$T/many.jsonl"
expect_empty "$T/err"
run 0 kjq -q --threads 4 'if .n == 1 then halt else . end' "$T/many.jsonl"
expect_empty "$T/out"

# A program error without --dead-letter: everything before it is written,
# then status 65 naming the line.
run 65 kjq -q '.amount + 1' "$T/in.jsonl"
expect_eq "lines before the error" "$(wc -l < "$T/out")" 3
expect_grep "$T/err" "^kjq: error: $T/in.jsonl:4: jq: error: .*cannot be added"
# Invalid JSON is bad input too; a program that does not compile is usage.
printf '%s\n' '{"a":1}' '{"a":' > "$T/badjson.jsonl"
run 65 kjq -q . "$T/badjson.jsonl"
expect_grep "$T/err" "badjson.jsonl:2: invalid JSON"
# A number past the largest double is written as jq reads it, not kept.
echo '{"v":1e400}' > "$T/huge.jsonl"
run 0 kjq -q 'select(true)' "$T/huge.jsonl"
expect_eq "1e400" "$(cat "$T/out")" '{"v":1.7976931348623157e+308}'
# (jq's own parser, which reads the numbers simdjson cannot, takes a NUL
# byte for the end of a number.)
printf '{"ts":4900\0,"k":"k1"}\n' > "$T/nul.jsonl"
run 65 kjq -q . "$T/nul.jsonl"
expect_grep "$T/err" "nul.jsonl:1: invalid JSON"
run 2 kjq 'foo(' "$T/in.jsonl"
expect_grep "$T/err" "cannot compile the jq program"
run 2 kjq 'ascii' "$T/in.jsonl"
expect_eq "a compile error on one line" "$(head -n 1 "$T/err")" \
  "kjq: error: cannot compile the jq program: ascii/0 is not defined at <top-level>, line 1: ascii"
run 2 kjq --argjson n '{' . "$T/in.jsonl"
# debug writes to standard error as jq -c does; a name given twice keeps
# its first value, as with jq.
echo '{"a":"é"}' > "$T/one.jsonl"
run 0 kjq -q --threads 1 'debug | .a' "$T/one.jsonl"
expect_eq "debug" "$(cat "$T/err")" '["DEBUG:",{"a":"é"}]'
run 0 kjq -q --arg x 1 --arg x 2 '[$x, $ARGS.named.x]' "$T/one.jsonl"
expect_eq "--arg twice" "$(cat "$T/out")" '["1","1"]'
run 0 kjq -q --argjson x 1 --arg x 2 '$x' "$T/one.jsonl"
expect_eq "--argjson, then --arg" "$(cat "$T/out")" '1'

# Envelopes: the program sees the value; key, headers, partition, offset and
# timestamp stay byte for byte; several outputs give several envelopes; a
# string value keeps its encoding; a binary one is bad input.
cat > "$T/env.jsonl" <<'EOF'
{"@kpipe":"partitions","names":["t/0","t/1"],"watermarks":true}
{"topic":"t","partition":0,"offset":7,"timestamp":1000,"timestamp_type":"create","key":{"id":1.0},"headers":[["h","v"]],"value":{"amount":150,"user":"a"}}
{"topic":"t","partition":1,"offset":3,"timestamp":1001,"timestamp_type":"create","key":null,"headers":[],"value":{"amount":50,"user":"b"}}
{"topic":"t","partition":1,"offset":4,"timestamp":1002,"timestamp_type":"create","key":"k","headers":[],"value":"hello","value_encoding":"string"}
EOF
run 0 kjq -q 'if type == "object" then select(.amount > 100) | .amount *= 2 else ascii_upcase end' "$T/env.jsonl"
expect_eq "envelopes" "$(cat "$T/out")" '{"@kpipe":"partitions","names":["t/0","t/1"],"watermarks":true}
{"topic":"t","partition":0,"offset":7,"timestamp":1000,"timestamp_type":"create","key":{"id":1.0},"headers":[["h","v"]],"value":{"amount":300,"user":"a"}}
{"topic":"t","partition":1,"offset":4,"timestamp":1002,"timestamp_type":"create","key":"k","headers":[],"value":"HELLO","value_encoding":"string"}'
run 0 kjq -q '.user?, .amount?' "$T/env.jsonl"
expect_eq "two outputs, two envelopes" "$(grep -c '"partition":0' "$T/out")" 2
run 0 kjq -q --envelope-program '.partition' "$T/env.jsonl"
expect_eq "--envelope-program" "$(tail -n 3 "$T/out" | tr '\n' ' ')" "0 1 1 "
# A null output is the four bytes null, not a tombstone ("value":null,
# which deletes the key from a compacted topic); a tombstone returned
# unchanged stays one, and --envelope-program can make one.
printf '%s\n' '{"topic":"t","partition":0,"offset":1,"key":"k","value":{"a":1}}' '{"topic":"t","partition":0,"offset":2,"key":"k","value":null}' > "$T/tomb.jsonl"
run 0 kjq -q '.b?' "$T/tomb.jsonl"
expect_eq "null output" "$(cat "$T/out")" '{"topic":"t","partition":0,"offset":1,"key":"k","value":"null","value_encoding":"string"}
{"topic":"t","partition":0,"offset":2,"key":"k","value":null}'
run 0 kjq -q --envelope-program '.value = null' "$T/tomb.jsonl"
expect_eq "a tombstone made on purpose" "$(head -n 1 "$T/out")" '{"topic":"t","partition":0,"offset":1,"key":"k","value":null}'
printf '%s\n' '{"topic":"t","partition":0,"offset":1,"timestamp":1,"key":null,"headers":[],"value":"AAE=","value_encoding":"base64"}' > "$T/bin.jsonl"
run 65 kjq -q . "$T/bin.jsonl"
expect_grep "$T/err" "value_encoding base64"

# A program that only reorders members changes the record: jq's == ignores
# the order, what is written does not.
printf '%s\n' '{"b":1,"a":{"y":1,"x":2}}' > "$T/order.jsonl"
run 0 kjq -q '{a,b}' "$T/order.jsonl"
expect_eq "members reordered" "$(cat "$T/out")" '{"a":{"y":1,"x":2},"b":1}'
run 0 kjq -q '.a |= {x,y}' "$T/order.jsonl"
expect_eq "members reordered inside" "$(cat "$T/out")" '{"b":1,"a":{"x":2,"y":1}}'
run 0 kjq -q '' "$T/order.jsonl"
expect_eq "an empty program is jq's identity" "$(cat "$T/out")" '{"b":1,"a":{"y":1,"x":2}}'

# Control records pass through whatever their numbers; --validate checks
# an envelope's value alone, not the numbers of its key or headers.
printf '%s\n' '{"@kpipe":"watermark","ts":1,"x":100000000000000000000}' '{"@kpipe":"watermark","ts":2,"x":1e400}' \
  '{"topic":"t","partition":0,"offset":7,"timestamp":5,"timestamp_type":"create","key":123456789012345678901234,"headers":[["h",1e400]],"value":{"a":1}}' \
  > "$T/bignum.jsonl"
echo '{"type":"object"}' > "$T/object.json"
run 0 kjq --validate "$T/object.json" '.a += 1' "$T/bignum.jsonl"
expect_eq "control records and an envelope with a big key" "$(cat "$T/out")" '{"@kpipe":"watermark","ts":1,"x":100000000000000000000}
{"@kpipe":"watermark","ts":2,"x":1e400}
{"topic":"t","partition":0,"offset":7,"timestamp":5,"timestamp_type":"create","key":123456789012345678901234,"headers":[["h",1e400]],"value":{"a":2}}'
expect_grep "$T/err" "1 record in, 1 out, 2 control passed, 0 dead-lettered"
# The envelope's value is its first "value" member, its name read unescaped,
# on both paths (with and without a number beyond 64 bits elsewhere).
printf '%s\n' '{"topic":"t","partition":0,"offset":1,"key":1e400,"value":{"a":1},"value":[1]}' \
  '{"topic":"t","partition":0,"offset":2,"key":1e400,"val\u0075e":{"a":2}}' \
  '{"topic":"t","partition":0,"offset":3,"key":1,"val\u0075e":{"a":3}}' > "$T/valuekey.jsonl"
run 0 kjq --validate "$T/object.json" '.a' "$T/valuekey.jsonl"
expect_eq "the value member found by its name" "$(cat "$T/out")" '{"topic":"t","partition":0,"offset":1,"key":1e400,"value":1,"value":1}
{"topic":"t","partition":0,"offset":2,"key":1e400,"val\u0075e":2}
{"topic":"t","partition":0,"offset":3,"key":1,"val\u0075e":3}'
printf '%s\n' '{"topic":"t","partition":0,"offset":7,"key":1,"value":{"a":123456789012345678901234}}' > "$T/bigvalue.jsonl"
run 65 kjq --validate "$T/object.json" . "$T/bigvalue.jsonl"
expect_grep "$T/err" "a number beyond 64 bits cannot be checked"

# Between two kpipe tools the watermarks survive: kwindow downstream of
# kjq closes windows on the watermark records, with none late.
"$PY" -c 'import json
print(json.dumps({"@kpipe": "partitions", "names": [], "watermarks": True}))
for i in range(2000):
    print(json.dumps({"ts": i * 100 - (i % 7) * 150, "amount": i % 200}))
    if i % 100 == 99: print(json.dumps({"@kpipe": "watermark", "ts": i * 100 - 1000}))' > "$T/wm.jsonl"
sh_run 0 "kjq -q 'select(.amount > 100)' $T/wm.jsonl | kwindow --tumble 10s --time ts -a count"
expect_grep "$T/err" " 0 late,"
expect_eq "windows" "$(grep -vc "@kpipe" "$T/out")" 20
echo ok
