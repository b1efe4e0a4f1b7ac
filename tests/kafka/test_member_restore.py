#!/usr/bin/env python3
"""A group member's restore reads each changelog partition to its end, a
transaction not yet decided included (kpipe(7), SCALING).

A member that gives a partition up commits its last state in a transaction;
the broker answers the commit before the transaction's markers are written,
and the next owner can be assigned the partition in between. Read up to the
last stable offset, as a read_committed reader is told the end is, its
restore would stop short of that commit: the records after the position it
found would be read again, and their rows written twice.

Here a transaction stays open on the changelog while a member starts: its
restore must wait for it, and end once it is committed. Then the member goes
on from the restored state, with the counts right.
"""
import json
import os
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import BROKERS, RUN_ID, check, create_topics, finish, make_tmp, need, sh

tmp = make_tmp("member-restore")
topic = f"restore-in-{RUN_ID}"
group = f"restore-{RUN_ID}"
changelog = f"{group}-kagg-changelog"
create_topics([(topic, 1)])
KAGG = ["kagg", "-G", group, "--by", "user", "-a", "count", "--emit", "changes", "--checkpoint-every", "200ms"]


def produce(n):
    lines = "".join(json.dumps({"user": f"u{i % 5}", "n": i}) + "\n" for i in range(n))
    sh(f"kproduce -q -t {topic} -k user", stdin=lines.encode(), timeout=30)


def last_counts(out):
    """The last row of each user (--emit changes)."""
    return {json.loads(l)["user"]: json.loads(l)["count"] for l in out.decode().splitlines()}


# The first member's state: 5 users of 20 records each, committed, and the
# member stopped (not at an end of input, which would let the keys go).
produce(100)
first = subprocess.Popen(["timeout", "60"] + KAGG + [f"kafka:{topic}"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
probe = Consumer({"bootstrap.servers": BROKERS, "group.id": group})
deadline = time.time() + 30
while probe.committed([TopicPartition(topic, 0)], timeout=10)[0].offset < 100:
    need(time.time() < deadline and first.poll() is None, "the first member did not commit its input's end")
    time.sleep(0.2)
probe.close()
first.terminate()
out, err = first.communicate(timeout=30)
check(first.returncode == 143, f"the first member after SIGTERM: exit {first.returncode}\n{err.decode()[-1500:]}")
check(last_counts(out) == {f"u{i}": 20 for i in range(5)}, f"the first member's counts: {last_counts(out)}")

# A transaction left open on the changelog: the latest position record,
# written again (its state unchanged), neither committed nor aborted yet.
c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"peek-{RUN_ID}", "isolation.level": "read_committed",
              "enable.partition.eof": True, "auto.offset.reset": "earliest"})
c.assign([TopicPartition(changelog, 0, 0)])
position = None
while True:
    m = c.poll(10)
    need(m is not None, f"no end of {changelog} within 10 s")
    if m.error():
        break
    if m.key() == b"p":
        position = m.value()
c.close()
need(position is not None, f"no position record in {changelog}")
txn = Producer({"bootstrap.servers": BROKERS, "transactional.id": f"open-{RUN_ID}"})
txn.init_transactions(30)
txn.begin_transaction()
txn.produce(changelog, key=b"p", value=position, partition=0)
txn.flush(30)

# More input; a second member starts while the transaction is open.
produce(50)
log = os.path.join(tmp, "second.err")
second = subprocess.Popen(["timeout", "120"] + KAGG + ["--until", "end", "-v", f"kafka:{topic}"], stdout=subprocess.PIPE,
                          stderr=open(log, "w"))
# After 5 s it says what it waits for (it would look hung otherwise).
deadline = time.time() + 15
while time.time() < deadline and "held back by a transaction" not in open(log).read():
    time.sleep(0.2)
check("restoring from the changelog" in open(log).read() and "held back by a transaction" in open(log).read(),
      "the waiting restore did not say why:\n" + open(log).read()[-1500:])
early = "state restored from" in open(log).read()
check(not early, "the restore ended with a transaction still open on the changelog:\n" + open(log).read()[-1500:])
check(second.poll() is None, f"the second member ended ({second.returncode}) before the transaction was decided")
txn.commit_transaction(30)
out, _ = second.communicate(timeout=120)
check(second.returncode == 0, f"the second member: exit {second.returncode}\n" + open(log).read()[-1500:])
check("state restored from" in open(log).read(), "the second member restored no state:\n" + open(log).read()[-1500:])
rows = last_counts(out)
check(rows == {f"u{i}": 30 for i in range(5)}, f"the second member's counts, from the restored state: {rows}")

# A group that a single process ran with --exactly-once (its checkpoint in
# the committed offsets' metadata) is refused to a member: its state is in
# that process's --state directory, and a member would read the input from
# its start and write every row again.
single, out_topic = f"single-{RUN_ID}", f"single-out-{RUN_ID}"
create_topics([(out_topic, 1)])
state = os.path.join(tmp, "single.state")
eos = f"kagg -q -G {single} --by user -a count --exactly-once --output kafka:{out_topic} --until end kafka:{topic}"
sh(f"{eos} --state {state}", timeout=60)
_, err = sh(eos, want=2, timeout=60)
check("committed by a single process with --state" in err, f"a member on a single process's group: {err}")
sh(f"{eos} --state {state}", timeout=60)  # the directory still goes on
finish()
