"""systemd notify, the watchdog, --metrics and journald prefixes, without a
broker (tests/cli/test_service.sh runs it; kpipe(7), RUNNING AS A SERVICE).

A Unix datagram socket made here stands in for systemd's NOTIFY_SOCKET; every
message is kept with the time it arrived.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

BIN = os.environ.get("KPIPE_BIN", "build")
TMP = os.environ["KPIPE_TEST_TMP"]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class NotifySocket:
    """Collects datagrams in a thread: (seconds since start, text)."""

    def __init__(self, name):
        self.path = os.path.join(TMP, name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.t0 = time.monotonic()
        self.messages = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            with self.lock:
                self.messages.append((time.monotonic() - self.t0, data.decode()))

    def now(self):
        return time.monotonic() - self.t0

    def got(self, pred):
        with self.lock:
            return [(t, m) for t, m in self.messages if pred(m)]

    def wait_for(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = self.got(pred)
            if hits:
                return hits[0]
            time.sleep(0.02)
        fail(f"no {what} within {timeout}s; got {self.messages}")

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def watchdogs(ns, start, end):
    return [t for t, m in ns.got(lambda m: "WATCHDOG=1" in m.split("\n")) if start <= t < end]


def parse_prometheus(path):
    """Parses the text exposition format strictly enough to catch mistakes:
    every sample's metric has # HELP and # TYPE before it, names and labels
    are well formed, values are numbers. Returns {(name, labels): value}."""
    text = open(path).read()
    if not text.endswith("\n"):
        fail(f"{path}: does not end with a newline")
    helps, types, samples = set(), {}, {}
    name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
    sample_re = re.compile(rf"^({name_re})(?:\{{(.*)\}})? (\S+)$")
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ")[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if kind not in ("counter", "gauge"):
                fail(f"{path}: type {kind}")
            types[name] = kind
            continue
        m = sample_re.match(line)
        if not m:
            fail(f"{path}: not a sample line: {line!r}")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        if name not in helps or name not in types:
            fail(f"{path}: {name} without # HELP and # TYPE before it")
        if types[name] == "counter" and not name.endswith("_total"):
            fail(f"{path}: counter {name} does not end in _total")
        pairs = label_re.findall(labels)
        if ",".join(f'{k}="{v}"' for k, v in pairs) != labels:
            fail(f"{path}: bad labels {labels!r}")
        float(value)
        samples[(name, tuple(sorted(pairs)))] = float(value)
    return samples


def metric(samples, name, **labels):
    want = {("tool", labels.pop("tool"))} | set(labels.items())
    for (n, ls), v in samples.items():
        if n == name and want <= set(ls):
            return v
    fail(f"no {name} {labels} in {sorted(samples)}")


def write_lines(path, n, late_every=0):
    with open(path, "w") as f:
        for i in range(n):
            ts = 1_700_000_000_000 + i * 10
            if late_every and i % late_every == late_every - 1:
                ts -= 60_000  # a minute back: late for 1s windows
            f.write(f'{{"user":"u{i % 50}","amount":{i % 7},"ts":{ts}}}\n')


def env_with(ns, watchdog_usec=None, **extra):
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    env["NOTIFY_SOCKET"] = ns.path
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    env.update(extra)
    return env


def test_notify_and_metrics():
    """kwindow on a live pipe: READY=1, STATUS=, WATCHDOG=1 while idle, the
    metrics file, then SIGTERM: STOPPING=1, exit 143, final metrics."""
    ns = NotifySocket("notify1")
    prom = os.path.join(TMP, "kwindow.prom")
    data = os.path.join(TMP, "in1.jsonl")
    write_lines(data, 5000, late_every=100)
    dead = os.path.join(TMP, "dead1.jsonl")
    r, w = os.pipe()
    p = subprocess.Popen(
        [f"{BIN}/kwindow", "--tumble", "1s", "--by", "user", "-a", "count", "--time", "ts",
         "--dead-letter", dead, "--late", os.path.join(TMP, "late1.jsonl"),
         "--metrics", prom, "--metrics-every", "100ms", "--metrics-label", "pipeline=clicks"],
        stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=env_with(ns, watchdog_usec=400_000))
    os.close(r)
    t_ready, ready = ns.wait_for(lambda m: "READY=1" in m.split("\n"), 10, "READY=1")
    if "STATUS=" not in ready:
        fail(f"READY=1 came without STATUS=: {ready!r}")
    with open(data, "rb") as f:
        os.write(w, f.read())
    os.write(w, b"not json\n")
    # Idle and healthy: beats keep coming, at most 3/4 of WATCHDOG_USEC apart.
    time.sleep(1.6)
    beats = watchdogs(ns, t_ready, ns.now())
    if len(beats) < 6:
        fail(f"{len(beats)} WATCHDOG=1 in 1.6 s of a 400 ms watchdog: {beats}")
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    if max(gaps) > 0.35:
        fail(f"WATCHDOG=1 gaps up to {max(gaps):.3f}s with WATCHDOG_USEC=400ms")
    ns.wait_for(lambda m: m.startswith("STATUS=") and "5001 in" in m, 8, "STATUS= with the records read")
    s = parse_prometheus(prom)
    if metric(s, "kpipe_records_in_total", tool="kwindow", pipeline="clicks") != 5001:
        fail(f"records_in_total: {s}")
    late = metric(s, "kpipe_records_late_total", tool="kwindow")
    if late != 50:
        fail(f"records_late_total {late}, want 50")
    if metric(s, "kpipe_records_dead_letter_total", tool="kwindow") != 1:
        fail("records_dead_letter_total")
    if metric(s, "kpipe_bytes_in_total", tool="kwindow") != os.path.getsize(data) + 9:
        fail("bytes_in_total")
    lag = metric(s, "kpipe_watermark_lag_seconds", tool="kwindow")
    if lag < time.time() - 1_700_000_100 - 5:  # the watermark is from 2023
        fail(f"watermark lag {lag}")
    mode = os.stat(prom).st_mode & 0o777
    if mode != 0o644:
        fail(f"metrics file mode {oct(mode)}")
    p.send_signal(signal.SIGTERM)
    t_stop, _ = ns.wait_for(lambda m: "STOPPING=1" in m.split("\n"), 5, "STOPPING=1")
    code = p.wait(10)
    err = p.stderr.read().decode()
    if code != 143:
        fail(f"exit {code} after SIGTERM, want 143; stderr {err}")
    after = watchdogs(ns, t_stop, ns.now())
    if after:
        fail(f"WATCHDOG=1 after STOPPING=1: {after}")
    s = parse_prometheus(prom)
    out = metric(s, "kpipe_records_out_total", tool="kwindow")
    m = re.search(r"(\d+) records? in, (\d+) rows? out, (\d+) late, (\d+) dead-lettered", err)
    if not m or [int(x) for x in m.groups()] != [5001, out, 50, 1]:
        fail(f"final metrics (out {out}) do not match the summary: {err}")
    if os.path.exists(prom + ".tmp"):
        fail("the temporary metrics file is left behind")
    ns.close()
    print(f"notify+metrics: READY, {len(beats)} beats (max gap {max(gaps):.3f}s), STATUS, STOPPING, exit 143")


def test_blocked_loop_stops_watchdog():
    """kagg --emit changes writing to a pipe nobody reads: once the pipe is
    full the loop is stuck in write(), and WATCHDOG=1 must stop; reading
    again brings it back."""
    ns = NotifySocket("notify2")
    data = os.path.join(TMP, "in2.jsonl")
    write_lines(data, 200_000)
    p = subprocess.Popen(
        [f"{BIN}/kagg", "--by", "user", "-a", "count", "--emit", "changes", "-q", data],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_with(ns, watchdog_usec=200_000))
    t_ready, _ = ns.wait_for(lambda m: "READY=1" in m.split("\n"), 10, "READY=1")
    time.sleep(1.5)  # the 64 KiB pipe filled long ago
    if p.poll() is not None:
        fail("kagg ended although nobody read its output")
    window = watchdogs(ns, ns.now() - 1.0, ns.now())
    if window:
        fail(f"WATCHDOG=1 from a loop blocked in write(): {window}")
    # Unblock: drain the output; the beats come back, then it ends.
    out = p.stdout.read()
    code = p.wait(30)
    rows = out.count(b"\n")
    if code != 0 or rows != 200_000:
        fail(f"exit {code}, {rows} rows")
    ns.close()
    print("blocked loop: no WATCHDOG=1 for 1 s while stuck in write()")


def test_kproduce_stream_and_kjoin():
    """kproduce reading stdin (a stream) and kjoin reading two pipes notify
    too, and beat while their inputs are quiet."""
    for name, argv in (
            ("kproduce", [f"{BIN}/kproduce", "--dry-run", "-q", "-t", "t"]),
            ("kjoin", [f"{BIN}/kjoin", "--on", "id", "--within", "1s", "--time", "ts", "-q", "-", None])):
        ns = NotifySocket(f"notify-{name}")
        r, w = os.pipe()
        r2 = w2 = None
        if name == "kjoin":
            r2, w2 = os.pipe()
            argv[-1] = f"/dev/fd/{r2}"
        p = subprocess.Popen(argv, stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env_with(ns, watchdog_usec=300_000), pass_fds=(r2,) if r2 else ())
        os.close(r)
        if r2:
            os.close(r2)
        t_ready, _ = ns.wait_for(lambda m: "READY=1" in m.split("\n"), 10, f"{name} READY=1")
        time.sleep(1.0)
        beats = watchdogs(ns, t_ready, ns.now())
        if len(beats) < 4:
            fail(f"{name}: {len(beats)} WATCHDOG=1 in 1 s of quiet input")
        p.send_signal(signal.SIGTERM)
        ns.wait_for(lambda m: "STOPPING=1" in m.split("\n"), 5, f"{name} STOPPING=1")
        code = p.wait(10)
        os.close(w)
        if w2:
            os.close(w2)
        if code != 143:
            fail(f"{name}: exit {code} after SIGTERM")
        ns.close()
        print(f"{name}: READY, {len(beats)} beats in 1 s of quiet, STOPPING, exit 143")


def test_kconsume(topic, brokers):
    """kconsume (needs a broker; tests/kafka/test_service.sh runs it): READY=1
    once its partitions are assigned, beats while the topic is quiet, STATUS=
    with the lag, STOPPING=1 and 143 on SIGTERM."""
    ns = NotifySocket("notify-kconsume")
    p = subprocess.Popen([f"{BIN}/kconsume", "-q", "-b", brokers, topic], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env_with(ns, watchdog_usec=400_000))
    t_ready, ready = ns.wait_for(lambda m: "READY=1" in m.split("\n"), 15, "kconsume READY=1")
    ns.wait_for(lambda m: m.startswith("STATUS=") and ", lag 0" in m, 10, "kconsume STATUS= with lag 0")
    beats = watchdogs(ns, t_ready, ns.now())
    if len(beats) < 10:
        fail(f"kconsume: {len(beats)} WATCHDOG=1 in {ns.now() - t_ready:.1f} s of a 400 ms watchdog")
    p.send_signal(signal.SIGTERM)
    ns.wait_for(lambda m: "STOPPING=1" in m.split("\n"), 5, "kconsume STOPPING=1")
    out, err = p.communicate(timeout=10)
    if p.returncode != 143:
        fail(f"kconsume: exit {p.returncode} after SIGTERM: {err!r}")
    ns.close()
    print(f"kconsume: READY, STATUS with lag 0, {len(beats)} beats, STOPPING, exit 143")


def test_no_socket_no_watchdog_pid():
    """WATCHDOG_PID naming another process: notify, but no watchdog."""
    ns = NotifySocket("notify3")
    data = os.path.join(TMP, "in3.jsonl")
    write_lines(data, 10)
    r, w = os.pipe()
    p = subprocess.Popen([f"{BIN}/kagg", "--by", "user", "-a", "count", "-q"], stdin=r,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env=env_with(ns, watchdog_usec=200_000, WATCHDOG_PID="1"))
    os.close(r)
    ns.wait_for(lambda m: "READY=1" in m.split("\n"), 10, "READY=1")
    time.sleep(0.5)
    os.close(w)
    p.wait(10)
    if watchdogs(ns, 0, ns.now()):
        fail("WATCHDOG=1 although WATCHDOG_PID names another process")
    ns.close()
    print("WATCHDOG_PID of another process: no beats")


def test_journal_prefixes():
    """With JOURNAL_STREAM naming stderr, every stderr line has its priority;
    with JOURNAL_STREAM naming something else (inherited), none."""
    data = os.path.join(TMP, "in4.jsonl")
    with open(data, "w") as f:
        f.write('{"user":"a","ts":1}\nnot json\n')
    err_path = os.path.join(TMP, "journal.err")
    for matching in (True, False):
        with open(err_path, "w") as err:
            st = os.fstat(err.fileno())
            env = dict(os.environ)
            env.pop("NOTIFY_SOCKET", None)
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + (0 if matching else 1)}"
            code = subprocess.call([f"{BIN}/kwindow", "--tumble", "1s", "-a", "count", "--time", "ts", data],
                                   stdout=subprocess.DEVNULL, stderr=err, env=env)
            code2 = subprocess.call([f"{BIN}/kwindow", "--bogus"], stdout=subprocess.DEVNULL, stderr=err,
                                    env=env)
        lines = open(err_path).read().splitlines()
        if code != 65 or code2 != 2:
            fail(f"exit {code}/{code2}: {lines}")
        if matching:
            if not any(l.startswith("<3>kwindow: error: ") and ":2: " in l for l in lines):
                fail(f"no <3> error line: {lines}")
            if not any(l.startswith("<6>kwindow: ") and "records in" in l for l in lines):
                fail(f"no <6> summary line: {lines}")
            bad = [l for l in lines if not re.match(r"^<[346]>", l)]
            if bad:
                fail(f"lines without a priority under journald: {bad}")
        elif any(l.startswith("<") for l in lines):
            fail(f"priority prefixes although stderr is not the journal: {lines}")
    print("journald: <3>/<6> prefixes only when JOURNAL_STREAM is stderr")


def test_metrics_usage():
    for argv, pattern in (
            (["--metrics-every", "1s"], "need --metrics FILE"),
            (["--metrics", "/x.prom", "--metrics-label", "tool=x"], "kpipe sets the label tool"),
            (["--metrics", "/x.prom", "--metrics-label", "9x=y"], "expected NAME=VALUE"),
            (["--metrics", "/x.prom", "--metrics-every", "0s"], "must be positive")):
        p = subprocess.run([f"{BIN}/kagg", "--by", "user", "-a", "count"] + argv, input=b"", capture_output=True)
        if p.returncode != 2 or pattern not in p.stderr.decode():
            fail(f"{argv}: exit {p.returncode}, {p.stderr!r}")
    p = subprocess.run([f"{BIN}/kagg", "--by", "user", "-a", "count", "--metrics", "/nonexistent/dir/m.prom"], input=b"{}\n",
                       capture_output=True)
    if p.returncode != 1 or "--metrics /nonexistent/dir/m.prom" not in p.stderr.decode():
        fail(f"unwritable metrics file: exit {p.returncode}, {p.stderr!r}")
    print("--metrics usage errors and an unwritable file are refused")


if __name__ == "__main__":
    test_notify_and_metrics()
    test_blocked_loop_stops_watchdog()
    test_kproduce_stream_and_kjoin()
    test_no_socket_no_watchdog_pid()
    test_journal_prefixes()
    test_metrics_usage()
    print("ok")
