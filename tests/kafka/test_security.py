#!/usr/bin/env python3
"""Secured brokers (kpipe(7), SECURITY): a broker of its own, started by
tests/kafka/broker.sh with KPIPE_BROKER_SECURE=1 (SASL_SSL with SCRAM-SHA-512
and PLAIN over TLS, a throwaway CA, KRaft's StandardAuthorizer with ACLs).

- alice, allowed on one topic, produces and consumes over SCRAM and PLAIN,
  also as a group, and kagg reads the topic itself;
- a wrong password says "authentication failed: ..." within 10 s, exit 1;
- a topic the ACLs deny says "not authorized to read|write topic 'T'",
  exit 1, and kproduce's summary counts the failed messages;
- a TLS certificate that does not verify says so;
- the password never shows, even with -v;
- kadmin acl create, list (and --pattern match) and delete, checked with
  Kafka's own AclCommand; alice's kadmin requests that the ACLs deny are
  refused with the broker's reason, exit 1.
"""
import atexit
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kafkatest import RUN_ID, check, finish, make_tmp, need  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TMP = make_tmp("test_security")
main_dir = os.environ.get("KPIPE_BROKER_DIR") or os.path.join(HERE, "..", "..", "build", "kafka")
DIR = os.path.join(os.path.dirname(os.path.abspath(main_dir)), "kafka-secure")
# Below Linux's ephemeral range (32768-60999): a broker started while other
# tests connect could otherwise find its port taken by a client's socket.
PORT = int(os.environ.get("KPIPE_SECURE_BROKER_PORT", "29292"))
env = dict(os.environ, KPIPE_BROKER_SECURE="1", KPIPE_BROKER_DIR=DIR, KPIPE_BROKER_PORT=str(PORT))
os.makedirs(DIR, exist_ok=True)
# The jars the main broker fetched (broker_start runs first): no second download.
libs = os.path.join(DIR, "libs")
if not os.path.exists(libs):
    os.symlink(os.path.abspath(os.path.join(main_dir, "libs")), libs)


def broker(cmd):
    return subprocess.run(["bash", os.path.join(HERE, "broker.sh"), cmd], env=env, capture_output=True,
                          text=True, timeout=300)


started = broker("start")
need(started.returncode == 0, f"the secured broker did not start: {started.stderr[-3000:]}")
atexit.register(lambda: broker("stop"))
PLAIN_ADDR = f"127.0.0.1:{PORT}"
SECURE_ADDR = f"127.0.0.1:{PORT + 2}"
CA = os.path.join(DIR, "tls", "ca.pem")

ok_topic, denied = f"kpipe-sec-{RUN_ID}-ok", f"kpipe-sec-{RUN_ID}-denied"
admin = AdminClient({"bootstrap.servers": PLAIN_ADDR, "log_level": 0})
for f in admin.create_topics([NewTopic(ok_topic, 2, 1), NewTopic(denied, 1, 1)]).values():
    f.result()


def acl(*args):
    """Kafka's own ACL tool, over the open PLAINTEXT listener."""
    p = subprocess.run(["java", f"-Dlog4j.configuration=file:{HERE}/log4j.properties", "-cp",
                        os.path.join(libs, "*"), "kafka.admin.AclCommand", "--bootstrap-server", PLAIN_ADDR,
                        "--add", "--allow-principal", "User:alice", *args],
                       capture_output=True, text=True, timeout=120)
    need(p.returncode == 0, f"AclCommand {args}: {p.stderr[-2000:]}")


def acl_tool(*args):
    """Kafka's own ACL tool without added flags: its standard output."""
    p = subprocess.run(["java", f"-Dlog4j.configuration=file:{HERE}/log4j.properties", "-cp",
                        os.path.join(libs, "*"), "kafka.admin.AclCommand", "--bootstrap-server", PLAIN_ADDR,
                        *args], capture_output=True, text=True, timeout=120)
    need(p.returncode == 0, f"AclCommand {args}: {p.stderr[-2000:]}")
    return p.stdout


acl("--operation", "Read", "--operation", "Write", "--operation", "Describe", "--topic", ok_topic)
acl("--operation", "Read", "--group", "*")
# The denied topic: visible to alice (Describe), neither readable nor writable.
acl("--operation", "Describe", "--topic", denied)
p = Producer({"bootstrap.servers": PLAIN_ADDR, "log_level": 0})
for i in range(3):
    p.produce(denied, b'{"secret":%d}' % i)
p.flush(30)


def sasl(mechanism="SCRAM-SHA-512", password="alice-secret", ca=True):
    args = ["-b", SECURE_ADDR, "-X", "security.protocol=SASL_SSL", "-X", f"sasl.mechanisms={mechanism}",
            "-X", "sasl.username=alice", "-X", f"sasl.password={password}"]
    return args + (["-X", f"ssl.ca.location={CA}"] if ca else [])


def run(cmd, stdin=None, timeout=60):
    t0 = time.time()
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


lines = "".join('{"i":%d}\n' % i for i in range(100))
code, out, err, _ = run(["kproduce", *sasl(), "-k", "i", "-t", ok_topic], stdin=lines)
check(code == 0 and "100 messages delivered" in err, f"produce over SCRAM-SHA-512/TLS: exit {code}: {err}")
for mech in ("SCRAM-SHA-512", "PLAIN"):
    code, out, err, _ = run(["kconsume", "-q", "-e", *sasl(mech), ok_topic])
    got = sorted(out.splitlines(), key=lambda l: int(l[5:-1]))
    check(code == 0 and got == lines.splitlines(), f"consume over {mech}/TLS: exit {code}, {len(got)} lines: {err}")
code, out, err, _ = run(["kconsume", "-q", "-e", "-G", f"sec-g-{RUN_ID}", *sasl(), ok_topic])
check(code == 0 and len(out.splitlines()) == 100, f"consume as a group over SASL_SSL: exit {code}: {err}")
code, out, err, _ = run(["kagg", "-q", "-a", "count", "--until", "end", *sasl(), f"kafka:{ok_topic}"])
check(code == 0 and out.strip() == '{"count":100}', f"kagg kafka: over SASL_SSL: exit {code}, {out!r}: {err}")

# A wrong password: the broker's reason, quickly, not "no broker answered".
for tool in (["kproduce", "-t", ok_topic], ["kconsume", "-e", ok_topic], ["kagg", "-a", "count", f"kafka:{ok_topic}"]):
    code, out, err, took = run([tool[0], *sasl(password="not-alices-42"), *tool[1:]], stdin=lines)
    check(code == 1 and f"{tool[0]}: error: authentication failed: " in err and took < 10,
          f"{tool[0]} with a wrong password: exit {code} after {took:.1f} s: {err}")
code, out, err, took = run(["kconsume", "-e", *sasl("PLAIN", "not-alices-42"), ok_topic])
check(code == 1 and "authentication failed: " in err and took < 10, f"PLAIN, wrong password: exit {code}: {err}")

# Denied by the ACLs: named as such, and the produce summary counts the failures.
code, out, err, _ = run(["kconsume", "-e", *sasl(), denied])
check(code == 1 and f"not authorized to read topic '{denied}'" in err and out == "",
      f"reading a denied topic: exit {code}, {out!r}: {err}")
code, out, err, _ = run(["kproduce", *sasl(), "-t", denied], stdin=lines)
check(code == 1 and f"not authorized to write topic '{denied}'" in err and
      "100 lines in, 0 messages delivered, 100 failed" in err, f"writing a denied topic: exit {code}: {err}")
code, out, err, _ = run(["kconsume", "-e", *sasl(), f"kpipe-sec-{RUN_ID}-not-described"])
check(code == 1 and "not authorized to read topic" in err, f"a topic alice may not even see: exit {code}: {err}")

# TLS that does not verify (no CA given): says so.
code, out, err, took = run(["kconsume", "-e", *sasl(ca=False), ok_topic])
check(code == 1 and "TLS failed: " in err and "certificate verify failed" in err and took < 10,
      f"an unverified certificate: exit {code}: {err}")

# The password never shows, even with -v.
code, out, err, _ = run(["kconsume", "-v", "-q", "-e", *sasl(), ok_topic])
check(code == 0 and "sasl.password" in err and "alice-secret" not in err,
      f"-v shows the configuration without the password: exit {code}")
code, out, err, _ = run(["kconsume", "-v", "-e", *sasl(password="not-alices-42"), ok_topic])
check("not-alices-42" not in err, f"-v with a failing password printed it: {err[-500:]}")

# kadmin acl over the open listener (a super user there), checked with AclCommand.
prefix = f"kpipe-sec-{RUN_ID}-"
bob = {"principal": "User:bob", "host": "*", "operation": "read", "permission": "allow",
       "resource_type": "topic", "resource": prefix, "pattern": "prefixed"}
code, out, err, _ = run(["kadmin", "-b", PLAIN_ADDR, "acl", "create", "--principal", "User:bob",
                         "--operation", "read", "--topic", prefix, "--pattern", "prefixed"])
check(code == 0 and [json.loads(l) for l in out.splitlines()] == [bob], f"kadmin acl create: exit {code}: {out} {err}")
listed = acl_tool("--list", "--principal", "User:bob")
check(f"name={prefix}, patternType=PREFIXED" in listed and "operation=READ, permissionType=ALLOW" in listed,
      f"AclCommand does not list bob's binding: {listed}")
code, out, err, _ = run(["kadmin", "-b", PLAIN_ADDR, "acl", "list", "--principal", "User:bob"])
check(code == 0 and [json.loads(l) for l in out.splitlines()] == [bob], f"kadmin acl list bob: {out} {err}")
code, out, err, _ = run(["kadmin", "-b", PLAIN_ADDR, "acl", "list", "--topic", ok_topic, "--pattern", "match"])
rows = [json.loads(l) for l in out.splitlines()]
check(code == 0 and bob in rows and any(r["principal"] == "User:alice" and r["resource"] == ok_topic for r in rows),
      f"acl list --pattern match finds the prefixed and the literal bindings: {rows} {err}")
code, out, err, _ = run(["kadmin", "-b", PLAIN_ADDR, "acl", "delete", "--principal", "User:bob"])
check(code == 0 and [json.loads(l) for l in out.splitlines()] == [bob], f"kadmin acl delete: {out} {err}")
check(f"name={prefix}" not in acl_tool("--list", "--principal", "User:bob"), "bob's binding is still there")
# alice may not create topics nor read the ACLs.
code, out, err, _ = run(["kadmin", *sasl(), "topic", "create", f"{prefix}alices"])
check(code == 1 and "uthorization failed" in err, f"alice creating a topic: exit {code}: {err}")
code, out, err, _ = run(["kadmin", *sasl(), "acl", "list"])
check(code == 1 and "uthorization failed" in err, f"alice listing ACLs: exit {code}: {err}")
# A seek over a topic alice may read and one she may not: the broker
# commits each partition on its own; the moved ones get their rows, the
# refused one is named.
code, out, err, _ = run(["kadmin", *sasl(), "group", "seek", f"kpipe-sec-{RUN_ID}-seek", ok_topic, denied,
                         "--to", "earliest"])
rows = [json.loads(l) for l in out.splitlines()]
check(code == 1 and [(r["topic"], r["partition"]) for r in rows] == [(ok_topic, 0), (ok_topic, 1)] and
      f"{denied}:0:" in err and "uthorization" in err, f"a seek partly refused: exit {code}: {rows} {err}")
finish()
