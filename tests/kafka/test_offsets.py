#!/usr/bin/env python3
"""Where kconsume starts and stops (DESIGN.md §5): -o beginning|end|N|-N|@TIME
(RFC 3339, epoch ms, relative), --from/--until, -c, -e on transactional topics
(committed, aborted and open transactions: offset gaps) and on a compacted
topic, -G with commits checked through --lag, -L, and an unknown topic;
and --from/--until of a kafka: input of kagg (the same start and end lookups
in the library's Kafka source).

Data is written by an independent client (confluent_kafka) with known
timestamps; kconsume's output is compared against exact expected sequences.
"""
import datetime
import json
import shlex
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import BROKERS, RUN_ID, admin, check, create_topics, fail, finish, make_tmp

TMP = make_tmp("offsets")
T0 = time.time()


def run(args, want=0, timeout=30, stdin=None):
    """Runs a command (list) under `timeout`; returns (stdout text, stderr text, status).
    A status other than `want` is a failed check (reported, not fatal)."""
    cmd = ["timeout", str(timeout)] + args
    text = shlex.join(args)
    p = subprocess.run(cmd, capture_output=True, input=stdin)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    if want is not None and p.returncode != want:
        why = "timed out (did not terminate)" if p.returncode == 124 else f"exit {p.returncode}"
        sys.stderr.write(f"--- stdout\n{out[:2000]}\n--- stderr\n{err[:2000]}\n")
        check(False, f"{why}, want {want}: {text}")
    return out, err, p.returncode


def sh(cmd, want=0, timeout=30):
    """A bash pipeline with pipefail; returns (stdout, stderr, status)."""
    return run(["bash", "-o", "pipefail", "-c", cmd], want=want, timeout=timeout)


def values(args, **kw):
    """kconsume -q ARGS → list of parsed JSON values, one per line."""
    out, _, _ = run(["kconsume", "-q"] + args, **kw)
    got = []
    for line in out.splitlines():
        try:
            got.append(json.loads(line))
        except ValueError:
            check(False, f"not a JSON line {line!r}: kconsume -q {shlex.join(args)}")
    return got


def by_partition(vals, key="p"):
    """{partition: [i, ...]} in output order; values are {"p":P,"i":I}."""
    out = {}
    for v in vals:
        out.setdefault(v[key], []).append(v["i"])
    return out


def check_seq(what, vals, expected):
    """vals ({"p":P,"i":I} in the order read) hold, per partition and in
    order, exactly `expected` ({partition: [i...]}, partitions with nothing
    left out)."""
    got = by_partition(vals)
    want = {p: v for p, v in expected.items() if v}
    check(got == want, f"{what}:\n  got  {got}\n  want {want}")


def expect_seq(args, expected, **kw):
    """kconsume -q ARGS prints exactly `expected` (check_seq)."""
    check_seq(f"kconsume -q {shlex.join(args)}", values(args, **kw), expected)


def reference_read(topic, partitions, isolation="read_committed"):
    """All messages of topic through confluent_kafka: {partition: [(offset, value)]}."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"off-ref-{RUN_ID}",
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = {p: [] for p in range(partitions)}
    eof = set()
    deadline = time.time() + 20
    while len(eof) < partitions and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            fail(f"reference read of {topic}: {m.error()}")
        eof.discard(m.partition())
        out[m.partition()].append((m.offset(), m.value()))
    c.close()
    if len(eof) < partitions:
        fail(f"reference read of {topic} did not reach the end")
    return out


def rfc3339(ms, tz_minutes=0):
    tz = datetime.timezone(datetime.timedelta(minutes=tz_minutes))
    d = datetime.datetime.fromtimestamp(ms / 1000, tz)
    return d.isoformat(timespec="milliseconds")


def step(what):
    print(f"[{time.time() - T0:5.1f}s] {what}", flush=True)


# ---------------------------------------------------------------------------
# Topic A: 3 partitions x 10 messages {"p":P,"i":I}. i=0..4 have old
# timestamps (2020), i=5..9 recent ones (now-50m .. now-10m); partition p
# adds p ms so that a time can sit exactly on one partition's message.
A = f"kpipe-off-{RUN_ID}-a"
TX = f"kpipe-off-{RUN_ID}-txn"
OPEN = f"kpipe-off-{RUN_ID}-open"
CMP = f"kpipe-off-{RUN_ID}-compact"
create_topics([
    (A, 3, {"retention.ms": "-1"}),
    (TX, 2, {}),
    (OPEN, 1, {}),
    (CMP, 1, {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
              "min.compaction.lag.ms": "0", "delete.retention.ms": "100"}),
])
OLD = 1600000000000  # 2020-09-13T12:26:40Z
NOW = int(time.time() * 1000)


def ts(p, i):
    return (OLD + i * 60_000 if i < 5 else NOW - (10 - i) * 600_000) + p


prod = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True})
for p in range(3):
    for i in range(10):
        prod.produce(A, value=json.dumps({"p": p, "i": i}).encode(), key=f"k{i}".encode(),
                     partition=p, timestamp=ts(p, i))
if prod.flush(30):
    fail("independent producer could not deliver topic A")
ALL = {p: list(range(10)) for p in range(3)}


def from_i(n):
    return {p: list(range(n, 10)) for p in range(3)}


step("start/stop offsets")
expect_seq(["-e", A], ALL)
expect_seq(["-e", "-o", "beginning", A], ALL)
out, _, _ = run(["kconsume", "-q", "-e", "-o", "end", A])
check(out == "", f"-o end -e printed {out[:200]!r}")
expect_seq(["-e", "-o", "7", A], from_i(7))
expect_seq(["-e", "-o", "0", A], ALL)
expect_seq(["-e", "-o", "10", A], {})
expect_seq(["-e", "-o", "25", A], {})
expect_seq(["-e", "-o", "-3", A], from_i(7))
expect_seq(["-e", "-o", "-1", A], from_i(9))
expect_seq(["-e", "-o", "-10", A], ALL)
expect_seq(["-e", "-o", "-25", A], ALL)
expect_seq(["-e", "-o", "-3", f"{A}:1"], {1: [7, 8, 9]})
expect_seq(["-e", "-o", "4", f"{A}:0,2"], {0: list(range(4, 10)), 2: list(range(4, 10))})

step("-o @TIME")
# Between i=2 and i=3 of every partition, as RFC 3339 in UTC and with an offset.
mid = OLD + 2 * 60_000 + 30_000
expect_seq(["-e", "-o", "@" + rfc3339(mid), A], from_i(3))
expect_seq(["-e", "-o", "@" + rfc3339(mid, 120), A], from_i(3))
expect_seq(["-e", "-o", "@" + rfc3339(mid, -330), A], from_i(3))
expect_seq(["-e", "-o", "@2020-09-13T12:29:10Z", A], from_i(3))
# Epoch ms exactly on partition 1's i=3 (inclusive), 1 ms after partition 0's.
t = ts(1, 3)
expect_seq(["-e", "-o", f"@{t}", A], {0: list(range(4, 10)), 1: list(range(3, 10)),
                                      2: list(range(3, 10))})
expect_seq(["-e", "-o", f"@{ts(0, 0)}", A], ALL)
expect_seq(["-e", "-o", "@0", A], ALL)
# Relative: old messages are before -1h, the recent ones after it.
expect_seq(["-e", "-o", "@-1h", A], from_i(5))
expect_seq(["-e", "-o", "@-35m", A], from_i(7))
expect_seq(["-e", "-o", "@-1h30m", A], from_i(5))
expect_seq(["-e", "-o", "@-2d", A], from_i(5))
expect_seq(["-e", "-o", "@-5m", A], {})           # nothing at or after now-5m
expect_seq(["-e", "-o", f"@{NOW + 3_600_000}", A], {})
# Without -e, a start after the last message waits for new data (prints nothing).
expect_seq(["-o", "@-5m", "-c", "1", A], {}, want=124, timeout=3)
run(["kconsume", "-q", "-o", "@not-a-time", "-e", A], want=2)

step("--from/--until")
expect_seq(["--from", str(OLD + 2 * 60_000), "--until", str(OLD + 4 * 60_000 + 1), A],
           {0: [2, 3, 4], 1: [2, 3], 2: [2, 3]})
expect_seq(["--from", rfc3339(OLD + 2 * 60_000), "--until", rfc3339(OLD + 4 * 60_000 + 1), A],
           {0: [2, 3, 4], 1: [2, 3], 2: [2, 3]})
expect_seq(["--from", "-1h", "--until", "-35m", A], {p: [5, 6] for p in range(3)})
expect_seq(["--from", str(ts(2, 8)), "--until", "end", A],
           {0: [9], 1: [9], 2: [8, 9]})
expect_seq(["--until", str(ts(0, 1)), A], {0: [0], 1: [0], 2: [0]})
expect_seq(["--until", str(OLD), A], {})
expect_seq(["--from", "-5m", "--until", "end", A], {})
expect_seq(["--until", "end", A], ALL)
run(["kconsume", "-q", "-e", "--until", "end", A], want=2)  # -e is --until end
run(["kconsume", "-q", "-o", "3", "--from", "-1h", "-e", A], want=2)

step("--from/--until of a kafka: input (kagg)")


def expect_kagg_seq(args, expected):
    """kagg kafka:A ARGS --emit changes --by p -a max:i reads, per partition
    and in order, exactly `expected`: i grows along each partition, so the
    running max of each row is the i just read."""
    out, _, _ = run(["kagg", "-q", "--emit", "changes", "--by", "p", "-a", "max:i"] + args + [f"kafka:{A}"])
    rows = [json.loads(line) for line in out.splitlines()]
    check_seq(f"kagg {shlex.join(args)} kafka:{A}", [{"p": r["p"], "i": r["max_i"]} for r in rows], expected)


expect_kagg_seq(["--until", "end"], ALL)
expect_kagg_seq(["--from", str(OLD + 2 * 60_000), "--until", str(OLD + 4 * 60_000 + 1)],
                {0: [2, 3, 4], 1: [2, 3], 2: [2, 3]})
expect_kagg_seq(["--from", "-1h", "--until", "-35m"], {p: [5, 6] for p in range(3)})
# Partitions 0 and 1 have nothing at or after partition 2's i=8 but their i=9.
expect_kagg_seq(["--from", str(ts(2, 8)), "--until", "end"], {0: [9], 1: [9], 2: [8, 9]})
# Nothing at or after the time: each partition starts at its end.
expect_kagg_seq(["--from", "-5m", "--until", "end"], {})

step("-c N")
got = values(["-e", "-c", "4", A])
check(len(got) == 4, f"-c 4 -e printed {len(got)} lines")
got = values(["-c", "4", A])  # live, no -e: -c alone ends it
check(len(got) == 4, f"-c 4 printed {len(got)} lines")
expect_seq(["-c", "4", f"{A}:2"], {2: [0, 1, 2, 3]})
expect_seq(["-c", "3", "-o", "-2", A + ":0"], {0: [8, 9]}, want=124, timeout=5)  # waits for a 3rd
expect_seq(["-e", "-c", "50", A], ALL)

# ---------------------------------------------------------------------------
step("-G, --lag")


def lag(group, *topics):
    out, _, _ = run(["kconsume", "--lag", group] + list(topics))
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        check(r["group"] == group, f"--lag {group}: row of group {r['group']!r}")
        rows[(r["topic"], r["partition"])] = r
    return rows


g1 = f"kpipe-off-{RUN_ID}-g1"
expect_seq(["-G", g1, "-e", A], ALL)
rows = lag(g1)
check(sorted(rows) == [(A, 0), (A, 1), (A, 2)], f"--lag {g1} rows: {sorted(rows)}")
for (_, p), r in sorted(rows.items()):
    check(r["committed"] == 10 and r["end"] == 10 and r["lag"] == 0,
          f"--lag {g1} partition {p}: {r}, want committed 10, end 10, lag 0")
# Resuming the group: nothing left.
expect_seq(["-G", g1, "-e", A], {})
# -o beginning overrides the stored offsets.
expect_seq(["-G", g1, "-e", "-o", "beginning", A], ALL)

# A closed pipe ends a live group consumer quietly.
g2 = f"kpipe-off-{RUN_ID}-g2"
out, err, _ = sh(f"kconsume -G {g2} {A} | head -1", timeout=20)
check(len(out.splitlines()) == 1 and json.loads(out)["i"] == 0, f"kconsume -G {g2} {A} | head -1 printed {out!r}")
check(err == "", f"stderr of kconsume -G {g2} {A} | head -1 is not empty: {err!r}")

# -c 3 commits exactly the 3 lines written, then the group resumes after them.
g3 = f"kpipe-off-{RUN_ID}-g3"
out, _, _ = run(["kconsume", "-q", "--envelope", "--no-control", "-G", g3, "-c", "3", "-e", A])
envs = [json.loads(l) for l in out.splitlines()]
check(len(envs) == 3, f"-G {g3} -c 3 -e printed {len(envs)} lines")
written = {}
for e in envs:
    written[e["partition"]] = max(written.get(e["partition"], -1), e["offset"])
rows = lag(g3, A)
committed = {p: r["committed"] for (_, p), r in rows.items()}
want = {p: (written[p] + 1 if p in written else None) for p in range(3)}
check(committed == want, f"-G {g3} -c 3: committed {committed}, want {want} (written {envs})")
check(sum(c or 0 for c in committed.values()) == 3, f"-G {g3} -c 3 committed {committed}, not 3 messages")
rest = values(["-G", g3, "-e", A])
seen = {(e["partition"], e["value"]["i"]) for e in envs} | {(v["p"], v["i"]) for v in rest}
check(len(rest) == 27 and len(seen) == 30,
      f"after -c 3, the group read {len(rest)} more ({len(seen)} distinct of 30)")
rows = lag(g3)
check(all(r["committed"] == 10 and r["lag"] == 0 for r in rows.values()) and len(rows) == 3,
      f"--lag {g3} after reading everything: {rows}")
# Explicit partitions with a group commit too.
g4 = f"kpipe-off-{RUN_ID}-g4"
expect_seq(["-G", g4, "-c", "3", "-e", f"{A}:1"], {1: [0, 1, 2]})
rows = lag(g4, A)
check({p: r["committed"] for (_, p), r in rows.items()} == {0: None, 1: 3, 2: None},
      f"--lag {g4} {A} after -c 3 on partition 1: {rows}")
check(rows.get((A, 0), {}).get("lag") == 10 and rows.get((A, 1), {}).get("lag") == 7,
      f"--lag {g4} {A}: lag of uncommitted/committed partitions: {rows}")
# Without topics named: every partition of the topics the group committed
# in, those it never committed included (their lag: every message).
rows = lag(g4)
check({p: (r["committed"], r["lag"]) for (_, p), r in rows.items()} == {0: (None, 10), 1: (3, 7), 2: (None, 10)},
      f"--lag {g4} without topics: {rows}")

# ---------------------------------------------------------------------------
step("-L, unknown topic")
out, _, _ = run(["kconsume", "-L", A])
meta = admin.list_topics(A, timeout=10).topics[A]
lrows = [json.loads(l) for l in out.splitlines()]
check([r["partition"] for r in lrows] == [0, 1, 2], f"-L {A}: partitions {lrows}")
for r in lrows:
    pm = meta.partitions[r["partition"]]
    check(r["topic"] == A and r["leader"] == pm.leader and r["low"] == 0 and r["high"] == 10 and
          r["messages"] == 10, f"-L {A}: {r} (leader should be {pm.leader})")
out, _, _ = run(["kconsume", "-L"])
check(sum(1 for l in out.splitlines() if json.loads(l)["topic"] == A) == 3,
      f"-L (all topics) does not list the 3 partitions of {A}")
# Several topics named: all of them, each in order.
out, _, _ = run(["kconsume", "-L", A, TX])
lt = [(json.loads(l)["topic"], json.loads(l)["partition"]) for l in out.splitlines()]
check(sorted(set(t for t, _ in lt)) == sorted([A, TX]) and lt == sorted(lt),
      f"-L {A} {TX}: {lt}")
missing = f"kpipe-off-{RUN_ID}-no-such-topic"
for args in (["-e", missing], [missing], ["-L", missing], ["-e", f"{missing}:0"]):
    out, err, code = run(["kconsume", "-q"] + args, want=None, timeout=30)
    check(code not in (0, 124), f"kconsume -q {shlex.join(args)}: exit {code}, want an error exit")
    check(out == "", f"kconsume -q {shlex.join(args)} printed {out!r}")
    check("kconsume: error:" in err and missing in err,
          f"kconsume -q {shlex.join(args)}: stderr {err!r} does not name the missing topic")
check(missing not in admin.list_topics(timeout=10).topics,
      f"kconsume created the unknown topic {missing}")
out, err, code = run(["kconsume", "-q", "-e", f"{A}:7"], want=None)
check(code not in (0, 124) and "kconsume: error:" in err,
      f"kconsume -q -e {A}:7 (no partition 7): exit {code}, stderr {err!r}")

# ---------------------------------------------------------------------------
step("transactions")
# TX: two partitions; committed and aborted transactions interleave, so the
# offsets have gaps (control records) and the last offset of each partition
# is a transaction marker (an abort on partition 0, a commit on partition 1).
tp = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"kpipe-off-{RUN_ID}-tx",
               "transaction.timeout.ms": 60000})
tp.init_transactions(30)
plan = [
    ("commit", [(0, "c1"), (0, "c2"), (1, "c3")]),
    ("abort", [(0, "a1"), (1, "a2"), (0, "a3")]),
    ("commit", [(0, "c4"), (1, "c5")]),
    ("abort", [(1, "a4")]),
    ("commit", [(1, "c6"), (0, "c7")]),
    ("abort", [(0, "a5")]),
    ("commit", [(1, "c8")]),
]
for action, msgs in plan:
    tp.begin_transaction()
    for p, v in msgs:
        tp.produce(TX, value=json.dumps({"p": p, "v": v}).encode(), partition=p)
    tp.flush(30)
    if action == "commit":
        tp.commit_transaction(30)
    else:
        tp.abort_transaction(30)


def seq_of(plan, keep):
    out = {0: [], 1: []}
    for action, msgs in plan:
        if action in keep:
            for p, v in msgs:
                out[p].append(v)
    return out


def tx_values(args, **kw):
    got = {}
    for v in values(args, **kw):
        got.setdefault(v["p"], []).append(v["v"])
    return got


committed_only = seq_of(plan, ("commit",))
everything = seq_of(plan, ("commit", "abort"))
# The reference client agrees with the plan (so the topic is what we think).
ref = reference_read(TX, 2)
check({p: [json.loads(v)["v"] for _, v in r] for p, r in ref.items()} == committed_only,
      f"reference read of {TX}: {ref}")
for args, want, what in [
        (["-e", TX], committed_only, "-e (read_committed by default)"),
        (["-e", "--isolation", "read_committed", TX], committed_only, "--isolation read_committed"),
        (["-e", "--isolation", "read_uncommitted", TX], everything, "--isolation read_uncommitted"),
        (["-e", "-o", "-2", TX], {0: [], 1: ["c8"]}, "-o -2 (offsets count markers)"),
]:
    got = tx_values(args)
    want = {p: v for p, v in want.items() if v}
    check(got == want, f"{what}: kconsume -q {shlex.join(args)}:\n  got  {got}\n  want {want}")
# The envelope offsets are the real (gapped) offsets.
out, _, _ = run(["kconsume", "-q", "--envelope", "--no-control", "-e", TX])
offs = {}
for l in out.splitlines():
    e = json.loads(l)
    offs.setdefault(e["partition"], []).append(e["offset"])
want_offs = {p: [o for o, _ in r] for p, r in ref.items()}
check(offs == want_offs, f"envelope offsets on {TX}: {offs}, reference {want_offs}")
# A group reading it commits up to the end (past the final marker).
g5 = f"kpipe-off-{RUN_ID}-g5"
got = tx_values(["-G", g5, "-e", TX])
check(got == committed_only, f"-G {g5} -e {TX}: {got}")
rows = lag(g5, TX)
check(len(rows) == 2 and all(r["lag"] == 0 and r["committed"] == r["end"] for r in rows.values()),
      f"--lag {g5} {TX} after -e: {rows}")

# An open transaction: read_committed stops at the last stable offset, so -e
# must end after the committed data instead of waiting for the transaction.
op = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"kpipe-off-{RUN_ID}-open",
               "transaction.timeout.ms": 60000})
op.init_transactions(30)
op.begin_transaction()
op.produce(OPEN, value=b'{"v":"c1"}', partition=0)
op.commit_transaction(30)
op.begin_transaction()
op.produce(OPEN, value=b'{"v":"open"}', partition=0)
op.flush(30)
try:
    start = time.time()
    got = [v["v"] for v in values(["-e", OPEN], timeout=15)]
    check(got == ["c1"], f"-e on {OPEN} with an open transaction printed {got}, want ['c1']")
    check(time.time() - start < 10,
          f"-e on {OPEN} with an open transaction took {time.time() - start:.1f}s")
    got = [v["v"] for v in values(["-e", "--isolation", "read_uncommitted", OPEN], timeout=15)]
    check(got == ["c1", "open"], f"read_uncommitted -e on {OPEN}: {got}")
finally:
    op.abort_transaction(30)

# ---------------------------------------------------------------------------
step("compacted topic")
# Rounds of the same 5 keys, each in its own segment (segment.ms=100 rolls
# on the next append), then wait until the cleaner has removed records.
cp = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True})
n = 0
for rnd in range(6):
    for k in range(5):
        cp.produce(CMP, key=f"k{k}".encode(), value=json.dumps({"k": k, "r": rnd, "n": n}).encode(),
                   partition=0)
        n += 1
    cp.flush(30)
    time.sleep(0.25)
compacted = False
deadline = time.time() + 20
while time.time() < deadline:
    cp.produce(CMP, key=b"tick", value=json.dumps({"k": "tick", "n": n}).encode(), partition=0)
    n += 1
    cp.flush(30)
    ref = reference_read(CMP, 1)[0]
    if len(ref) < n:
        compacted = True
        break
    time.sleep(1)
lo, hi = Consumer({"bootstrap.servers": BROKERS, "group.id": f"off-ref-{RUN_ID}"}).get_watermark_offsets(
    TopicPartition(CMP, 0), timeout=10)
check(hi == n, f"{CMP}: end offset {hi}, want {n} (one offset per produced record)")
# The cleaner may go on while kconsume reads, so kconsume's records must lie
# between a reference read just before and one just after it.
before = reference_read(CMP, 1)[0]
out, _, _ = run(["kconsume", "-q", "--envelope", "--no-control", "-e", CMP], timeout=30)
after = reference_read(CMP, 1)[0]
if compacted:
    print(f"compaction: {len(before)} then {len(after)} records left in offsets {lo}..{hi - 1}")
else:
    print(f"note: the cleaner did not compact {CMP} within 20 s; checking -e on it anyway")
got = [(json.loads(l)["offset"], json.loads(l)["value"]) for l in out.splitlines()]
offs = [o for o, _ in got]
check(offs == sorted(set(offs)), f"-e on compacted {CMP}: offsets not increasing: {offs}")
check(all(v.get("n") == o for o, v in got), f"-e on compacted {CMP}: a value is not the one "
      f"produced at its offset: {got[:12]}")
check(set(o for o, _ in after) <= set(offs) <= set(o for o, _ in before),
      f"-e on compacted {CMP}: offsets {offs}; reference before {[o for o, _ in before]}, "
      f"after {[o for o, _ in after]}")
# Compaction keeps the latest record of every key, so these are always there.
latest = {}
for o, v in before:
    latest[json.loads(v)["k"]] = o
check(set(latest.values()) <= set(offs) and hi - 1 in offs,
      f"-e on compacted {CMP}: latest offsets per key {latest} (and {hi - 1}) not all in {offs}")
# Tail reads on the gapped topic count offsets, not records.
out, _, _ = run(["kconsume", "-q", "--envelope", "--no-control", "-e", "-o", "-1", CMP], timeout=30)
check([json.loads(l)["offset"] for l in out.splitlines()] == [hi - 1],
      f"-o -1 -e on {CMP}: {out!r}, want offset {hi - 1}")

step("done")
finish()
