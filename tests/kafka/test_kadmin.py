#!/usr/bin/env python3
"""kadmin(1) against the real broker, each change checked with an
independent client (confluent_kafka's AdminClient and Consumer): topic
list/describe/create/delete/add-partitions/config/trim, group
list/describe/seek/delete, cluster, the table output (the default on a terminal), and the errors: a
topic that exists (1, or 0 with --if-not-exists), an unknown topic or group,
a seek on a group with members, a config key or value the broker refuses,
and usage errors (2) before any connection. The ACL subcommands need an
authorizer: test_security.py runs them on its secured broker.
"""
import json
import os
import pty
import shlex
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from kafkatest import BROKERS, RUN_ID, admin, check, create_topic, end_offset, fail, finish, need

T = f"adm-{RUN_ID}"


def run(args, want=0, timeout=60):
    """kadmin ARGS...: (rows as dicts, stderr text). A status other than
    `want` is a failed check."""
    p = subprocess.run(["timeout", str(timeout), "kadmin"] + args, capture_output=True)
    out, err = p.stdout.decode(), p.stderr.decode()
    if p.returncode != want:
        sys.stderr.write(f"--- stdout\n{out[:2000]}\n--- stderr\n{err[:2000]}\n")
        check(False, f"exit {p.returncode}, want {want}: kadmin {shlex.join(args)}")
    rows = []
    if want == 0 and "-o" not in args:
        rows = [json.loads(line) for line in out.splitlines()]
    return rows, err, out


def topic_meta(name):
    # All topics: a metadata request that names a missing topic would make
    # the broker create it (auto.create.topics.enable).
    md = admin.list_topics(timeout=10).topics.get(name)
    return None if md is None or md.error is not None else md


def topic_configs(name):
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    return {k: v.value for k, v in admin.describe_configs([res])[res].result().items()}


def wait_for(cond, what, timeout=20):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            check(False, f"timed out waiting for {what}")
            return False
        time.sleep(0.2)
    return True


# ---- usage errors, before any connection (no broker on port 1) ----
for args, needle in [([], "no subcommand"), (["tpoic", "list"], "unknown subcommand 'tpoic'"),
                     (["topic", "lst"], "unknown subcommand 'topic lst'"),
                     (["topic", "list", "-p", "3"], "--partitions goes with topic create"),
                     (["topic", "create"], "topic create takes TOPIC"),
                     (["group", "seek", "g"], "needs --to"),
                     (["group", "seek", "g", "--to", "yesterdayish"], "--to yesterdayish"),
                     (["topic", "trim", "t"], "needs --before"),
                     (["topic", "trim", "t", "--before", "-5"], "an offset is 0 or more"),
                     (["topic", "list", "-o", "yaml"], "-o yaml"),
                     (["acl", "create", "--topic", "t"], "needs --principal"),
                     (["topic", "create", "t", "-p", "4294967297"], "partition count"),
                     (["topic", "add-partitions", "t", "-n", "4294967296"], "N from 1 to 100000"),
                     (["cluster", "describe", "junk"], "takes no arguments"),
                     (["cluster", "--timeout", "30d"], "at most 1h")]:
    _, err, _ = run(["-b", "127.0.0.1:1"] + args, want=2)
    check(needle in err and "Try 'kadmin --help'" in err, f"usage error of {args}: {err!r}")

# ---- topic create: checked with the AdminClient ----
rows, _, _ = run(["topic", "create", f"{T}-a", f"{T}-c", "-p", "3", "-r", "1",
                  "--topic-config", "retention.ms=86400000", "-c", "cleanup.policy=compact"])
check(rows == [{"topic": f"{T}-a", "status": "created"}, {"topic": f"{T}-c", "status": "created"}],
      f"create rows: {rows}")
for name in (f"{T}-a", f"{T}-c"):
    wait_for(lambda: topic_meta(name) is not None, f"{name} in metadata")
    md = topic_meta(name)
    check(md is not None and len(md.partitions) == 3, f"{name}: 3 partitions: {md and len(md.partitions)}")
    cfg = topic_configs(name)
    check(cfg.get("retention.ms") == "86400000" and cfg.get("cleanup.policy") == "compact",
          f"{name} configs: {cfg.get('retention.ms')} {cfg.get('cleanup.policy')}")
# -b: the broker's defaults (one partition here), then 3 more.
rows, _, _ = run(["topic", "create", f"{T}-b"])
check(rows == [{"topic": f"{T}-b", "status": "created"}], f"create with defaults: {rows}")
wait_for(lambda: topic_meta(f"{T}-b") is not None, "-b in metadata")
check(len(topic_meta(f"{T}-b").partitions) == 1, "the broker's num.partitions")
run(["topic", "add-partitions", f"{T}-b", "-n", "2"])
wait_for(lambda: len(topic_meta(f"{T}-b").partitions) == 3, "-b has 3 partitions")
_, err, _ = run(["topic", "create", f"{T}-a", "-p", "3"], want=1)
check(f"topic '{T}-a' already exists" in err, f"exists error: {err}")
rows, _, _ = run(["topic", "create", f"{T}-a", "-p", "3", "--if-not-exists"])
check(rows == [{"topic": f"{T}-a", "status": "exists"}], f"--if-not-exists: {rows}")
rows, _, _ = run(["topic", "create", f"{T}-dry", "-p", "2", "--dry-run"])
check(rows == [{"topic": f"{T}-dry", "status": "valid"}], f"--dry-run rows: {rows}")
time.sleep(0.5)
check(topic_meta(f"{T}-dry") is None, "--dry-run created the topic")
_, err, _ = run(["topic", "create", f"{T}-bad", "-c", "retention.ms=soon"], want=1)
check("retention.ms" in err and topic_meta(f"{T}-bad") is None, f"bad config value: {err}")
_, err, _ = run(["topic", "create", f"{T}-bad", "-c", "no.such.config=1"], want=1)
check("no.such.config" in err, f"unknown config key: {err}")

# ---- topic list and describe ----
rows, _, _ = run(["topic", "list"])
names = [r["topic"] for r in rows]
check(f"{T}-a" in names and names == sorted(names) and "__consumer_offsets" not in names,
      f"topic list: {names[:10]}")
check({"topic": f"{T}-a", "partitions": 3, "replicas": 1, "internal": False} in rows, "topic list row")
rows, _, _ = run(["topic", "list", "--internal"])
check(any(r["topic"] == "__consumer_offsets" and r["internal"] for r in rows), "--internal")

BASE = (int(time.time()) - 3600) * 1000  # an hour ago: within any retention
p = Producer({"bootstrap.servers": BROKERS})
for i in range(50):
    p.produce(f"{T}-b", value=json.dumps({"i": i}).encode(), partition=i % 3, timestamp=BASE + i * 1000)
need(p.flush(30) == 0, "produce to -b")
rows, _, _ = run(["topic", "describe", f"{T}-b"])
parts = [r for r in rows if "partition" in r]
confs = [r for r in rows if "config" in r]
check([(r["partition"], r["low"], r["high"], r["messages"]) for r in parts] ==
      [(0, 0, 17, 17), (1, 0, 17, 17), (2, 0, 16, 16)], f"describe partitions: {parts}")
check(all(r["leader"] == 1 and r["replicas"] == [1] and r["isr"] == [1] for r in parts), "leaders")
check(not any(r["source"] == "dynamic_topic_config" for r in confs), f"-b has no topic configs: {confs}")
rows, _, _ = run(["topic", "describe", f"{T}-a"])
check({"topic": f"{T}-a", "config": "retention.ms", "value": "86400000", "source": "dynamic_topic_config"} in rows,
      f"describe configs: {rows}")
check(all(r["source"] != "default_config" for r in confs), "describe shows only configs that are set")
# kconsume -L prints the same partition rows (one implementation).
lout = subprocess.run(["kconsume", "-L", f"{T}-b"], capture_output=True).stdout.decode()
check([json.loads(x) for x in lout.splitlines()] == parts, "kconsume -L rows equal kadmin's partition rows")
_, err, _ = run(["topic", "describe", f"{T}-nothing"], want=1)
check(f"topic '{T}-nothing' does not exist" in err, f"describe unknown: {err}")
# Of several, the ones that exist are described and the missing one named.
_, err, out = run(["topic", "describe", f"{T}-b", f"{T}-nothing"], want=1)
rows = [json.loads(line) for line in out.splitlines()]
check([r for r in rows if "partition" in r] == parts and any("config" in r for r in rows) and
      f"topic '{T}-nothing' does not exist" in err, f"describe of several, one missing: {rows} {err}")

# ---- topic config: set, delete, errors ----
rows, _, _ = run(["topic", "config", f"{T}-a", "retention.ms=3600000", "segment.ms=600000"])
check(len(rows) == 2 and rows[0]["action"] == "set", f"config set rows: {rows}")
cfg = topic_configs(f"{T}-a")
check(cfg["retention.ms"] == "3600000" and cfg["segment.ms"] == "600000" and cfg["cleanup.policy"] == "compact",
      f"config after set (others kept): {cfg['retention.ms']} {cfg['segment.ms']} {cfg['cleanup.policy']}")
_, err, _ = run(["topic", "config", f"{T}-a", "--delete", "no.such.key"], want=1)
check("has no config 'no.such.key'" in err, f"--delete of a config the topic does not have: {err}")
run(["topic", "config", f"{T}-a", "--delete", "segment.ms"])
cfg = topic_configs(f"{T}-a")
check(cfg["segment.ms"] == "604800000" and cfg["retention.ms"] == "3600000", f"after --delete: {cfg['segment.ms']}")
# A key deleted twice in one command is one change.
run(["topic", "config", f"{T}-a", "segment.ms=600000"])
rows, _, _ = run(["topic", "config", f"{T}-a", "--delete", "segment.ms", "--delete", "segment.ms"])
check(rows == [{"topic": f"{T}-a", "config": "segment.ms", "value": None, "action": "delete"}], f"a delete given twice: {rows}")
# A config the topic does not set itself: nothing to delete, said so, as Kafka's ConfigCommand does.
_, err, out = run(["topic", "config", f"{T}-a", "--delete", "segment.ms"], want=1)
check(out == "" and "does not set 'segment.ms' itself (its value comes from default_config)" in err,
      f"--delete of a config not set: {out!r} {err}")
_, err, _ = run(["topic", "config", f"{T}-a", "retention.ms=1000", "--delete", "retention.ms"], want=2)
check("retention.ms is both set and deleted" in err, f"set and delete: {err}")
_, err, _ = run(["topic", "config", f"{T}-a", "retention.ms=soon"], want=1)
check("retention.ms" in err, f"bad value: {err}")
_, err, _ = run(["topic", "config", f"{T}-a", "no.such.config=1"], want=1)
check("no.such.config" in err, f"bad key: {err}")
check(topic_configs(f"{T}-a")["retention.ms"] == "3600000", "a refused change changed nothing")
rows, _, _ = run(["topic", "config", f"{T}-a", "--all"])
check(len(rows) > 20 and any(r["source"] == "default_config" for r in rows), "config --all")

# ---- add-partitions ----
rows, _, _ = run(["topic", "add-partitions", f"{T}-a", "-n", "2"])
check(rows == [{"topic": f"{T}-a", "partitions_before": 3, "partitions": 5}], f"add-partitions: {rows}")
_, err, _ = run(["topic", "add-partitions", f"{T}-a", "-n", "99999999999"], want=2)
check("N from 1 to 100000" in err, f"add-partitions -n too large: {err}")
_, err, _ = run(["topic", "add-partitions", f"{T}-a", "-n", "99999"], want=2)
check("has 5 partitions: 99999 more would be more than 100000" in err, f"add-partitions past the bound: {err}")
wait_for(lambda: topic_meta(f"{T}-a") and len(topic_meta(f"{T}-a").partitions) == 5, "5 partitions")

# ---- trim: by offset, by time, dry run, past the end ----
c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"w-{RUN_ID}"})
low = lambda part: c.get_watermark_offsets(TopicPartition(f"{T}-b", part), timeout=10)[0]
rows, _, _ = run(["topic", "trim", f"{T}-b:0", "--before", "5", "--dry-run"])
check(rows == [{"topic": f"{T}-b", "partition": 0, "low_before": 0, "low": 5}] and low(0) == 0, f"trim dry: {rows}")
rows, _, _ = run(["topic", "trim", f"{T}-b:0", "--before", "5"])
check(rows == [{"topic": f"{T}-b", "partition": 0, "low_before": 0, "low": 5}], f"trim rows: {rows}")
check(low(0) == 5, f"low watermark after trim: {low(0)}")
# Partition 1 holds i = 1, 4, 7, ... at BASE + i s: @BASE+10s cuts before i=10 (offset 3).
rows, _, _ = run(["topic", "trim", f"{T}-b:1", "--before", f"@{BASE + 10000}"])
check(rows and rows[0]["low"] == 3 and low(1) == 3, f"trim by time: {rows} {low(1)}")
_, err, _ = run(["topic", "trim", f"{T}-b:2", "--before", "99"], want=1)
check("past the end" in err, f"trim past end: {err}")
_, err, _ = run(["topic", "trim", f"{T}-b:7", "--before", "end"], want=1)
check("has no partition 7" in err, f"trim unknown partition: {err}")
# A partition that does not exist is named even beside its whole topic.
_, err, _ = run(["topic", "trim", f"{T}-b:7", f"{T}-b", "--before", "end", "--dry-run"], want=1)
check("has no partition 7" in err, f"trim of a whole topic and a partition it does not have: {err}")
# A partition named twice is trimmed once, in the dry run as in the real one.
for dry in (["--dry-run"], []):
    rows, _, _ = run(["topic", "trim", f"{T}-b:0", f"{T}-b:0,0", "--before", "6"] + dry)
    check(rows == [{"topic": f"{T}-b", "partition": 0, "low_before": 5, "low": 6}], f"trim of a partition named twice {dry}: {rows}")
# Over several partitions it trims each one it can and names every failure
# (a topic of its own: the group tests below need -b's low watermarks).
run(["topic", "create", f"{T}-t", "-p", "2"])
for i in range(20):
    p.produce(f"{T}-t", value=b"{}", partition=i % 2)
need(p.flush(30) == 0, "produce to -t")
_, err, out = run(["topic", "trim", f"{T}-t:0,1", f"{T}-t:7", "--before", "6"], want=1)
rows = [json.loads(line) for line in out.splitlines()]
check(rows == [{"topic": f"{T}-t", "partition": p, "low_before": 0, "low": 6} for p in (0, 1)] and
      "has no partition 7" in err, f"trim of several, one missing: {rows} {err}")
p.produce(f"{T}-t", value=b"{}", partition=0)
need(p.flush(30) == 0, "produce to -t")
_, err, out = run(["topic", "trim", f"{T}-t", "--before", "11"], want=1)
check(out.splitlines() == [json.dumps({"topic": f"{T}-t", "partition": 0, "low_before": 6, "low": 11},
                                      separators=(",", ":"))] and "-t:1: offset 11 is past the end (10)" in err,
      f"trim of several, one too short: {out} {err}")
_, err, _ = run(["topic", "trim", f"{T}-c", "--before", "end"], want=1)
check("has cleanup.policy=compact" in err, f"trim of a compacted topic: {err}")
_, err, out = run(["topic", "trim", f"{T}-c", "--before", "end", "--dry-run"], want=1)
check(out == "" and "has cleanup.policy=compact" in err, f"dry run of a trim of a compacted topic: {out} {err}")

# ---- groups: a live member, describe, seek refused, then seek and delete ----
G = f"adm-g-{RUN_ID}"
member = Consumer({"bootstrap.servers": BROKERS, "group.id": G, "client.id": "adm-member",
                   "group.instance.id": "adm-instance", "enable.auto.commit": False,
                   # A static member stays in the group after close until its
                   # session times out: the shortest the broker allows.
                   "session.timeout.ms": 6000,
                   "auto.offset.reset": "earliest"})
member.subscribe([f"{T}-b"])
got = 0
deadline = time.time() + 30
while got < 20 and time.time() < deadline:
    m = member.poll(0.5)
    if m is not None and not m.error():
        got += 1
need(got == 20, f"the member read {got} records")
member.commit(asynchronous=False)
committed = {tp.partition: tp.offset for tp in member.committed(
    [TopicPartition(f"{T}-b", i) for i in range(3)], timeout=10)}
rows, _, _ = run(["group", "list"])
check({"group": G, "state": "Stable", "simple": False} in rows, f"group list: {[r for r in rows if r['group'] == G]}")
rows, _, _ = run(["group", "describe", G])
head = [r for r in rows if "state" in r]
members = [r for r in rows if "member_id" in r]
lag = [r for r in rows if "lag" in r]
check(head and head[0]["state"] == "Stable" and head[0]["members"] == 1, f"describe head: {head}")
check(members and members[0]["client_id"] == "adm-member" and members[0]["instance_id"] == "adm-instance" and
      members[0]["partitions"] == [f"{T}-b:0", f"{T}-b:1", f"{T}-b:2"], f"describe member: {members}")
check([(r["partition"], r["committed"]) for r in lag] ==
      [(p, committed[p] if committed[p] >= 0 else None) for p in range(3)], f"describe lag: {lag} {committed}")
_, err, _ = run(["group", "seek", G, "--to", "earliest"], want=1)
check("has 1 active member" in err, f"seek on a live group: {err}")
member.close()
wait_for(lambda: any(r["group"] == G and r["state"] == "Empty" for r in run(["group", "list"])[0]), "group Empty",
         timeout=30)
rows, _, _ = run(["group", "seek", G, f"{T}-b", "--to", "-2", "--dry-run"])
check([r["to"] for r in rows] == [15, 15, 14], f"seek -N dry run: {rows}")
rows, _, _ = run(["group", "seek", G, "--to=-2", "--dry-run"])
check([(r["partition"], r["committed"]) for r in rows] == [(p, o) for p, o in sorted(committed.items()) if o >= 0],
      f"seek without topics: the committed partitions: {rows} {committed}")
rows, _, _ = run(["group", "seek", G, f"{T}-b:0,1", f"{T}-b:1", "--to", "earliest"])
check([(r["partition"], r["to"]) for r in rows] == [(0, 6), (1, 3)], f"seek earliest (partition 1 named twice): {rows}")
check2 = Consumer({"bootstrap.servers": BROKERS, "group.id": G})
now = {tp.partition: tp.offset for tp in check2.committed([TopicPartition(f"{T}-b", i) for i in range(3)], timeout=10)}
check2.close()
check(now[0] == 6 and now[1] == 3 and now[2] == committed[2], f"committed after seek: {now}")
rows, _, _ = run(["group", "seek", G, f"{T}-b", "--to", f"@{BASE + 30000}"])
check([r["to"] for r in rows] == [10, 10, 10], f"seek by time: {rows}")
rows, _, _ = run(["group", "seek", G, f"{T}-b:2", "--to", "1000"])
check(rows[0]["to"] == 16, f"seek clamps to the end: {rows}")
_, err, _ = run(["group", "describe", f"adm-nothing-{RUN_ID}"], want=1)
check("does not exist" in err, f"describe unknown group: {err}")
# Of several, the ones that exist are described and the missing one named, wherever it stands.
_, err, out = run(["group", "describe", f"adm-nothing-{RUN_ID}", G], want=1)
rows = [json.loads(line) for line in out.splitlines()]
check(any(r.get("state") for r in rows if r["group"] == G) and f"group 'adm-nothing-{RUN_ID}' does not exist" in err,
      f"describe of several groups, the first missing: {rows} {err}")
_, err, _ = run(["group", "seek", f"adm-nothing-{RUN_ID}", "--to", "earliest"], want=1)
check("does not exist: name the topics" in err, f"seek of an unknown group without topics: {err}")
rows, _, _ = run(["group", "delete", G])
check(rows == [{"group": G, "status": "deleted"}], f"group delete: {rows}")
check(not any(r["group"] == G for r in run(["group", "list"])[0]), "group gone from the list")
_, err, _ = run(["group", "delete", G], want=1)
check("does not exist" in err, f"delete unknown group: {err}")

# ---- cluster ----
rows, _, _ = run(["cluster"])
md = admin.list_topics(timeout=10)
check(len(rows) == 1 and rows[0]["broker"] == 1 and rows[0]["controller"] and
      rows[0]["cluster_id"] == md.cluster_id and rows[0]["port"] == int(BROKERS.rsplit(":", 1)[1]),
      f"cluster: {rows} ({md.cluster_id})")

# ---- ACLs on a broker without an authorizer (test_security.py has one) ----
_, err, _ = run(["acl", "list"], want=1)
check("Security features are disabled" in err, f"acl list without an authorizer: {err}")

# ---- table output ----
_, _, out = run(["topic", "describe", f"{T}-b", "-o", "table"])
lines = out.splitlines()
check(lines[0].split() == ["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH", "MESSAGES"],
      f"table head: {lines[0]!r}")
check(lines[1].split() == [f"{T}-b", "0", "1", "1", "1", "6", "17", "11"], f"table row: {lines[1]!r}")
check(lines[4] == "" and lines[5].split() == ["TOPIC", "CONFIG", "VALUE", "SOURCE"], f"second table: {lines[4:6]}")
check(lines[1][lines[0].index("LEADER")] == "1", "columns aligned")

# On a terminal the table is the default.
pid, fd = pty.fork()
if pid == 0:
    os.execvp("kadmin", ["kadmin", "cluster"])
tty_out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    tty_out += chunk
os.waitpid(pid, 0)
check(tty_out.decode().split()[:5] == ["CLUSTER-ID", "BROKER", "HOST", "PORT", "CONTROLLER"],
      f"kadmin on a terminal prints a table: {tty_out[:200]!r}")

# ---- delete: one missing among several ----
_, err, out = run(["topic", "delete", f"{T}-a", f"{T}-nothing"], want=1)
check(out == json.dumps({"topic": f"{T}-a", "status": "deleted"}, separators=(",", ":")) + "\n" and
      f"topic '{T}-nothing' does not exist" in err, f"delete with a missing topic: {out!r} {err}")
wait_for(lambda: topic_meta(f"{T}-a") is None, "topic a deleted")
rows, _, out = run(["topic", "delete", f"{T}-a", f"{T}-b", f"{T}-c", f"{T}-nothing", "--if-exists"])
check(sorted((r["topic"], r["status"]) for r in rows) ==
      [(f"{T}-a", "absent"), (f"{T}-b", "deleted"), (f"{T}-c", "deleted"), (f"{T}-nothing", "absent")],
      f"delete --if-exists: {rows}")
wait_for(lambda: topic_meta(f"{T}-a") is None and topic_meta(f"{T}-b") is None, "topics deleted")

finish()
