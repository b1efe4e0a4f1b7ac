#!/usr/bin/env python3
"""kproduce's default partitioner is Java-compatible murmur2_random: a keyed
message lands where Kafka's Java client puts it (DESIGN.md §4). Also -p N,
repeated -H (ordered duplicates) and --timestamp PATH (epoch ms, RFC 3339).

The expected partition is computed by a Python port of Java's
org.apache.kafka.common.utils.Utils.murmur2 + toPositive(h) % numPartitions,
checked against the test vectors of Kafka's own UtilsTest.
"""
import json
import os
import shlex
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import RUN_ID, check, create_topic, fail, finish, make_tmp, read_records, sh

TMP = make_tmp("partitioner")


# --- Java's Utils.murmur2, with 32-bit two's-complement arithmetic ----------
def _i32(x):
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def murmur2(data: bytes) -> int:
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r  # >>> on a 32-bit value
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rem = length % 4
    base = length & ~3
    if rem == 3:
        h ^= data[base + 2] << 16
    if rem >= 2:
        h ^= data[base + 1] << 8
    if rem >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return _i32(h)


def java_partition(key: bytes, n: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % n


# Test vectors from Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java.
for s, want in [("21", -973932308), ("foobar", -790332482),
                ("a-little-bit-long-string", -985981536),
                ("a-little-bit-longer-string", -1486304829),
                ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
                ("abc", 479470107)]:
    if murmur2(s.encode()) != want:
        fail(f"the test's murmur2 port is wrong for {s!r}: {murmur2(s.encode())} != {want}")


def read_all(topic):
    """Every message of topic via confluent_kafka: list of dicts (partition order, offset order)."""
    out = [r for recs in read_records(topic, group="pt-reader").values() for r in recs]
    return sorted(out, key=lambda r: (r["partition"], r["offset"]))


# ---------------------------------------------------------------------------
# 1. Keyed messages land on the Java client's partition.
NP = 7
topic = f"kpipe-part-{RUN_ID}"
create_topic(topic, NP)
rows, want = [], {}
for i in range(200):
    if i % 4 == 0:
        kid = i  # a number: the key is its JSON text
        kbytes = str(i).encode()
    elif i % 4 == 1:
        kid = f"user-{i}"  # a string: the key is the string, unquoted
        kbytes = kid.encode()
    elif i % 4 == 2:
        kid = f"ключ-{i}-ü"  # non-ASCII: UTF-8 bytes
        kbytes = kid.encode()
    else:
        kid = "x" * (i % 11) + str(i)  # lengths with every remainder mod 4
        kbytes = kid.encode()
    rows.append(json.dumps({"id": kid, "seq": i}, ensure_ascii=False))
    want[i] = (kbytes, java_partition(kbytes, NP))
used = {p for _, p in want.values()}
if len(used) != NP:
    fail(f"test data reaches only partitions {sorted(used)} of {NP}")
infile = os.path.join(TMP, "keyed.jsonl")
with open(infile, "w", encoding="utf-8") as f:
    f.write("\n".join(rows) + "\n")

cmd = f"kproduce -q -t {topic} -k id {shlex.quote(infile)}"
sh(cmd)
ccmd = f"kconsume -q --envelope --no-control -e {topic}"
out = sh(ccmd)[0].decode("utf-8")
envs = [json.loads(line) for line in out.splitlines()]
if len(envs) != 200:
    fail(f"{len(envs)} messages read back, want 200: {cmd}; {ccmd}")
seen = set()
for e in envs:
    i = e["value"]["seq"]
    seen.add(i)
    kbytes, p = want[i]
    key = e["key"]
    got_key = (key if isinstance(key, str) and e.get("key_encoding") == "string"
               else json.dumps(key)).encode()
    check(got_key == kbytes, f"seq {i}: key {key!r} ({e.get('key_encoding')}), want {kbytes!r}: {cmd}")
    check(e["partition"] == p,
          f"key {kbytes!r} landed on partition {e['partition']}, Java murmur2 puts it on {p}: {cmd}")
check(seen == set(range(200)), f"messages missing: {sorted(set(range(200)) - seen)[:10]}")

# Same key twice → same partition; the reference client's view agrees with kconsume's.
ref = read_all(topic)
for r in ref:
    i = json.loads(r["value"])["seq"]
    check(r["key"] == want[i][0] and r["partition"] == want[i][1],
          f"confluent_kafka reads seq {i} with key {r['key']!r} on partition {r['partition']}, "
          f"want {want[i][0]!r} on {want[i][1]}")

# Many keyed lines (several of kproduce's internal produce batches, lines
# without a key field among them): each keyed one on its Java partition, and
# per partition in input order.
bulk = f"kpipe-part-{RUN_ID}-bulk"
create_topic(bulk, NP)
N = 10000
bulkfile = os.path.join(TMP, "bulk.jsonl")
with open(bulkfile, "w") as f:
    for i in range(N):
        f.write(json.dumps({"seq": i} if i % 97 == 0 else {"id": f"k{i % 1500}", "seq": i}) + "\n")
cmd = f"kproduce -q -t {bulk} -k id {shlex.quote(bulkfile)}"
sh(cmd)
last = {}
count = 0
for r in read_all(bulk):
    count += 1
    i = json.loads(r["value"])["seq"]
    if i % 97 == 0:
        check(r["key"] is None, f"seq {i} has no id field but got key {r['key']!r}: {cmd}")
    else:
        k = f"k{i % 1500}".encode()
        check(r["key"] == k and r["partition"] == java_partition(k, NP),
              f"seq {i}: key {r['key']!r} on partition {r['partition']}, want {k!r} on "
              f"{java_partition(k, NP)}: {cmd}")
    check(i > last.get(r["partition"], -1), f"partition {r['partition']}: seq {i} after "
          f"{last.get(r['partition'])}: {cmd}")
    last[r["partition"]] = i
check(count == N, f"{count} messages read back, want {N}: {cmd}")

# ---------------------------------------------------------------------------
# 2. -p 3 sends everything to partition 3 (keys included) with ordered headers.
topic2 = f"kpipe-part-{RUN_ID}-p3"
create_topic(topic2, NP)
lines = "".join(json.dumps({"id": f"user-{i}", "seq": i}) + "\n" for i in range(30))
not3 = [i for i in range(30) if java_partition(f"user-{i}".encode(), NP) != 3]
if not not3:
    fail("test data: every key hashes to partition 3 anyway")
cmd = f"kproduce -q -t {topic2} -k id -p 3 -H a=b -H a=c -H x=y=z -H e= -H a=d"
sh(cmd, stdin=lines.encode())
ref = read_all(topic2)
check(len(ref) == 30, f"{len(ref)} messages, want 30: {cmd}")
check([json.loads(r["value"])["seq"] for r in ref] == list(range(30)),
      f"-p 3 messages out of order or missing: {cmd}")
for r in ref:
    check(r["partition"] == 3, f"-p 3 message on partition {r['partition']}: {cmd}")
    check(r["headers"] == [("a", b"b"), ("a", b"c"), ("x", b"y=z"), ("e", b""), ("a", b"d")],
          f"headers {r['headers']} for: {cmd}")
check(ref and ref[0]["key"] == b"user-0", f"-p 3 with -k id lost the key: {ref[:1]}")
# -p 3 without headers (kproduce's batch path): the same 30 lines again.
cmd = f"kproduce -q -t {topic2} -k id -p 3"
sh(cmd, stdin=lines.encode())
ref = read_all(topic2)[30:]
check([(r["partition"], r["key"], json.loads(r["value"])["seq"]) for r in ref] ==
      [(3, f"user-{i}".encode(), i) for i in range(30)], f"-p 3 without -H: {cmd}")
# What kconsume shows for them.
out = sh(f"kconsume -q --envelope --no-control -e -c 1 {topic2}")[0].decode()
e = json.loads(out)
check(e["partition"] == 3 and e["headers"] == [["a", "b", "string"], ["a", "c", "string"],
                                               ["x", "y=z", "string"], ["e", "", "string"],
                                               ["a", "d", "string"]],
      f"envelope of a -p 3 -H message: {out}")

# ---------------------------------------------------------------------------
# 3. --timestamp PATH: epoch ms numbers and RFC 3339 strings.
topic3 = f"kpipe-part-{RUN_ID}-ts"
create_topic(topic3, 1, {"retention.ms": "-1"})  # old timestamps must not expire
cases = [
    ({"ts": 1700000000123}, 1700000000123),
    ({"ts": "2023-11-14T22:13:20.456Z"}, 1700000000456),
    ({"ts": "2023-11-15T00:13:20.789+02:00"}, 1700000000789),
    ({"ts": "2023-11-14T17:13:20-05:00"}, 1700000000000),
    ({"ts": "2024-02-29T12:00:00Z"}, 1709208000000),
    ({"ts": 1}, 1),
    ({"ts": 1577836800000.0}, 1577836800000),
    ({"nested": {"ts": 1}, "ts": "1999-12-31T23:59:59.999Z"}, 946684799999),
]
lines = "".join(json.dumps(c) + "\n" for c, _ in cases)
cmd = f"kproduce -q -t {topic3} --timestamp ts"
sh(cmd, stdin=lines.encode())
ref = read_all(topic3)
check(len(ref) == len(cases), f"{len(ref)} messages, want {len(cases)}: {cmd}")
for r, (value, ts) in zip(ref, cases):
    check(json.loads(r["value"]) == value, f"value {r['value']!r}, want {value}")
    check(r["timestamp"] == (1, ts),
          f"{value}: timestamp {r['timestamp']}, want (CreateTime=1, {ts}): {cmd}")
# --timestamp with a nested path.
sh(f"kproduce -q -t {topic3} --timestamp nested.ts", stdin=b'{"nested":{"ts":"2001-09-09T01:46:40Z"}}\n')
ref = read_all(topic3)
check(ref[-1]["timestamp"] == (1, 1000000000000),
      f"--timestamp nested.ts: timestamp {ref[-1]['timestamp']}, want (1, 1000000000000)")
# A line without the field is bad input: exit 65, nothing produced for it.
sh(f"kproduce -q -t {topic3} --timestamp ts", want=65, stdin=b'{"nots":1}\n')

finish()
