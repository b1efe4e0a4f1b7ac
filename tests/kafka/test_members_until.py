#!/usr/bin/env python3
"""A second member that joins a bounded read (--until end) of a group while
the first holds every partition (kpipe(7), SCALING).

Under the cooperative protocol the joiner's first assignment is empty: the
first member gives up partitions in that round, and the joiner gets them in
the next, a second or so later. A joiner that took the empty round for the
group's last word ended at once, and the partitions it was to get stayed
with nobody: the first member's summary counted every record and 0 late,
both exited 0, and the rows of the last window of those partitions' keys
were missing (their state went to the changelog, for an owner that never
came). 6 partitions keyed by user (uneven: Kafka's partitioner), records
out of order by up to 800 ms; the first member's output is left unread (it
blocks) until the second has asked to join, so that it still holds every
partition then (a round where the second's first assignment was not empty
proves nothing, and at least one of two must be such a round); small local
queues, so that fetchers are paused and restarted along the way. The rows
of both members together must be those of one process reading the topic
without a group, each summary 0 late.

Then the same for two kconsume members (the group code of kconsume(1) is its
own): every message read once over both, and each summary counting the
partitions the group gave that member, not the topic's.
"""
import json
import os
import random
import re
import subprocess
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import BROKERS, RUN_ID, check, create_topic, finish, make_tmp, need

TMP = make_tmp("members-until")
TOPIC = f"members-until-{RUN_ID}"
N = 400_000
WINDOW = ["--tumble", "10s", "--time", "ts", "--max-delay", "1s", "--by", "user", "-a", "count",
          "-a", "sum:amount"]
SMALL = ["-X", "queued.min.messages=2000", "-X", "queued.max.messages.kbytes=256"]


def produce():
    rng = random.Random(7)
    p = Producer({"bootstrap.servers": BROKERS, "linger.ms": 20})
    t0 = 1_732_441_200_000
    for i in range(N):
        user = "u%03d" % rng.randrange(1000)
        ts = t0 + i * 2 - rng.randrange(800)  # 2 ms apart, back by up to 800 ms
        value = b'{"user":"%s","amount":%d,"ts":%d}' % (user.encode(), rng.randrange(1000), ts)
        while True:
            try:
                p.produce(TOPIC, key=user.encode(), value=value)
                break
            except BufferError:  # a broker slow to take the first batches: wait for room
                p.poll(0.1)
        if i % 20_000 == 0:
            p.poll(0)
    need(p.flush(60) == 0, "the test records were not all delivered")


def summary_ok(err, what):
    line = [l for l in err.splitlines() if "records in" in l]
    check(len(line) == 1 and ", 0 late," in line[0], f"{what}: summary {line}")


def main():
    create_topic(TOPIC, 6)
    produce()
    ref = subprocess.run(["timeout", "120", "kwindow", "-q", "-b", BROKERS, "--until", "end"] + WINDOW +
                         [f"kafka:{TOPIC}"], capture_output=True, text=True)
    need(ref.returncode == 0, f"reference run: exit {ref.returncode}: {ref.stderr[-1000:]}")
    want = sorted(ref.stdout.splitlines())
    need(len(want) > 1000, f"reference run: only {len(want)} rows")

    reached = 0  # rounds where the second member's first assignment was empty
    for round_ in range(2):
        group = f"until-{RUN_ID}-{round_}"
        cmd = ["timeout", "120", "kwindow", "-v", "-b", BROKERS, "-G", group, "--until", "end"] + SMALL + WINDOW + [
            f"kafka:{TOPIC}"]
        logs = [open(os.path.join(TMP, f"{group}-{m}.err"), "w+") for m in (0, 1)]
        a = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logs[0], text=True)
        # The second joins once the first reads every partition.
        deadline = time.time() + 60
        while time.time() < deadline:
            logs[0].seek(0)
            if logs[0].read().count(": assigned, from offset") >= 6:
                break
            time.sleep(0.02)
        # The first is held (its output unread: it blocks once the pipe is
        # full) until the second has asked to join, so that it still holds
        # every partition then, however fast this machine is.
        b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logs[1], text=True)
        while time.time() < deadline:
            logs[1].seek(0)
            if "member of group" in logs[1].read():
                break
            time.sleep(0.02)
        time.sleep(1.5)
        outs = [a.communicate()[0], b.communicate()[0]]
        check(a.returncode == 0 and b.returncode == 0, f"round {round_}: exits {a.returncode}, {b.returncode}")
        for m, log in enumerate(logs):
            log.seek(0)
            text = log.read()
            summary_ok(text, f"round {round_}, member {m}")
            reached += m == 1 and "gave this member no partition" in text
        got = sorted(outs[0].splitlines() + outs[1].splitlines())
        missing, extra = len(set(want) - set(got)), len(set(got) - set(want))
        check(got == want, f"round {round_}: {len(got)} rows, want {len(want)} ({missing} missing, {extra} "
                           f"not wanted; member rows {len(outs[0].splitlines())} + {len(outs[1].splitlines())})")
    # Else the rounds above pass whatever a joiner does with an empty round.
    check(reached > 0, "the second member never joined while the first held every partition")
    consume_members()
    finish()


def consume_members():
    # Up to three rounds, until one where the second was given part of the
    # topic (not all of it, once the first had ended); every round is held
    # to the rest.
    split = False
    for round_ in range(3):
        split = consume_round(f"until-{RUN_ID}-kconsume-{round_}")
        if split:
            break
    check(split, "kconsume -G: the second member was never given part of the topic")


def consume_round(group):
    cmd = ["timeout", "120", "kconsume", "-b", BROKERS, "-G", group, "--until", "end", "--envelope"] + SMALL + [TOPIC]
    a = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Its first line names every partition: read, it holds them all; its
    # output is then left unread until the second has joined.
    first = a.stdout.readline()
    names = json.loads(first).get("names", []) if first else []
    check(len(names) == 6, f"{group}: the first member's first line {first!r}")
    b = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The second has joined once the group lists it; then a heartbeat
    # interval (3 s), for the first member's client to rejoin as well, so
    # that the partitions it gives up wait for it at its next poll.
    admin = AdminClient({"bootstrap.servers": BROKERS})
    joined, deadline = False, time.time() + 60
    while not joined and time.time() < deadline:
        try:
            groups = admin.list_groups(group, timeout=5)
        except KafkaException:
            groups = []
        joined = any(len(g.members) > 1 for g in groups)
        time.sleep(0.05)
    check(joined, f"{group}: the second member never joined")
    time.sleep(3.5)
    out_a, err_a = a.communicate()
    out_b, err_b = b.communicate()
    check(a.returncode == 0 and b.returncode == 0, f"{group}: exits {a.returncode}, {b.returncode}: {err_a} {err_b}")
    seen = set()
    read = 0
    announced = [set(), set()]
    for m, out in enumerate([first + out_a, out_b]):
        for line in out.splitlines():
            rec = json.loads(line)
            if "@kpipe" in rec:
                announced[m].update(rec.get("names", []))
                continue
            read += 1
            seen.add((rec["partition"], rec["offset"]))
    check(read == N and len(seen) == N, f"{group}: {read} messages read, {len(seen)} distinct, want {N}")
    for m, err in enumerate([err_a, err_b]):
        got = re.search(r"from (\d+) partitions?$", err.strip())
        check(got is not None and int(got.group(1)) == len(announced[m]),
              f"{group}, member {m}: summary {err.strip()!r}, partitions given {sorted(announced[m])}")
    return 0 < len(announced[1]) < 6


if __name__ == "__main__":
    main()
