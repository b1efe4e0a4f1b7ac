"""Shared helpers of the Kafka tests (tests/kafka/test_*.py): the broker and a
run id from the environment, failure reporting, a bash runner, topics created
through confluent_kafka's AdminClient (deleted at exit) and a reader.

Not named test_*.py: CMake makes a test of every tests/kafka/test_*.py.
The importing script's own directory is on sys.path.
"""
import atexit
import os
import shutil
import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BROKERS = os.environ.get("KPIPE_BROKERS", "127.0.0.1:24092")
RUN_ID = f"{os.getpid()}-{int(time.time() * 1000)}"
ERRORS = []


def make_tmp(name):
    """A fresh scratch directory: $KPIPE_TEST_TMP or /tmp/kpipe-test-NAME-PID."""
    tmp = os.environ.get("KPIPE_TEST_TMP") or f"/tmp/kpipe-test-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    return tmp


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    """A failed check is reported at the end, so one run shows every mismatch."""
    if not cond:
        print(f"FAIL: {msg}", file=sys.stderr)
        ERRORS.append(msg)
    return cond


def need(cond, msg):
    """A failed precondition ends the test at once."""
    if not cond:
        fail(msg)


def finish():
    """Ends the test: fails if any check failed, else prints ok."""
    if ERRORS:
        fail(f"{len(ERRORS)} check(s) failed (see above)")
    print("ok")


def sh(cmd, want=0, stdin=None, timeout=60):
    """Runs a bash pipeline (pipefail) with stdin bytes; returns (stdout bytes,
    stderr text). A timeout or an exit status other than `want` ends the test."""
    try:
        p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], input=stdin, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        # What it wrote until then tells where it waited.
        for name, text in (("stdout", e.stdout), ("stderr", e.stderr)):
            if text:
                sys.stderr.write(f"--- {name}\n" + text[-3000:].decode("utf-8", "replace") + "\n")
        fail(f"timed out after {timeout}s: {cmd}")
    if p.returncode != want:
        sys.stderr.write("--- stdout\n" + p.stdout[:3000].decode("utf-8", "replace"))
        sys.stderr.write("\n--- stderr\n" + p.stderr[:3000].decode("utf-8", "replace") + "\n")
        fail(f"exit {p.returncode}, want {want}: {cmd}")
    return p.stdout, p.stderr.decode("utf-8", "replace")


admin = AdminClient({"bootstrap.servers": BROKERS})
CREATED = []


def end_offset(consumer, topic, partition, timeout=20):
    """The partition's end offset. Right after a topic is created its leader
    may not be known yet (NOT_LEADER_FOR_PARTITION, UNKNOWN_TOPIC...): such
    retriable answers are retried until `timeout` seconds have passed."""
    deadline = time.time() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        except KafkaException as e:
            if time.time() > deadline:
                raise
            print(f"note: {topic}:{partition} not ready yet ({e}), retrying", file=sys.stderr)
            time.sleep(0.2)


def create_topics(specs, config=None):
    """specs: (name, partitions) or (name, partitions, config); a topic
    without its own config gets `config` (default none). Returns once every
    partition has a leader that answers offset queries."""
    new = [NewTopic(s[0], s[1], 1, config=s[2] if len(s) > 2 else dict(config or {}))
           for s in specs]
    for name, fut in admin.create_topics(new, operation_timeout=30).items():
        fut.result()
        CREATED.append(name)
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"ready-{RUN_ID}"})
    for s in specs:
        for p in range(s[1]):
            end_offset(c, s[0], p)
    c.close()


def create_topic(name, partitions, config=None):
    create_topics([(name, partitions, config or {})])


def delete_topics():
    """At exit, pass or fail, the topics of this run go (the broker is shared);
    KPIPE_KEEP_TOPICS=1 keeps them for inspection."""
    if not CREATED or os.environ.get("KPIPE_KEEP_TOPICS") == "1":
        return
    try:
        for fut in admin.delete_topics(CREATED, operation_timeout=30).values():
            fut.result()
    except Exception as e:  # cleanup is best effort
        print(f"note: could not delete this run's topics: {e}", file=sys.stderr)


atexit.register(delete_topics)


def read_records(topic, partitions=None, group="reader", config=None):
    """Every message of topic up to the end offsets found at the start, with
    confluent_kafka: {partition: [record...]} in offset order, a record being a
    dict of partition, offset, key, value, headers, timestamp. partitions: a
    count (partitions 0..N-1), or None for all the topic has. The consumer's
    group id is GROUP-RUN_ID; `config` adds to its configuration."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"{group}-{RUN_ID}",
                  "enable.auto.commit": False, **(config or {})})
    if partitions is None:
        parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    else:
        parts = list(range(partitions))
    ends = {p: end_offset(c, topic, p) for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out = {p: [] for p in parts}
    done = {p for p in parts if ends[p] == 0}
    deadline = time.time() + 30
    while len(done) < len(parts):
        need(time.time() < deadline, f"reading {topic} back timed out: {ends} {done}")
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF (with enable.partition.eof)
                if m.offset() >= ends[m.partition()]:
                    done.add(m.partition())
                continue
            fail(f"reading {topic}: {m.error()}")
        out[m.partition()].append({
            "partition": m.partition(), "offset": m.offset(), "key": m.key(), "value": m.value(),
            "headers": list(m.headers() or []), "timestamp": m.timestamp()})
        if m.offset() + 1 >= ends[m.partition()]:
            done.add(m.partition())
    c.close()
    return out
