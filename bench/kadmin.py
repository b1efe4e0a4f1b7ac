#!/usr/bin/env python3
"""Create or delete benchmark topics with confluent_kafka's AdminClient.

Usage:
  kadmin.py BROKERS create PARTITIONS TOPIC...   create fresh topics, wait for leaders
  kadmin.py BROKERS delete TOPIC...              delete topics (missing ones are ignored)

create fails if a topic already exists (the benchmark wants fresh topics).
Needs the confluent-kafka package: pip install confluent-kafka
"""
import sys
import time

try:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    print("kadmin.py: python module confluent_kafka missing; "
          "install it with: pip install confluent-kafka", file=sys.stderr)
    sys.exit(3)


def wait_leaders(admin, topics, partitions, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=10)
        ready = True
        for t in topics:
            tm = md.topics.get(t)
            if (tm is None or tm.error is not None
                    or len(tm.partitions) != partitions
                    or any(p.leader < 0 for p in tm.partitions.values())):
                ready = False
                break
        if ready:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("topics have no leaders after %.0f s" % timeout)
        time.sleep(0.2)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    brokers, cmd = argv[1], argv[2]
    admin = AdminClient({"bootstrap.servers": brokers})
    rc = 0
    if cmd == "create":
        partitions = int(argv[3])
        topics = argv[4:]
        futs = admin.create_topics(
            [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics],
            operation_timeout=30)
        for t, f in futs.items():
            try:
                f.result()
            except KafkaException as e:
                print("kadmin.py: create %s: %s" % (t, e), file=sys.stderr)
                rc = 1
        if rc == 0:
            wait_leaders(admin, topics, partitions)
    elif cmd == "delete":
        topics = argv[3:]
        if not topics:
            return 0
        futs = admin.delete_topics(topics, operation_timeout=30)
        for t, f in futs.items():
            try:
                f.result()
            except KafkaException as e:
                if e.args[0].code() != e.args[0].UNKNOWN_TOPIC_OR_PART:
                    print("kadmin.py: delete %s: %s" % (t, e), file=sys.stderr)
                    rc = 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
