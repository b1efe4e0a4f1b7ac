"""Exactly-once from topic to topic under SIGKILL (kpipe(7), EXACTLY-ONCE).

200,000 records in 4 partitions go through
  kagg --exactly-once --emit changes --by user -a count -a sum:amount
and through
  kwindow --exactly-once --emit final --tumble 1s --by user -a count -a sum:amount
each killed with SIGKILL at random moments (at least 8 times) and restarted
on the same --state and group, until a run reaches the end offsets recorded
at its start (--until end) and exits 0. A read_committed reader of the
output then must see:
  kagg:    exactly one update per input record; per user the counts 1..n in
           order and the running sums of the amounts;
  kwindow: exactly one row per window and user with the right count and sum;
  kjoin:   exactly one row per order, joined with its own payment.
A second instance with the same group (so the same transactional id) fences
the first, which must report it and exit 1.
"""
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafkatest import (BROKERS, RUN_ID, check, create_topics, finish, make_tmp, need,
                       read_records, sh)

N = int(os.environ.get("KPIPE_EOS_RECORDS", "200000"))
KILLS = int(os.environ.get("KPIPE_EOS_KILLS", "8"))
USERS = 500
T0 = 1_732_441_200_000
rng = random.Random(int(os.environ.get("KPIPE_EOS_SEED", "7")))
tmp = make_tmp("exactly-once")

src, agg_out, win_out, fence_out, orders, payments, join_out = (
    f"eos-{n}-{RUN_ID}" for n in ("in", "agg", "win", "fence", "orders", "payments", "join"))
create_topics([(src, 4), (agg_out, 3), (win_out, 3), (fence_out, 1), (orders, 4), (payments, 4), (join_out, 3)])

# Input: event times rise by 5 ms a record, so no record is ever late and
# the windows of an uninterrupted run are known exactly.
records = []
for i in range(N):
    records.append({"user": f"u{rng.randrange(USERS)}", "amount": rng.randrange(1, 1000), "ts": T0 + 5 * i})
data = os.path.join(tmp, "in.jsonl")
with open(data, "w") as f:
    for r in records:
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
sh(f"kproduce -q -t {src} -k user {shlex.quote(data)}", timeout=120)


# Join input: every order has one payment 0-2 s later; both topics in event
# time order, so no record is late.
N_JOIN = N // 2
order_recs = [{"order_id": f"o{i}", "user": f"u{rng.randrange(USERS)}", "ts": T0 + 10 * i} for i in range(N_JOIN)]
pay_recs = sorted(({"order_id": o["order_id"], "paid": rng.randrange(1, 500), "ts": o["ts"] + rng.randrange(2000)}
                   for o in order_recs), key=lambda p: p["ts"])
for name, recs, topic in (("orders", order_recs, orders), ("payments", pay_recs, payments)):
    path = os.path.join(tmp, f"{name}.jsonl")
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    sh(f"kproduce -q -t {topic} -k order_id {shlex.quote(path)}", timeout=120)


def run_killed(name, tool_args, inputs=None):
    """Runs the tool with -v, which reports each checkpoint on stderr, and
    kills it KILLS times: at a random moment before its first checkpoint,
    or a random 0-30 ms after its 1st to 3rd checkpoint (so at least that
    much progress is made, however fast the machine, and the kill lands
    anywhere in the cycle of produce, send offsets, save, commit). Then
    lets a run finish."""
    state = os.path.join(tmp, f"state-{name}")
    cmd = tool_args + ["--state", state, "--checkpoint-every", "20ms", "-G", f"eos-{name}-{RUN_ID}",
                       "--exactly-once", "--until", "end", "-q", "-v"] + (inputs or [f"kafka:{src}"])
    log = open(os.path.join(tmp, f"{name}.stderr"), "w")
    kills = 0
    runs = 0
    while True:
        runs += 1
        need(runs < KILLS * 4 + 10, f"{name}: too many restarts")
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        if kills < KILLS:
            after = rng.randrange(4)  # checkpoints to wait for; 0: kill during start-up
            if after == 0:
                time.sleep(rng.uniform(0.0, 0.1))
            else:
                seen = 0
                for line in p.stderr:
                    log.write(line)
                    if line.startswith(f"{tool_args[0]}: checkpoint "):
                        seen += 1
                        if seen == after:
                            break
                time.sleep(rng.uniform(0.0, 0.03))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                log.write(p.stderr.read())
                kills += 1
                continue
        log.write(p.stderr.read())
        p.wait(timeout=240)
        if p.returncode == 0:
            break
        log.close()
        sys.stderr.write(open(log.name).read()[-3000:])
        need(False, f"{name}: exit {p.returncode}")
    log.close()
    print(f"{name}: {kills} kills, {runs} runs", file=sys.stderr)
    need(kills >= KILLS, f"{name}: only {kills} kills landed (the runs were too fast)")


def committed_rows(topic):
    rows = read_records(topic, group=f"check-{topic}",
                        config={"isolation.level": "read_committed", "enable.partition.eof": True})
    return [r for part in rows.values() for r in part]


# kagg: one update per record, per user counts 1..n in order, running sums.
run_killed("kagg", ["kagg", "--emit", "changes", "--by", "user", "-a", "count", "-a", "sum:amount",
                    "--output", f"kafka:{agg_out}"])
msgs = committed_rows(agg_out)
check(len(msgs) == N, f"kagg: {len(msgs)} committed updates, want {N}")
by_user = {}
for m in sorted(msgs, key=lambda m: (m["partition"], m["offset"])):
    row = json.loads(m["value"])
    check(json.loads(m["key"]) == {"user": row["user"]}, f"kagg: key {m['key']} of row {row}")
    by_user.setdefault(row["user"], []).append(row)
want_sums = {}
for r in records:
    want_sums.setdefault(r["user"], []).append(r["amount"])
bad = 0
for user, amounts in want_sums.items():
    rows = by_user.get(user, [])
    running = 0
    want = []
    for i, a in enumerate(amounts):
        running += a
        want.append({"user": user, "count": i + 1, "sum_amount": running})
    if rows != want:
        bad += 1
        if bad <= 3:
            print(f"kagg: user {user}: {len(rows)} rows, want {len(want)}; first difference: "
                  f"{next(((g, w) for g, w in zip(rows, want) if g != w), None)}", file=sys.stderr)
check(bad == 0, f"kagg: {bad} users with wrong updates")

# kwindow: exactly one row per window and user, right count and sum.
run_killed("kwindow", ["kwindow", "--tumble", "1s", "--time", "ts", "--by", "user", "-a", "count",
                       "-a", "sum:amount", "--output", f"kafka:{win_out}"])
msgs = committed_rows(win_out)
want = {}
for r in records:
    start = r["ts"] - r["ts"] % 1000
    c, s = want.get((start, r["user"]), (0, 0))
    want[(start, r["user"])] = (c + 1, s + r["amount"])
got = {}
dups = 0
for m in msgs:
    row = json.loads(m["value"])
    k = (row["window_start"], row["user"])
    if k in got:
        dups += 1
    got[k] = (row["count"], row["sum_amount"])
check(dups == 0, f"kwindow: {dups} duplicate rows")
check(len(msgs) == len(want), f"kwindow: {len(msgs)} committed rows, want {len(want)}")
check(got == want, f"kwindow: {sum(1 for k in want if got.get(k) != want[k])} windows with wrong values")

# kjoin: exactly one row per order, with its own payment.
run_killed("kjoin", ["kjoin", "--on", "order_id", "--within", "5s", "--time", "ts", "--output", f"kafka:{join_out}"],
           inputs=[f"kafka:{orders}", f"kafka:{payments}"])
msgs = committed_rows(join_out)
check(len(msgs) == N_JOIN, f"kjoin: {len(msgs)} committed rows, want {N_JOIN}")
want_pay = {p["order_id"]: p for p in pay_recs}
want_order = {o["order_id"]: o for o in order_recs}
seen = {}
wrong = 0
for m in msgs:
    row = json.loads(m["value"])
    oid = row["left"]["order_id"]
    seen[oid] = seen.get(oid, 0) + 1
    if row["left"] != want_order.get(oid) or row["right"] != want_pay.get(oid) or \
            json.loads(m["key"]) != [oid]:
        wrong += 1
check(wrong == 0, f"kjoin: {wrong} rows with wrong values or keys")
check(all(n == 1 for n in seen.values()) and len(seen) == N_JOIN,
      f"kjoin: {sum(1 for n in seen.values() if n > 1)} orders joined more than once, "
      f"{N_JOIN - len(seen)} never")

# A second instance given another --state directory, which lacks the
# checkpoint that the group's offsets name, refuses with status 2 before it
# starts its transactional producer: the instance running goes on, unfenced.
fence_cmd = ["kagg", "--by", "user", "-a", "count", "--emit", "changes", "--exactly-once", "-q",
             "--checkpoint-every", "200ms",
             "-G", f"eos-fence-{RUN_ID}", "--output", f"kafka:{fence_out}", f"kafka:{src}"]
first_err = open(os.path.join(tmp, "fence1.stderr"), "w+")
first = subprocess.Popen(fence_cmd + ["--state", os.path.join(tmp, "fence1")], stderr=first_err)
time.sleep(3)  # the first has read everything and idles, committing a checkpoint every 200 ms
rows_before = len(committed_rows(fence_out))
second = subprocess.run(fence_cmd + ["--state", os.path.join(tmp, "fence2")], stderr=subprocess.PIPE,
                        text=True, timeout=60)
check(second.returncode == 2 and "does not hold" in second.stderr and "-G NEW" in second.stderr,
      f"second instance on another --state: exit {second.returncode}, want 2 with a refusal: {second.stderr}")
time.sleep(1.5)  # a fenced first instance would stop at its next checkpoint
check(first.poll() is None, f"the refused instance stopped the running one (exit {first.poll()})")

# Fencing: an instance frozen (SIGSTOP) is replaced by one restored from a
# copy of its directory; the new one fences it, and the old one, woken up,
# exits 1 saying so. SIGTERM then ends the new one with 143 (final
# checkpoint and commit), and nothing was written twice.
os.kill(first.pid, signal.SIGSTOP)
shutil.copytree(os.path.join(tmp, "fence1"), os.path.join(tmp, "fence3"))
third = subprocess.Popen(fence_cmd + ["--state", os.path.join(tmp, "fence3")], stderr=subprocess.PIPE, text=True)
time.sleep(3)  # past init_transactions: the frozen instance is fenced
os.kill(first.pid, signal.SIGCONT)
try:
    rc = first.wait(timeout=60)
except subprocess.TimeoutExpired:
    first.kill()
    rc = None
first_err.seek(0)
err = first_err.read()
check(rc == 1, f"fenced instance: exit {rc}, want 1; stderr: {err}")
check("fenced" in err, f"fenced instance does not say so: {err}")
third.send_signal(signal.SIGTERM)
term_at = time.time()
try:
    rc3 = third.wait(timeout=30)
except subprocess.TimeoutExpired:
    third.kill()
    rc3 = None
print(f"SIGTERM to exit (final checkpoint and commit): {time.time() - term_at:.2f} s", file=sys.stderr)
check(rc3 == 143, f"the new instance after SIGTERM: exit {rc3}, want 143; stderr: {third.stderr.read()}")
rows_after = len(committed_rows(fence_out))
check(rows_after == rows_before, f"rows written again: {rows_before} -> {rows_after}")
finish()
