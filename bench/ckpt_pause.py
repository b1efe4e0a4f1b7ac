#!/usr/bin/env python3
"""Run a kpipe tool with --state and -v, and time its checkpoints as they happen
(bench/state_bench.sh, part "pause"). Stdlib only.

Usage: ckpt_pause.py --input FILE --after-bytes B [--samples S] [--timeout T]
                     [--stdout FILE] [--tsv FILE] -- CMD...

CMD must read FILE (a regular file) and print kpipe's -v checkpoint lines on
standard error:  TOOL: checkpoint N: MS ms, BYTES bytes written
MS is how long reading stopped for it. A checkpoint written behind the reading
(kagg without --exactly-once) adds ", MS2 ms behind the reading": how long a
second thread took to write it while reading went on; its line comes once it
is written.
For every such line the driver notes when it arrived (monotonic clock) and how
far the tool has read FILE at that moment (the "pos" of /proc/PID/fdinfo of
the descriptor open on FILE). A checkpoint is counted, that is taken "while the
state is full", when the position seen at the line BEFORE it was already at
least B + 2 MiB: the tool starts checkpoint N only after checkpoint N-1 is
done and reported, and reads in blocks of at most 1 MiB, so everything up to
byte B (the end of the line that completes the key set) was then part of the
state. The last checkpoint of a run that reached
the end of its input (the one at the end, after the rows are written) and the
first one (made before reading) are never counted.

The run stops at the end of the input, or after S counted checkpoints
(default 50), or after T seconds (default 60): then the tool gets SIGTERM
(and SIGKILL 120 s later); the checkpoint it makes on SIGTERM is not counted.

Prints one line of key=value pairs:
  counted, p50_ms, p90_ms, p99_ms, max_ms, mean_ms (nearest-rank percentiles of
  the counted pauses), bytes_med, bytes_max (the BYTES of counted lines),
  behind_med_ms, behind_max_ms (the MS2 of counted lines, when they have one),
  checkpoints (all lines seen before the stop), ramp (lines neither counted nor
  the first or the end one: made before the key set was complete), elapsed_s (start to the last line before the stop),
  pause_sum_s (the sum of MS over those lines), busy_pct (pause_sum / elapsed),
  work_med_ms (median over counted lines of: time since the previous line
  minus MS, i.e. the time spent reading records between two checkpoints),
  inconsistent (lines whose MS exceeds the time since the previous line by more
  than 2 ms: a self-report the wall clock contradicts), read_bytes (position at
  the last line, or the file size when the input ended), read_mbps (read_bytes / elapsed), stop (eof|samples|timeout),
  status (the tool's exit status).
--tsv FILE writes every line seen: n ms bytes pos t_s counted.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time

LINE = re.compile(r"checkpoint (\d+): ([0-9.]+) ms, (\d+) bytes written(?:, ([0-9.]+) ms behind the reading)?")
MARGIN = 2 << 20


def pct(vals, q):
    if not vals:
        return float("nan")
    s = sorted(vals)
    k = max(1, min(len(s), -(-int(round(q * 1000)) * len(s) // 1000)))
    return s[k - 1]


def fd_of(pid, path):
    d = "/proc/%d/fd" % pid
    try:
        for name in os.listdir(d):
            try:
                if os.path.realpath(os.path.join(d, name)) == path:
                    return int(name)
            except OSError:
                pass
    except OSError:
        pass
    return None


def pos_of(pid, fd):
    try:
        with open("/proc/%d/fdinfo/%d" % (pid, fd)) as f:
            for line in f:
                if line.startswith("pos:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def main(argv):
    if "--" not in argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    i = argv.index("--")
    opts, cmd = argv[:i], argv[i + 1:]

    def opt(name, default, conv=str):
        if name in opts:
            j = opts.index(name)
            return conv(opts[j + 1])
        return default

    path = os.path.realpath(opt("--input", ""))
    after = opt("--after-bytes", -1, int)
    samples = opt("--samples", 50, int)
    timeout = opt("--timeout", 60.0, float)
    stdout = opt("--stdout", os.devnull)
    tsv = opt("--tsv", None)
    if not cmd or not os.path.isfile(path) or after < 0:
        print("ckpt_pause.py: needs --input FILE, --after-bytes B and a command", file=sys.stderr)
        return 2

    out = open(stdout, "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
    fd = None
    rows = []          # [n, ms, bytes, pos, t, counted]
    other = []         # other stderr lines
    state = {"stop": None}
    lock = threading.RLock()

    def stop_now(why):
        with lock:
            if state["stop"] is None:
                state["stop"] = why
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    k = threading.Timer(120, lambda: p.poll() is None and p.kill())
                    k.daemon = True
                    k.start()

    # SIGTERM or SIGINT to the driver: stop the tool the same way, and report
    signal.signal(signal.SIGTERM, lambda *_: stop_now("signal"))
    signal.signal(signal.SIGINT, lambda *_: stop_now("signal"))
    timer = threading.Timer(timeout, stop_now, ("timeout",))
    timer.daemon = True
    timer.start()
    prev_pos = None
    counted = 0
    for raw in p.stderr:
        t = time.monotonic() - t0
        line = raw.decode("utf-8", "replace").rstrip("\n")
        m = LINE.search(line)
        if not m:
            other.append(line)
            continue
        with lock:
            if state["stop"] is not None:
                continue  # made after the stop (the SIGTERM checkpoint): not counted
        if fd is None:
            fd = fd_of(p.pid, path)
        pos = pos_of(p.pid, fd) if fd is not None else None
        n, ms, nbytes = int(m.group(1)), float(m.group(2)), int(m.group(3))
        ok = n > 1 and prev_pos is not None and prev_pos >= after + MARGIN
        behind = float(m.group(4)) if m.group(4) else None
        rows.append([n, ms, nbytes, pos if pos is not None else -1, t, ok, behind])
        if ok:
            counted += 1
        if pos is not None:
            prev_pos = pos
        if counted >= samples:
            stop_now("samples")
    timer.cancel()
    stop = state["stop"]
    # stderr closed: the tool is exiting
    try:
        status = p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        status = p.wait()
    end_row = None
    if stop is None:
        stop = "eof" if status == 0 else "exit %d" % status
        # the last checkpoint of a run that read its whole input is the one at
        # the end of the input: not a pause of the stream
        if status == 0 and rows:
            rows[-1][5] = False
            end_row = rows[-1]
    out.close()

    if tsv:
        with open(tsv, "w") as f:
            f.write("n\tms\tbytes\tpos\tt_s\tcounted\n")
            for r in rows:
                f.write("%d\t%.3f\t%d\t%d\t%.4f\t%d\n" % (r[0], r[1], r[2], r[3], r[4], 1 if r[5] else 0))
    c = [r for r in rows if r[5]]
    pauses = [r[1] for r in c]
    work = []
    inconsistent = 0
    for a, b in zip(rows, rows[1:]):
        gap_ms = (b[4] - a[4]) * 1000.0
        if b[1] > gap_ms + 2.0:
            inconsistent += 1
        if b[5]:
            work.append(gap_ms - b[1])
    elapsed = rows[-1][4] if rows else 0.0
    psum = sum(r[1] for r in rows) / 1000.0
    read_bytes = max([r[3] for r in rows] + [0])
    if stop == "eof":
        read_bytes = os.path.getsize(path)
    ramp = sum(1 for r in rows if not r[5] and r[0] > 1 and r is not end_row)
    res = dict(counted=len(c))
    if c:
        res.update(p50_ms="%.3f" % pct(pauses, 0.5), p90_ms="%.3f" % pct(pauses, 0.9),
                   p99_ms="%.3f" % pct(pauses, 0.99), max_ms="%.3f" % max(pauses),
                   mean_ms="%.3f" % (sum(pauses) / len(pauses)),
                   bytes_med=int(pct([r[2] for r in c], 0.5)), bytes_max=max(r[2] for r in c),
                   work_med_ms="%.1f" % pct(work, 0.5) if work else "nan")
        behind = [r[6] for r in c if r[6] is not None]
        if behind:
            res.update(behind_med_ms="%.1f" % pct(behind, 0.5), behind_max_ms="%.1f" % max(behind))
    res.update(checkpoints=len(rows), ramp=ramp,
               elapsed_s="%.3f" % elapsed, pause_sum_s="%.3f" % psum,
               busy_pct="%.1f" % (100.0 * psum / elapsed if elapsed > 0 else 0.0),
               inconsistent=inconsistent, read_bytes=read_bytes,
               read_mbps="%.2f" % (read_bytes / 1e6 / elapsed if elapsed > 0 else 0.0),
               stop=stop.replace(" ", "_"), status=status)
    print(" ".join("%s=%s" % kv for kv in res.items()))
    for line in other:
        if line.strip():
            print("stderr: " + line, file=sys.stderr)
    return 0 if status in (0, 143) and rows else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
