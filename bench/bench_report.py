#!/usr/bin/env python3
"""Summarise bench/kafka_bench.sh results (called by it).

Usage: bench_report.py RESULTS.tsv N BYTES BROKERS PARTITIONS

RESULTS.tsv rows: phase tool run topic status wall_s rss_kib user_s sys_s.
Only rows with status OK enter the medians; FAILED rows are counted.
"""
import statistics
import sys

GOAL_SPEED = 1.3  # ours/kcat throughput at least this
GOAL_RSS = 1.0    # ours/kcat peak RSS at most this
GOAL_CPU = 1.0    # kconsume/kcat CPU seconds at most this (kcat's consume wall is mostly fetch stalls)


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    path, n, nbytes, brokers, parts = argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5]
    rows = []
    with open(path) as f:
        for line in f:
            ph, tool, run, topic, status, wall, rss, user, sys_ = line.rstrip("\n").split("\t")
            rows.append(dict(phase=ph, tool=tool, status=status, wall=float(wall),
                             rss=int(rss), cpu=float(user) + float(sys_)))

    stats = {}
    for ph, tool in (("produce", "kproduce"), ("produce", "kcat"),
                     ("consume", "kconsume"), ("consume", "kcat")):
        all_ = [r for r in rows if r["phase"] == ph and r["tool"] == tool]
        ok = [r for r in all_ if r["status"] == "OK" and r["wall"] > 0]
        s = dict(ok=len(ok), runs=len(all_))
        if ok:
            s["wall"] = statistics.median(r["wall"] for r in ok)
            s["msgs"] = statistics.median(n / r["wall"] for r in ok)
            s["mbs"] = statistics.median(nbytes / 1e6 / r["wall"] for r in ok)
            s["rss"] = statistics.median(r["rss"] for r in ok) / 1024.0
            s["cpu"] = statistics.median(r["cpu"] for r in ok)
        stats[(ph, tool)] = s

    print("kpipe Kafka benchmark: %d lines, %.2f MB (input file incl. newlines), "
          "%s partitions/topic, broker %s" % (n, nbytes / 1e6, parts, brokers))
    print("Goal: kproduce and kconsume throughput >= %.1fx kcat's, peak RSS <= kcat's; "
          "kconsume CPU <= kcat's" % GOAL_SPEED)
    print("Medians over OK runs; wall time and peak RSS from /usr/bin/time.")
    print()
    hdr = "%-8s %-9s %7s %9s %11s %8s %13s %8s" % (
        "phase", "tool", "ok/runs", "wall s", "msgs/s", "MB/s", "peak RSS MiB", "CPU s")
    print(hdr)
    print("-" * len(hdr))
    for (ph, tool), s in stats.items():
        okr = "%d/%d" % (s["ok"], s["runs"])
        if s["ok"]:
            print("%-8s %-9s %7s %9.2f %11.0f %8.2f %13.1f %8.2f" % (
                ph, tool, okr, s["wall"], s["msgs"], s["mbs"], s["rss"], s["cpu"]))
        else:
            print("%-8s %-9s %7s %9s %11s %8s %13s %8s" % (ph, tool, okr, *["n/a"] * 5))
    print()
    hdr2 = "%-40s %8s %8s  %s" % ("ratio", "value", "goal", "result")
    print(hdr2)
    print("-" * len(hdr2))
    for ph, ours in (("produce", "kproduce"), ("consume", "kconsume")):
        a, b = stats[(ph, ours)], stats[(ph, "kcat")]
        goals = [("msgs/s", "msgs", GOAL_SPEED, True), ("peak RSS", "rss", GOAL_RSS, False)]
        if ph == "consume":
            goals.append(("CPU s", "cpu", GOAL_CPU, False))
        for what, key, goal, better_high in goals:
            label = "%s %s %s/kcat" % (ph, what, ours)
            if a["ok"] and b["ok"]:
                v = a[key] / b[key]
                ok = v >= goal if better_high else v <= goal
                print("%-40s %7.2fx %s%5.2fx  %s" % (label, v, ">=" if better_high else "<=",
                                                    goal, "PASS" if ok else "MISS"))
            else:
                print("%-40s %8s %s%5.2fx  %s" % (label, "n/a", ">=" if better_high else "<=",
                                                 goal, "MISS (no OK runs)"))
    failed = sum(1 for r in rows if r["status"] != "OK")
    if failed:
        print()
        print("%d run(s) FAILED (wrong exit status or message count); left out above" % failed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
