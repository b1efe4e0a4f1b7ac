#!/usr/bin/env python3
"""The two ends of bench/state_bench.sh's end-to-end latency pipeline (stdlib only).

Usage:
  latency_probe.py gen  --rate R --warmup S --seconds S --sync DIR   > the producer's stdin
  latency_probe.py read --sync DIR [--timeout S] [--stall S] [--dump FILE]  < the consumer's stdout

gen writes JSON lines {"id":N,"sent_us":T} to standard output, one write(2)
per line, T being time.time_ns() // 1000 taken just before that write:
  - id 0, the probe: then it waits (up to --timeout, default 60 s) until the
    reader has seen it (DIR/ready appears), so that every process of the
    pipeline is up and connected before anything is timed;
  - ids 1..W: the warm-up, --warmup seconds at --rate lines/s (not counted);
  - ids W+1..W+M: the measured lines, --seconds seconds at --rate lines/s.
  Lines follow a fixed schedule (line i at start + i/rate); a line that is
  late for its slot (the writer was descheduled) is written at once, and its
  sent_us is when it really was written. At the end gen writes DIR/sent, one
  line "first_measured last_id achieved_rate max_lateness_ms", and exits.
read reads rows {"id":N,"max_sent_us":T} (or "sent_us") from standard input
and notes for each its receive time time.time_ns() // 1000 right after the
line was read: latency = receive - sent. It writes DIR/ready on id 0, and
stops once DIR/sent exists and every id up to last_id has arrived, or when
nothing has arrived for --stall seconds (default 15) after DIR/sent, or after
--timeout seconds (default 120) in all. It prints one line

  received=R expected=M missing=X duplicates=D unknown=U p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=.. rate=.. lateness_ms=..

over the measured ids only (received counts distinct measured ids), and exits
0 when every measured id arrived exactly once, 1 otherwise. --dump FILE
writes one line per id received, "id sent_us received_us latency_ms", in
arrival order.
"""
import json
import math
import os
import sys
import time


def now_us() -> int:
    return time.time_ns() // 1000


def opt(argv, name, default, conv=str):
    if name in argv:
        i = argv.index(name)
        if i + 1 < len(argv):
            return conv(argv[i + 1])
    return default


def gen(argv) -> int:
    rate = opt(argv, "--rate", 2000.0, float)
    warmup = opt(argv, "--warmup", 2.0, float)
    seconds = opt(argv, "--seconds", 10.0, float)
    sync = opt(argv, "--sync", None)
    timeout = opt(argv, "--timeout", 60.0, float)
    if sync is None or rate <= 0:
        print("latency_probe.py gen: needs --sync DIR and a positive --rate", file=sys.stderr)
        return 2
    fd = sys.stdout.fileno()

    def write(i):
        os.write(fd, b'{"id":%d,"sent_us":%d}\n' % (i, now_us()))

    write(0)
    deadline = time.monotonic() + timeout
    while not os.path.exists(os.path.join(sync, "ready")):
        if time.monotonic() > deadline:
            print("latency_probe.py gen: the probe line did not come through within %.0f s" % timeout,
                  file=sys.stderr)
            return 1
        time.sleep(0.01)
    n_warm = int(round(warmup * rate))
    n_meas = int(round(seconds * rate))
    total = n_warm + n_meas
    start = time.perf_counter() + 0.01
    late_max = 0.0
    t_first_measured = None
    for i in range(1, total + 1):
        slot = start + (i - 1) / rate
        d = slot - time.perf_counter()
        if d > 0:
            time.sleep(d)
        else:
            if i > n_warm:
                late_max = max(late_max, -d)
        if i == n_warm + 1:
            t_first_measured = time.perf_counter()
        write(i)
    t_end = time.perf_counter()
    achieved = (n_meas - 1) / (t_end - t_first_measured) if n_meas > 1 else 0.0
    tmp = os.path.join(sync, "sent.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d %.1f %.3f\n" % (n_warm + 1, total, achieved, late_max * 1000))
    os.replace(tmp, os.path.join(sync, "sent"))
    return 0


def pct(sorted_vals, q):
    """Nearest rank: the value at rank ceil(q * n) (counting from 1); no interpolation."""
    if not sorted_vals:
        return float("nan")
    k = max(1, min(len(sorted_vals), math.ceil(q * len(sorted_vals) - 1e-9)))
    return sorted_vals[k - 1]


def read(argv) -> int:
    sync = opt(argv, "--sync", None)
    timeout = opt(argv, "--timeout", 120.0, float)
    stall = opt(argv, "--stall", 15.0, float)
    dump = opt(argv, "--dump", None)
    if sync is None:
        print("latency_probe.py read: needs --sync DIR", file=sys.stderr)
        return 2
    import selectors
    fd = sys.stdin.fileno()
    os.set_blocking(fd, False)
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    lat = {}        # id -> latency in microseconds (first arrival)
    seen = {}       # id -> arrivals
    unknown = 0
    buf = b""
    sent = None     # (first_measured, last_id, rate, lateness)
    t0 = time.monotonic()
    last_rx = t0
    sent_at = None
    eof = False
    rows = []       # (id, sent_us, received_us) for --dump
    while True:
        now = time.monotonic()
        if sent is None and os.path.exists(os.path.join(sync, "sent")):
            with open(os.path.join(sync, "sent")) as f:
                a = f.read().split()
            sent = (int(a[0]), int(a[1]), float(a[2]), float(a[3]))
            sent_at = now
        if sent is not None and all(i in seen for i in range(0, sent[1] + 1)):
            break
        if now - t0 > timeout or eof:
            break
        if sent is not None and now - max(last_rx, sent_at) > stall:
            break
        for _key, _ev in sel.select(timeout=0.05):
            chunk = os.read(fd, 1 << 16)
            rx = now_us()  # receive time: right after the read that brought the line
            if not chunk:
                eof = True
                break
            last_rx = time.monotonic()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if not line:
                    continue
                try:
                    o = json.loads(line)
                    i = o["id"]
                    s = o["max_sent_us"] if "max_sent_us" in o else o["sent_us"]
                except (ValueError, KeyError, TypeError):
                    unknown += 1
                    continue
                seen[i] = seen.get(i, 0) + 1
                if i not in lat:
                    lat[i] = rx - s
                    if dump is not None:
                        rows.append((i, s, rx))
                if i == 0 and not os.path.exists(os.path.join(sync, "ready")):
                    open(os.path.join(sync, "ready"), "w").close()
    if dump is not None:
        with open(dump, "w") as f:
            f.writelines("%d %d %d %.3f\n" % (i, s, rx, (rx - s) / 1000.0) for i, s, rx in rows)
    if sent is None:
        print("received=%d expected=? missing=? duplicates=? unknown=%d (the generator never finished)"
              % (len(lat), unknown))
        return 1
    first, last, rate, lateness = sent
    meas = sorted(lat[i] / 1000.0 for i in range(first, last + 1) if i in lat)
    expected = last - first + 1
    missing = sum(1 for i in range(0, last + 1) if i not in seen)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    out = dict(received=len(meas), expected=expected, missing=missing, duplicates=dups, unknown=unknown)
    if meas:
        out.update(p50_ms="%.2f" % pct(meas, 0.5), p90_ms="%.2f" % pct(meas, 0.9),
                   p99_ms="%.2f" % pct(meas, 0.99), max_ms="%.2f" % meas[-1],
                   mean_ms="%.2f" % (sum(meas) / len(meas)), min_ms="%.2f" % meas[0])
    out.update(rate="%.1f" % rate, lateness_ms="%.2f" % lateness)
    print(" ".join("%s=%s" % kv for kv in out.items()))
    ok = missing == 0 and dups == 0 and unknown == 0 and len(meas) == expected
    return 0 if ok else 1


def main(argv) -> int:
    if len(argv) >= 1 and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) >= 1 and argv[0] == "gen":
        return gen(argv[1:])
    if len(argv) >= 1 and argv[0] == "read":
        return read(argv[1:])
    print("usage: latency_probe.py gen|read ...  (-h for help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
