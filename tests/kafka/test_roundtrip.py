#!/usr/bin/env python3
"""`kconsume --envelope -e T1 | kproduce --envelope -t T2` copies a topic
losslessly: every key, value and header byte, null vs empty, header order and
duplicates, timestamps and partitions (DESIGN.md §2, §4, §5).

T1 is filled by an independent client (confluent_kafka) and T2 is read back
by it, so kpipe is checked against Kafka itself, not against its own encoder.
Also checks the value lines of `kconsume -e T` (no envelope).
"""
import base64
import json
import os
import shlex
import sys

from confluent_kafka import Producer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import (BROKERS, RUN_ID, check, create_topics, fail, finish, make_tmp, need,
                       read_records, sh)

TMP = make_tmp("roundtrip")


def produce(topic, msgs):
    """msgs: dicts with partition, key, value, headers, timestamp (optional)."""
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True, "linger.ms": 5})
    errors = []

    def cb(err, _msg):
        if err:
            errors.append(err)

    for m in msgs:
        kw = {}
        if m.get("headers") is not None:
            kw["headers"] = m["headers"]
        if m.get("timestamp"):
            kw["timestamp"] = m["timestamp"]
        p.produce(topic, key=m["key"], value=m["value"], partition=m["partition"],
                  on_delivery=cb, **kw)
    left = p.flush(30)
    need(left == 0 and not errors, f"independent producer failed: {left} left, {errors}")


def read_all(topic, partitions):
    """Every message of topic, as {partition: [record...]}, with confluent_kafka."""
    return read_records(topic, partitions, group="rt-reader",
                        config={"isolation.level": "read_committed", "enable.partition.eof": True})


def show(r):
    return {k: v for k, v in r.items() if k != "offset"}


# ---------------------------------------------------------------------------
# 1. The lossless copy.
src = f"kpipe-rt-{RUN_ID}-src"
dst = f"kpipe-rt-{RUN_ID}-dst"
vals = f"kpipe-rt-{RUN_ID}-values"
# retention.ms=-1: old explicit timestamps must not be deleted by retention.
create_topics([(src, 3), (dst, 3), (vals, 2)], config={"retention.ms": "-1"})

TS = 1700000000000  # 2023-11-14T22:13:20Z, CreateTime set by the producer
cases = [
    # (label, key, value, headers)
    ("tombstone", None, None, None),
    ("empty key and value", b"", b"", None),
    ("null key, empty value", None, b"", None),
    ("empty key, null value", b"", None, None),
    ("binary", b"\xff\xfe\x00bin\x80", b"\x00\x01\x80\xff\xc3\x28", [("bin", b"\xc3\x28\xff")]),
    ("json object", b'{"id":1}', b'{"a":1,"b":[1,2,{"c":"d"}],"e":null}', None),
    ("json object with spaces", b'{"id": 2}', b'{"a": 1, "b": [1, 2]}', None),
    ("json number", b"7", b"42", None),
    ("json float", b"-0.5e3", b"1.50", None),
    ("json string", b'"k"', b'"x"', None),
    ("json bools", b"true", b"false", None),
    ("json with newline", b"k-nl", b'{"a":\n1}', None),
    ("json with crlf", b"k-crlf", b'{"a":1}\r\n', None),
    ("json leading space", b" 1", b" 1", None),
    ("json trailing space", b"1 ", b"1 ", None),
    ("json escaped newline", b'"a\\nb"', b'"line\\nbreak \\u2028"', None),
    ("two json values", b"k2", b'{"a":1}{"b":2}', None),
    ("utf-8 text, not json", "ключ".encode(), "héllo wörld — not JSON ✓".encode(), None),
    ("utf-8 with BOM", b"bom", b'\xef\xbb\xbf{"a":1}', None),
    ("control chars", b"ctl", b'a\x00b\tc\x1bd"e\\f', None),
    ("invalid utf-8 (overlong)", b"\xc0\xaf", b"\xc0\xaf", None),
    ("invalid utf-8 (surrogate)", b"\xed\xa0\x80", b"\xed\xa0\x80", None),
    ("invalid utf-8 (truncated)", b"\xe2\x82", b"abc\xe2\x82", None),
    ("duplicate headers in order", b"dup", b'{"d":1}',
     [("h1", b"first"), ("h1", b"second"), ("h2", b'{"j":1}'), ("h1", b"third")]),
    ("header values: none, empty, json, text, binary", b"hv", b"1",
     [("hn", None), ("he", b""), ("hj", b"[1,2]"), ("ht", "tëxt".encode()), ("hb", b"\xff")]),
    ("header json with newline", b"hnl", b"2", [("h", b'{"a":\n1}'), ("h", b" 3")]),
    ("unicode header name", b"hname", b"3", [("ä h", b"v")]),
    ("large json", b"big", json.dumps({"xs": list(range(40000))}, separators=(",", ":")).encode(),
     None),
    ("large binary", b"bigbin", bytes(range(256)) * 800, None),
    # The bytes `null` are not a Kafka null: they must survive as 4 bytes.
    ("value is the bytes null", b"k-null", b"null", None),
    ("key is the bytes null", b"null", b'{"v":1}', None),
    ("header value is the bytes null", b"h-null", b"4", [("h", b"null")]),
]
msgs = []
for i, (label, key, value, headers) in enumerate(cases):
    msgs.append({"label": label, "partition": i % 3, "key": key, "value": value,
                 "headers": headers, "timestamp": TS + i * 1000})
# Old and odd timestamps; plenty of messages on every partition.
for p in range(3):
    msgs.append({"label": f"old ts p{p}", "partition": p, "key": b"old", "value": b'"old"',
                 "headers": None, "timestamp": 1 + p})
    for j in range(20):
        msgs.append({"label": f"filler p{p} #{j}", "partition": p, "key": f"k{j}".encode(),
                     "value": json.dumps({"p": p, "j": j}).encode(), "headers": [("n", b"%d" % j)],
                     "timestamp": TS + 10_000_000 + j})
produce(src, msgs)

source = read_all(src, 3)
# Sanity: what the independent client reads back is what it produced (so a
# mismatch below is kpipe's doing), and every partition holds messages.
for p in range(3):
    want = [m for m in msgs if m["partition"] == p]
    need(len(source[p]) == len(want), f"source partition {p}: {len(source[p])} != {len(want)}")
    for r, m in zip(source[p], want):
        need((r["key"], r["value"], r["headers"], r["timestamp"]) ==
              (m["key"], m["value"], list(m["headers"] or []), (1, m["timestamp"])),
              f"source topic does not hold what was produced: {show(r)} vs {m}")

env_file = os.path.join(TMP, "envelope.jsonl")
cmd = (f"kconsume -q --envelope -e {shlex.quote(src)} | tee {shlex.quote(env_file)} | "
       f"kproduce -q --envelope -t {shlex.quote(dst)}")
_, err = sh(f"timeout 60 {cmd}")
check(err == "", f"stderr not empty for: {cmd}\n{err}")

# The envelope itself: valid UTF-8 JSON lines, one per message, the contract's forms.
raw_lines = open(env_file, "rb").read().split(b"\n")
check(raw_lines[-1] == b"", "envelope output does not end with a newline")
raw_lines = raw_lines[:-1]
# The partitions records (kpipe(7), CONTROL RECORDS) that kproduce passes by:
# one announcing every partition before its records, one "ended" each.
control = [l for l in raw_lines if l.startswith(b'{"@kpipe":')]
raw_lines = [l for l in raw_lines if not l.startswith(b'{"@kpipe":')]
announced = [n for l in control for n in json.loads(l).get("names", [])]
ended = [n for l in control for n in json.loads(l).get("ended", [])]
check(control and json.loads(control[0]).get("names") and sorted(announced) == sorted(ended),
      f"partitions records: {control}")
need(len(raw_lines) == len(msgs), f"{len(raw_lines)} envelope lines, want {len(msgs)}: {cmd}")
envs = []
for line in raw_lines:
    try:
        envs.append(json.loads(line.decode("utf-8")))
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"envelope line is not valid UTF-8 JSON ({e}): {line[:300]!r}")
by_pos = {(e["partition"], e["offset"]): e for e in envs}
for p in range(3):
    for r in source[p]:
        e = by_pos.get((p, r["offset"]))
        need(e is not None, f"no envelope line for {src}:{p}@{r['offset']}")
        check(e["topic"] == src, f"envelope topic {e['topic']!r}, want {src!r}")
        check(e["timestamp"] == r["timestamp"][1] and e["timestamp_type"] == "create",
              f"envelope timestamp {e['timestamp']}/{e['timestamp_type']} for {show(r)}")
        for field in ("key", "value"):
            raw = r[field]
            enc = e.get(field + "_encoding")
            if raw is None:
                check(e[field] is None and enc is None, f"null {field} not written as null: {e}")
            elif enc == "base64":
                check(base64.b64decode(e[field]) == raw, f"bad base64 {field}: {e}")
            elif enc == "string":
                check(e[field].encode("utf-8") == raw, f"bad string {field}: {e}")
            else:
                check(enc is None, f"unknown {field}_encoding {enc!r}")
                # Embedded JSON: exactly the message bytes appear in the line.
                check(b"\n" not in raw and b"\r" not in raw, f"{field} with a line break embedded: {e}")
                check(json.loads(raw) == e[field], f"embedded {field} differs: {e}")
spot = {m["label"]: m for m in msgs}


def env_for(label):
    m = spot[label]
    p = m["partition"]
    idx = [x for x in msgs if x["partition"] == p].index(m)
    return by_pos[(p, source[p][idx]["offset"])]


e = env_for("tombstone")
check(e["key"] is None and e["value"] is None and "value_encoding" not in e and e["headers"] == [],
      f"tombstone envelope: {e}")
e = env_for("empty key and value")
check(e["key"] == "" and e["key_encoding"] == "string" and e["value"] == "" and
      e["value_encoding"] == "string", f"empty key/value envelope: {e}")
e = env_for("binary")
check(e["value_encoding"] == "base64" and e["key_encoding"] == "base64" and
      e["headers"] == [["bin", base64.b64encode(b"\xc3\x28\xff").decode(), "base64"]],
      f"binary envelope: {e}")
e = env_for("json object")
check(e["value"] == {"a": 1, "b": [1, 2, {"c": "d"}], "e": None} and "value_encoding" not in e
      and e["key"] == {"id": 1} and "key_encoding" not in e, f"json envelope: {e}")
e = env_for("json string")
check(e["value"] == "x" and "value_encoding" not in e, f"json string envelope: {e}")
e = env_for("json with newline")
check(e["value"] == '{"a":\n1}' and e["value_encoding"] == "string", f"multi-line json envelope: {e}")
e = env_for("json leading space")
check(e["value"] == " 1" and e["value_encoding"] == "string", f"leading-space json envelope: {e}")
e = env_for("utf-8 text, not json")
check(e["value_encoding"] == "string" and e["key"] == "ключ", f"text envelope: {e}")
e = env_for("duplicate headers in order")
check([h[:2] for h in e["headers"]] == [["h1", "first"], ["h1", "second"], ["h2", {"j": 1}],
                                         ["h1", "third"]], f"duplicate headers envelope: {e}")
e = env_for("header values: none, empty, json, text, binary")
check(e["headers"] == [["hn", None], ["he", "", "string"], ["hj", [1, 2]], ["ht", "tëxt", "string"],
                       ["hb", "/w==", "base64"]], f"header values envelope: {e}")

# The copy, per partition and in order, byte for byte.
copy = read_all(dst, 3)
for p in range(3):
    a, b = source[p], copy[p]
    check(len(a) == len(b), f"partition {p}: {len(b)} messages in {dst}, {len(a)} in {src} ({cmd})")
    for x, y in zip(a, b):
        for field in ("partition", "key", "value", "headers", "timestamp"):
            if x[field] != y[field]:
                label = [m for m in msgs if m["partition"] == p][a.index(x)]["label"]
                check(False, f"copy differs in {field} for '{label}' ({src}:{p}@{x['offset']}):\n"
                     f"  source: {x[field]!r:.300}\n  copy:   {y[field]!r:.300}\n  via: {cmd}")

# ---------------------------------------------------------------------------
# 2. Value lines without --envelope (partition 0: objects only; 1: mixed).
objects = [b'{"field":"a","n":1}', b'{"field":{"x":[1,2]}}', b'{"n":3}', b'{\n  "field": [1,\n 2]\n}']
mixed = [
    (b'{"a":1,"b":"c"}', "same", b'{"a":1,"b":"c"}'),
    (b'"x"', "same", b'"x"'),
    (b"42", "same", b"42"),
    (b"-1.5e3", "same", b"-1.5e3"),
    (b"[1,2,3]", "same", b"[1,2,3]"),
    (b"true", "same", b"true"),
    (b'{"a": 1, "b": [1, 2]}', "parse", {"a": 1, "b": [1, 2]}),
    (b'{"a":\n1}', "same", b'{"a":1}'),
    (b'{\r\n  "a" : [ 1 ,\r\n 2 ],\n  "s": "x  y"\n}\n', "same", b'{"a":[1,2],"s":"x  y"}'),
    (b"[\n]", "same", b"[]"),
    (b" 1", "parse", 1),
    ("héllo, not JSON".encode(), "parse", "héllo, not JSON"),
    (b'{"a":1', "parse", '{"a":1'),
    (b"", "parse", ""),
    (None, "same", b"null"),
    (b"\x00\x01\xff\xfe", "parse", base64.b64encode(b"\x00\x01\xff\xfe").decode()),
    (b"\xc0\xaf", "parse", base64.b64encode(b"\xc0\xaf").decode()),
]
vmsgs = [{"partition": 0, "key": None, "value": v, "headers": None} for v in objects]
vmsgs += [{"partition": 1, "key": None, "value": v, "headers": None} for v, _, _ in mixed]
produce(vals, vmsgs)

cmd = f"kconsume -q -e {vals}:1"
out, err = sh(cmd)
check(err == "", f"stderr not empty for: {cmd}\n{err}")
lines = out.split(b"\n")
need(lines[-1] == b"" and len(lines) - 1 == len(mixed),
      f"{len(lines) - 1} lines, want {len(mixed)}: {cmd}\n{out[:2000]!r}")
for line, (value, how, want) in zip(lines, mixed):
    if how == "same":
        check(line == want, f"value {value!r:.80} printed as {line!r:.200}, want {want!r}: {cmd}")
    else:
        try:
            got = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            fail(f"value {value!r:.80} printed as {line!r:.200}, not a JSON line ({e}): {cmd}")
        check(got == want, f"value {value!r:.80} printed as {line!r:.200}, want {want!r}: {cmd}")

cmd = f"kconsume -q -e {vals}:0 | jq -c .field"
out, _ = sh(cmd)
check(out == b'"a"\n{"x":[1,2]}\nnull\n[1,2]\n', f"unexpected output {out!r}: {cmd}")
cmd = f"kconsume -q -e {vals} | jq -c . | wc -l"
out, _ = sh(cmd)
check(int(out) == len(objects) + len(mixed), f"jq read {out!r} lines, want {len(objects) + len(mixed)}: {cmd}")

# --transactional-id: a bad line aborts the whole input's transaction, and
# the summary says so beside what was delivered (none of it is readable).
txn = f"kpipe-rt-{RUN_ID}-txn"
create_topics([(txn, 2)])
_, err = sh(f"kproduce -t {txn} --transactional-id rt-{RUN_ID}", want=65, stdin=b'{"a":1}\n{"a":2}\nbad\n')
check("the open transaction (2 messages) was aborted" in err and
      "dead-lettered, 1 transaction aborted (2 messages)" in err, f"the aborted transaction's summary: {err}")
out, _ = sh(f"kconsume -q -e {txn} | wc -l")
check(int(out) == 0, f"a read_committed reader saw {out!r} messages of an aborted transaction")

# -f as kcat's: a null key is nothing (%k) and -1 (%K), a null header value
# NULL beside an empty one.
fmt_topic = f"kpipe-rt-{RUN_ID}-fmt"
create_topics([(fmt_topic, 1)])
p = Producer({"bootstrap.servers": BROKERS})
p.produce(fmt_topic, value=b"vv", headers=[("n", None), ("e", b""), ("v", b"x")])
need(p.flush(30) == 0, "produce the -f message")
out, _ = sh(f"kconsume -q -e -f '%t:%p:%o [%k] %K %S %s %h\\n' {fmt_topic}")
check(out == f"{fmt_topic}:0:0 [] -1 2 vv n=NULL,e=,v=x\n".encode(), f"kconsume -f: {out!r}")
# kcat's length-prefixed framing: %R, and \xHH.
out, _ = sh(f"kconsume -q -e -f '\\x3e%R%s' {fmt_topic}")
check(out == b">\x00\x00\x00\x02vv", f"kconsume -f with %R and \\xHH: {out!r}")

# A header name that is not UTF-8 (Kafka's names are strings) has no place in
# an envelope: named, not written as bytes that are no JSON.
bad_name = f"kpipe-rt-{RUN_ID}-hname"
create_topics([(bad_name, 1)])
sh(f"printf 1 | kcat -P -b {BROKERS} -t {bad_name} -H $'\\xff=1'")  # (clients in Python take names as str)
_, err = sh(f"kconsume -q -e --envelope {bad_name}", want=65)
check(f"kafka:{bad_name}/0:0: header 1 has a name that is not UTF-8" in err, f"a header name that is not UTF-8: {err}")
_, err = sh(f"kconsume -q -e {bad_name}:", want=2)
check("expected TOPIC:PARTITION" in err, f"TOPIC: with no partition: {err}")

finish()
