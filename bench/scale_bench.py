#!/usr/bin/env python3
"""scale_bench.py - group members of kagg (kpipe(7), SCALING) on a real broker:
restore speed, rebalance pause, throughput of 1, 2 and 3 members, and the
cost of the changelog. Run through bench/scale_bench.sh, which documents it.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = os.environ.get("KPIPE_BROKERS", "127.0.0.1:24092")
os.environ["KPIPE_BROKERS"] = BROKERS  # the tools run here use it too
BIN = os.environ.get("KPIPE_BIN", "build")
KEYS = int(os.environ.get("KEYS", "1000000"))
PAUSE_KEYS = int(os.environ.get("PAUSE_KEYS", "100000"))  # per partition
PAUSE_RUNS = int(os.environ.get("PAUSE_RUNS", "5"))
RECORDS = int(os.environ.get("RECORDS", "3000000"))
PARTS = 12
RUN = f"{os.getpid()}-{int(time.time())}"
tmp = tempfile.mkdtemp(prefix="kpipe-scale-")
admin = AdminClient({"bootstrap.servers": BROKERS})
created = []


def tool(name):
    return os.path.join(BIN, name)


def create(name, parts):
    for f in admin.create_topics([NewTopic(name, parts, 1)], operation_timeout=30).values():
        f.result()
    created.append(name)
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "ready"})
    for p in range(parts):
        for _ in range(100):
            try:
                c.get_watermark_offsets(TopicPartition(name, p), timeout=5)
                break
            except Exception:
                time.sleep(0.1)
    c.close()


def produce(topic, path):
    subprocess.run([tool("kproduce"), "-q", "-t", topic, "-k", "user", path], check=True)


def keys_file(n, name):
    """n records, one per distinct user, ~50 bytes each."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        for i in range(n):
            f.write(f'{{"user":"k{i:08d}","amount":{i % 1000},"ts":{1732441200000 + i}}}\n')
    return path


def ends(topic):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "ends"})
    e = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTS)}
    c.close()
    return e


def committed_all(group, topic, e):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group})
    got = c.committed([TopicPartition(topic, p) for p in range(PARTS)], timeout=10)
    c.close()
    return all(tp.offset >= e[tp.partition] for tp in got)


def member(group, topic, extra=(), stdout=subprocess.DEVNULL, log=None, every="1s"):
    """A member; `log` a path for its -v stderr, subprocess.PIPE to read it, or None."""
    cmd = [tool("kagg"), "-q", "-v", "-G", group, "--by", "user", "-a", "count", "-a", "sum:amount",
           "--checkpoint-every", every, "-X", "session.timeout.ms=6000",
           *extra, f"kafka:{topic}"]
    err = log if log == subprocess.PIPE else open(log or os.devnull, "w")
    return subprocess.Popen(cmd, stdout=stdout, stderr=err, text=True)


def wait_committed(group, topic, procs, limit=600):
    e = ends(topic)
    start = time.time()
    while not committed_all(group, topic, e):
        for p in procs:
            if p.poll() is not None:
                sys.exit(f"a member exited with {p.returncode}")
        if time.time() - start > limit:
            sys.exit(f"group {group} did not reach the end within {limit} s")
        time.sleep(0.1)
    return time.time() - start


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        if p.wait(timeout=120) != 143:
            sys.exit(f"a member exited with {p.returncode} after SIGTERM")


results = {}
try:
    # 1. Restore: KEYS keys built by one member, then restored by a fresh one.
    topic, group = f"scale-restore-{RUN}", f"scale-restore-{RUN}"
    create(topic, PARTS)
    produce(topic, keys_file(KEYS, "keys.jsonl"))
    a = member(group, topic)
    wait_committed(group, topic, [a])
    stop([a])
    log = os.path.join(tmp, "restore.err")
    t0 = time.time()
    b = member(group, topic, log=log)
    pat = re.compile(r"restored (\d+) partitions, (\d+) entries in ([0-9.]+) s")
    while True:
        m = [pat.search(l) for l in open(log)]
        m = [x for x in m if x]
        if m or b.poll() is not None:
            break
        time.sleep(0.05)
    stop([b])
    if not m:
        sys.exit(f"no restore was logged: {open(log).read()[-2000:]}")
    entries = sum(int(x.group(2)) for x in m)
    secs = sum(float(x.group(3)) for x in m)
    results["restore"] = (entries, secs)
    print(f"restore: {entries} changelog entries ({KEYS} keys) in {secs:.2f} s, "
          f"{KEYS / secs:,.0f} keys/s: {'PASS' if secs <= 10 * KEYS / 1e6 else 'MISS'} "
          f"(goal: 1M keys in <= 10 s)")

    # 2. Rebalance pause: a second member joins a live one; from its start to
    # its first row, PAUSE_RUNS times.
    topic, group = f"scale-pause-{RUN}", f"scale-pause-{RUN}"
    create(topic, PARTS)
    produce(topic, keys_file(PAUSE_KEYS * PARTS, "pause.jsonl"))
    live = keys_file(20000, "live.jsonl")
    a_log = os.path.join(tmp, "pause-a.err")
    a = member(group, topic, ["--emit", "changes"], log=a_log)
    wait_committed(group, topic, [a])

    def restores_of_a():
        return sum(1 for l in open(a_log) if re.search(r"restored \d+ partitions", l))

    pauses = []
    splits = []  # (pause, its assignment, its restore seconds)
    for i in range(PAUSE_RUNS):
        # The group is stable before each join: the live member holds all
        # the partitions again, restored, after the last joiner left.
        deadline = time.time() + 60
        while i > 0 and restores_of_a() <= restores_before and time.time() < deadline:
            time.sleep(0.05)
        restores_before = restores_of_a()
        feeder = subprocess.Popen(["bash", "-c", f"for i in $(seq 40); do {tool('kproduce')} -q -t {topic} -k user "
                                   f"{live}; sleep 0.25; done"])
        time.sleep(0.5)
        t0 = time.time()
        b = member(group, topic, ["--emit", "changes"], stdout=subprocess.PIPE, log=subprocess.PIPE)
        events = []  # (seconds from the start, -v line)

        def watch(err=b.stderr, events=events, t0=t0):
            for line in err:
                events.append((time.time() - t0, line))
        threading.Thread(target=watch, daemon=True).start()
        first = b.stdout.readline()
        pauses.append(time.time() - t0)
        gained = next((t for t, l in events if "partitions gained" in l), None)
        restore = next((float(m.group(1)) for t, l in events
                        for m in [re.search(r"restored \d+ partitions, \d+ entries in ([0-9.]+) s", l)] if m), None)
        splits.append((pauses[-1], gained, restore))
        # The rest of its rows, read so that it never blocks on a full pipe.
        threading.Thread(target=b.stdout.read, daemon=True).start()
        stop([b])
        feeder.kill()
        feeder.wait()
        time.sleep(1)
    stop([a])
    pauses.sort()
    p50 = statistics.median(pauses)
    p99 = pauses[min(len(pauses) - 1, int(0.99 * len(pauses)))]
    print(f"rebalance pause ({PAUSE_KEYS} keys a partition, {PAUSE_RUNS} joins): p50 {p50:.2f} s, "
          f"p99 {p99:.2f} s: {'PASS' if p99 <= 2 else 'MISS'} (goal: p99 <= 2 s); all: "
          + " ".join(f"{x:.2f}" for x in pauses))
    splits.sort()
    print("  where it went (start to assignment, restore, the rest): "
          + "; ".join(f"{p:.2f} s = {g or 0:.2f} + {r or 0:.2f} + {p - (g or 0) - (r or 0):.2f}"
                      for p, g, r in splits))

    # 3. Throughput of 1, 2, 3 members over RECORDS records, and one process
    # with --state (no changelog) on the same topic.
    topic = f"scale-thru-{RUN}"
    create(topic, PARTS)
    users = max(RECORDS // 100, 1)
    path = os.path.join(tmp, "thru.jsonl")
    with open(path, "w") as f:
        for i in range(RECORDS):
            f.write(f'{{"user":"u{(i * 7919) % users:07d}","amount":{i % 1000},"ts":{1732441200000 + i}}}\n')
    produce(topic, path)
    rates = {}
    for n in (1, 2, 3):
        group = f"scale-thru{n}-{RUN}"
        # Commits every 100 ms: the end is seen within that. Joining the
        # group (and the first, empty restore) is timed apart: the clock of
        # the throughput starts at the first partition assigned.
        started = time.time()
        procs = [member(group, topic, every="100ms", log=subprocess.PIPE) for _ in range(n)]
        assigned = []
        def watch(p):
            for line in p.stderr:
                if ": assigned, from offset" in line and not assigned:
                    assigned.append(time.time())
        watchers = [threading.Thread(target=watch, args=(p,), daemon=True) for p in procs]
        for w in watchers:
            w.start()
        secs = wait_committed(group, topic, procs)
        cpu = 0.0
        for p in procs:
            p.terminate()
        for p in procs:
            _, status, ru = os.wait4(p.pid, 0)
            cpu += ru.ru_utime + ru.ru_stime
        if not assigned:
            sys.exit(f"{n} members: no assignment was logged")
        join = assigned[0] - started
        rates[n] = RECORDS / (secs - join)
        print(f"{n} member{'s' if n > 1 else ''}: joined in {join:.2f} s, then {RECORDS} records in "
              f"{secs - join:.2f} s, {rates[n]:,.0f} records/s ({rates[n] / rates[1]:.2f}x one member), "
              f"{cpu:.2f} CPU s in all")
    state = tempfile.mkdtemp(prefix="state-", dir=tmp)
    t0 = time.time()
    r = subprocess.run([tool("kagg"), "-q", "-G", f"scale-state-{RUN}", "--state", state, "--by", "user",
                        "-a", "count", "-a", "sum:amount", "--until", "end", f"kafka:{topic}"],
                       stdout=subprocess.DEVNULL)
    secs = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"kagg --state exited {r.returncode}")
    print(f"one process with --state (no changelog, --until end, process start included): "
          f"{RECORDS / secs:,.0f} records/s; a member after its join: {rates[1] / (RECORDS / secs):.2f}x that")
finally:
    if created and os.environ.get("KEEP") != "1":
        for f in admin.delete_topics(created, operation_timeout=30).values():
            try:
                f.result()
            except Exception:
                pass
