#!/usr/bin/env python3
"""Pipe shapes as users compose them, on the real broker (kpipe(7), EVENT
TIME, CONTROL RECORDS): 6-partition topics produced unevenly (all of
partition 0 first, then the others interleaved, one partition kept short)
with event times out of order by up to 2 s within a partition. Each shape's
rows must equal an independent computation here, with 0 late records: the
tools' --max-delay 2s covers the disorder.

Shapes: kconsume --envelope | kwindow; the same with --watermarks; plain
values with --watermarks --time; kjoin over two <(kconsume --envelope);
kconsume | kjq | kwindow; kwindow | kagg; kwindow reading kafka: itself;
--validate in a pipe (kjq sets aside what kwindow would refuse) and on a
kafka: input, the records set aside counted and named.
The late counts of every shape are printed.
"""
import json
import os
import random
import re
import shlex
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafkatest import (BROKERS, RUN_ID, check, create_topics, finish, make_tmp, sh)  # noqa: E402
from confluent_kafka import Producer  # noqa: E402

TMP = make_tmp("test_pipes")
rng = random.Random(20261204)
P = 6
T0 = 1_764_000_000_000
MINUTE = 60_000
clicks, orders, payments = (f"kpipe-pipes-{RUN_ID}-{n}" for n in ("clicks", "orders", "payments"))
create_topics([(clicks, P), (orders, P), (payments, P)])


def partition_times(n, start):
    """n event times rising about 50 ms apart, each moved back by up to 2 s."""
    out, t = [], start
    for _ in range(n):
        t += rng.randint(0, 100)
        out.append(t - rng.randint(0, 2000))
    return out


def produce(topic, per_partition):
    """per_partition: {p: [record...]}; partition 0 all first, then the others
    interleaved. Each message timestamp is the record's ts."""
    p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 5})
    order = [(0, r) for r in per_partition[0]]
    rest = {q: list(rs) for q, rs in per_partition.items() if q != 0}
    while any(rest.values()):
        q = rng.choice([q for q, rs in rest.items() if rs])
        order.append((q, rest[q].pop(0)))
    for q, r in order:
        p.produce(topic, json.dumps(r, separators=(",", ":")).encode(), key=r.get("user", r.get("order_id")).encode(),
                  partition=q, timestamp=r["ts"])
    p.flush(30)


# Clicks: partition 5 has only a few records (an almost quiet partition).
records = {}
for q in range(P):
    n = 40 if q == 5 else 1500
    records[q] = [{"ts": t, "user": f"u{rng.randint(1, 20)}", "amount": rng.randint(1, 100)}
                  for t in partition_times(n, T0)]
produce(clicks, records)
every = [r for rs in records.values() for r in rs]


def windows(rs):
    """(window_start, user) -> (count, sum of amounts), 1-minute tumbling."""
    out = {}
    for r in rs:
        k = (r["ts"] // MINUTE * MINUTE, r["user"])
        c, s = out.get(k, (0, 0))
        out[k] = (c + 1, s + r["amount"])
    return out


def rows_of(out):
    return [json.loads(l) for l in out.decode().splitlines() if l and not l.startswith('{"@kpipe"')]


def as_windows(rows):
    return {(r["window_start"], r["user"]): (r["count"], r["sum_amount"]) for r in rows}


def late_of(err, tool):
    m = re.search(rf"^{tool}: .* (\d+) late,", err, re.M)
    check(m is not None, f"no summary line of {tool}: {err}")
    return int(m.group(1)) if m else -1


late_counts = {}


def shape(name, cmd, want, tool="kwindow"):
    out, err = sh(cmd, timeout=120)
    got = as_windows(rows_of(out))
    late = late_of(err, tool)
    late_counts[name] = late
    check(late == 0, f"{name}: {late} late records, want 0: {cmd}\n{err}")
    check("dropped" not in err, f"{name}: records dropped: {err}")
    missing = sum(1 for k in want if got.get(k) != want[k])
    extra = sum(1 for k in got if k not in want)
    check(missing == 0 and extra == 0,
          f"{name}: {len(got)} rows, want {len(want)}; {missing} wrong or missing, {extra} extra: {cmd}")


kw = "kwindow --tumble 1m --max-delay 2s --by user -a count,sum:amount"
want = windows(every)
T = shlex.quote(clicks)
shape("kconsume --envelope | kwindow", f"kconsume -q -e --envelope {T} | {kw}", want)
shape("kconsume --envelope --watermarks | kwindow",
      f"kconsume -q -e --envelope --watermarks {T} | {kw}", want)
shape("kconsume --watermarks --time (plain) | kwindow --time",
      f"kconsume -q -e --watermarks --time ts --max-delay 2s {T} | {kw} --time ts", want)
shape("kconsume --envelope | kjq | kwindow",
      f"kconsume -q -e --envelope --watermarks {T} | kjq -q 'select(.amount > 50)' | {kw}",
      windows([r for r in every if r["amount"] > 50]))
shape("kwindow kafka:", f"{kw} --until end kafka:{T}", want)

# --validate: records over the schema's maximum go to the dead letters,
# at the first stage that checks them; the rest are windowed as usual.
schema = os.path.join(TMP, "click.schema.json")
with open(schema, "w") as f:
    json.dump({"type": "object", "required": ["ts", "user", "amount"],
               "properties": {"user": {"type": "string", "pattern": "^u[0-9]+$"},
                              "amount": {"type": "integer", "maximum": 90}}}, f)
fits = [r for r in every if r["amount"] <= 90]
dl1, dl2, dl3 = (os.path.join(TMP, f"dl{i}.jsonl") for i in (1, 2, 3))
S = shlex.quote(schema)
shape("kconsume --envelope | kjq --validate | kwindow --validate",
      f"kconsume -q -e --envelope --watermarks {T} | kjq -q . --validate {S} --dead-letter {dl1} "
      f"| {kw} --validate {S} --dead-letter {dl2}", windows(fits))
shape("kwindow --validate kafka:", f"{kw} --until end --validate {S} --dead-letter {dl3} kafka:{T}", windows(fits))
for path, want_n in ((dl1, len(every) - len(fits)), (dl2, 0), (dl3, len(every) - len(fits))):
    letters = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    check(len(letters) == want_n and all("/amount: maximum:" in d["error"] for d in letters),
          f"{os.path.basename(path)}: {len(letters)} dead letters, want {want_n} naming /amount: maximum")

# kwindow | kagg: per-user totals from the window rows (kagg keeps the
# watermark records kwindow forwards).
out, err = sh(f"kconsume -q -e --envelope --watermarks {T} | {kw} | kagg --by user -a sum:count,sum:sum_amount",
              timeout=120)
totals = {}
for r in every:
    c, s = totals.get(r["user"], (0, 0))
    totals[r["user"]] = (c + 1, s + r["amount"])
got = {r["user"]: (r["sum_count"], r["sum_sum_amount"]) for r in rows_of(out)}
late_counts["kconsume | kwindow | kagg"] = late_of(err, "kwindow")
check(late_counts["kconsume | kwindow | kagg"] == 0, f"kwindow | kagg: late records: {err}")
check(got == totals, f"kwindow | kagg: {len(got)} users, want {len(totals)}; differ: "
      f"{[u for u in totals if got.get(u) != totals[u]][:5]}")

# kjoin over two kconsume --envelope: each order paid within 3 min, or not.
order_recs, pay_recs = {}, {}
for q in range(P):
    ts = partition_times(400, T0)
    order_recs[q] = [{"ts": t, "order_id": f"o{q}-{i}", "amount": rng.randint(1, 500)} for i, t in enumerate(ts)]
pays = []
for q in range(P):
    for o in order_recs[q]:
        if rng.random() < 0.8:
            pays.append({"ts": o["ts"] + rng.randint(0, 3 * MINUTE), "order_id": o["order_id"]})
pays.sort(key=lambda r: r["ts"])
for q in range(P):
    pay_recs[q] = []
for r in pays:  # by order id, so each order's payment lands on one partition
    pay_recs[zlib.crc32(r["order_id"].encode()) % P].append(r)
for q in range(P):  # out of order by up to 2 s within the partition
    rs = pay_recs[q]
    for i in range(len(rs) - 1):
        if rng.random() < 0.3 and rs[i + 1]["ts"] - rs[i]["ts"] < 2000:
            rs[i], rs[i + 1] = rs[i + 1], rs[i]
produce(orders, order_recs)
produce(payments, pay_recs)
want_pairs = {o["order_id"] for q in order_recs for o in order_recs[q]} & {p["order_id"] for p in pays}
cmd = (f"kjoin --on order_id --within 5m --max-delay 2s <(kconsume -q -e --envelope {shlex.quote(orders)}) "
       f"<(kconsume -q -e --envelope {shlex.quote(payments)})")
out, err = sh(cmd, timeout=120)
rows = rows_of(out)
late = late_of(err, "kjoin")
late_counts["kjoin <(kconsume --envelope) <(kconsume --envelope)"] = late
got_pairs = [r["left"]["order_id"] for r in rows if r["left"]["order_id"] == r["right"]["order_id"]]
check(late == 0, f"kjoin: {late} late, want 0: {err}")
check(len(rows) == len(want_pairs) and set(got_pairs) == want_pairs,
      f"kjoin: {len(rows)} rows, want {len(want_pairs)}: {cmd}")

# A table on Kafka read with --until end is read to its end before LEFT:
# every left record is then joined as it comes, in LEFT's order, each with
# the version of its order as of its time.
left_lines = [{"ts": rng.randint(T0, T0 + 20_000), "order_id": f"o{rng.randrange(P)}-{rng.randrange(400)}", "i": i}
              for i in range(300)]
left_file = os.path.join(TMP, "asof-left.jsonl")
with open(left_file, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in left_lines)
out, err = sh(f"kjoin -q --on order_id --as-of --left-time ts --type left --until end {left_file} kafka:{orders}",
              timeout=120)
rows = rows_of(out)
check([r["left"]["i"] for r in rows] == list(range(300)), f"kjoin --as-of over a bounded kafka table: rows out of LEFT order")
versions = {o["order_id"]: o for q in order_recs for o in order_recs[q]}
check(all((r["right"] is not None) == (versions[r["left"]["order_id"]]["ts"] <= r["left"]["ts"]) for r in rows),
      "kjoin --as-of over a bounded kafka table: a row with the wrong version")

for name, n in late_counts.items():
    print(f"{name}: {n} late", file=sys.stderr)
finish()
