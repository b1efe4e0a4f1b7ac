#!/usr/bin/env python3
"""Property test: kjoin against the naive reference in join_ref.py.

Random scenarios: few keys (single, composite, LPATH=RPATH, nested, 1 vs
1.0), coarse out-of-order event times on both sides (multiples of 500 or
1000 ms around the epoch, negative included), --within / --between with
negative, positive and equal bounds, every join type, max delay and lateness,
control watermark/end records, --merge, --table and --as-of, bad lines with
--dead-letter, a side on stdin, --output.

Each scenario runs the binary once on two files. Which records are late
depends on how kjoin interleaved its two inputs, which a test cannot see, so
the check asks the reference for an interleaving under which exactly the late
rows kjoin wrote come out (same records, order and watermarks) and then
compares, under it, the rows (as a multiset; numbers by value, member order
kept), the late rows, the dead-letter rows, the summary counts and the control
records. Some scenarios also run through two pipes (/dev/fd/N, or one side on
stdin) written in a chosen interleaving: all left first, all right first,
alternating chunks of lines, or random byte chunks with small sleeps; the same
check applies, and when no record can be late under any interleaving (every
record has t + L >= its own side's W before it) the multiset of rows must be
the one the file run gave.

    run_join_property.py [--seed S] [--scenarios N] [--jobs J] [--only I]
                         [--show I] [--self-test] [--bin DIR] [--skip CHECK]

--only I reruns scenario I of a seed (a failure names it), --show I prints a
scenario and what the reference expects, --self-test checks the reference on
hand-made cases, --skip control|summary|dead-letter|fifo leaves a check out and
--skip tombstone-forgets switches the reference to kjoin's reading of repeated
tombstones (see join_ref.py), to look past a known discrepancy; the CTest entry
uses none.

Binaries come from $KPIPE_BIN (a directory), default ../../build from here.
Exit 0 and `ok: N scenarios` when everything agrees; on the first mismatch the
scenario (command line, input, expected vs actual, the input minimised) is
printed and the exit status is 1.
"""

import argparse
import collections
import json
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from common import Obj, dur, follow_order, get, is_control, loads, norm, show, shquote  # noqa: E402
import join_ref as ref  # noqa: E402
import window_ref as wr  # noqa: E402

INF = float("inf")
SKIP = set()


# ---------------------------------------------------------------- JSON comparison

def from_ref(value):
    """A reference value (dicts) -> the form actual output is compared in."""
    return norm(loads(ref.compact(value)))


def to_plain(v):
    """Obj -> dict (member order kept), for the reference's helpers."""
    if isinstance(v, Obj):
        return {k: to_plain(x) for k, x in v}
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    return v


def multiset_diff(exp, act):
    """Text naming what is missing and what is extra, or None when equal."""
    ce, ca = collections.Counter(exp), collections.Counter(act)
    if ce == ca:
        return None
    out = ["expected %d, got %d" % (len(exp), len(act))]
    missing = ce - ca
    extra = ca - ce
    if missing:
        out.append("missing (expected, not written):")
        out += ["  %s%s" % (show(r), "" if n == 1 else "  x%d" % n) for r, n in missing.items()]
    if extra:
        out.append("extra (written, not expected):")
        out += ["  %s%s" % (show(r), "" if n == 1 else "  x%d" % n) for r, n in extra.items()]
    return "\n".join(out)


# ---------------------------------------------------------------- generator

def set_path(rec, path, value):
    """Set a dotted or JSON Pointer path (objects only) in rec."""
    steps = path[1:].split("/") if path.startswith("/") else path.lstrip(".").split(".")
    cur = rec
    for s in steps[:-1]:
        cur = cur.setdefault(s, {})
    cur[steps[-1]] = value


KEY_STYLES = [
    # (--on values, left key paths, right key paths)
    (["k"], ["k"], ["k"]),
    (["k"], ["k"], ["k"]),
    ([".k"], ["k"], ["k"]),
    (["k=rk"], ["k"], ["rk"]),
    (["k", "g"], ["k", "g"], ["k", "g"]),
    (["k,g=h"], ["k", "g"], ["k", "h"]),
    (["m.k"], ["m.k"], ["m.k"]),
    (["/m/k"], ["m.k"], ["m.k"]),
    (["k=m.k"], ["k"], ["m.k"]),
]
TIME_STYLES = [
    # (flags, left time path, right time path)
    (["--time", "ts"], "ts", "ts"),
    (["--time", "ts"], "ts", "ts"),
    (["--time", "ts"], "ts", "ts"),
    (["--left-time", "ts", "--right-time", "at"], "ts", "at"),
    (["--time", "ts", "--right-time", "at"], "ts", "at"),
    (["--time", "meta.t"], "meta.t", "meta.t"),
]
KEY_POOL = ["a", "b", "c", 1, 2.5, "é"]
PAYLOADS = [1, -2, 3.5, "x", "y z", True, None, [1, "a"], {"q": 1}, "a\"b", "ü"]


def time_value(sc, t, rng):
    if sc["time_kind"] == "rfc3339":
        text = wr.format_rfc3339(t)
        if rng.random() < 0.3 and t % 1000 == 0:  # the same instant with an offset
            text = wr.format_rfc3339(t + 3_600_000)[:-1] + "+01:00"
        return text
    if sc["time_kind"] == "s":
        return t // 1000 if t % 1000 == 0 else t / 1000
    if sc["time_kind"] == "us":
        return t * 1000
    if sc["time_kind"] == "ns":
        return t * 1_000_000
    return t


def get_key(rec, path):
    v = wr.get_path(rec, path)
    return None if v is wr.MISSING else v


def gen_side(rng, sc, side, n, start):
    unit = sc["unit"]
    keypaths = sc["lkeys"] if side == "left" else sc["rkeys"]
    tpath = sc["ltime"] if side == "left" else sc["rtime"]
    disorder = rng.choice([0, 1, 2, 3, 4])
    p_disorder = rng.choice([0.2, 0.5])
    p_wm = rng.choice([0, 0, 0, 0.1, 0.2]) if sc["allow_wm"] else 0
    p_bad = rng.choice([0.05, 0.1, 0.2]) if sc["dead"] else 0
    keys = sc["keys"]
    cur = start
    lines = []
    msgkeys = []
    for idx in range(n):
        cur += rng.choice([0, 0, 1, 1, 1, 2, 3]) * unit
        t = cur - rng.randint(0, disorder) * unit if rng.random() < p_disorder else cur
        if sc["mode"] == "asof" and side == "right" and rng.random() < 0.3:
            t = rng.randint(-6, 6) * unit  # versions in any order, ties included
        rec = {}
        fields = ["id", "key", "time", "pay", "x"]
        if rng.random() < 0.2:
            rng.shuffle(fields)
        bad = rng.random() < p_bad
        env = sc["env"][side]
        table_right = side == "right" and sc["mode"] != "interval"
        badkind = rng.choice(["json", "json", "array", "nokey", "nullkey", "time", "empty"]
                             + (["nullvalue"] if env and not table_right else [])) if bad else None
        if badkind == "time" and (not sc["needs_time"] or tpath is None):
            badkind = "nokey"
        # a tombstone: RIGHT of a table join, envelope input, no time path for RIGHT
        # (a null value has no time field: kjoin takes a --time given to a plain
        # --table as required, and the spec says nothing of a tombstone's time then)
        tomb = env and table_right and tpath is None \
            and not bad and rng.random() < sc.get("p_tomb", 0) and bool(msgkeys)
        for f in fields:
            if f == "id":
                rec["id"] = "%s%d" % (side[0], idx)
            elif f == "key":
                for p in keypaths:
                    if badkind == "nokey" and p == keypaths[0]:
                        continue
                    if badkind == "nullkey" and p == keypaths[0]:
                        set_path(rec, p, None)
                        continue
                    if p in ("g", "h"):
                        v = rng.choice(sc["gvals"])
                    else:
                        v = rng.choice(keys)
                        if v == 1 and rng.random() < 0.3:
                            v = 1.0
                    set_path(rec, p, v)
            elif f == "time":
                if tpath is None:
                    continue
                if badkind == "time":
                    set_path(rec, tpath, rng.choice(["abc", True, None, [1]]))
                else:
                    set_path(rec, tpath, time_value(sc, t, rng))
            elif f == "pay":
                if rng.random() < 0.8:
                    rec["v" if side == "left" else "w"] = rng.choice(PAYLOADS)
            elif f == "x":
                if rng.random() < 0.3:
                    rec["x"] = side
        if env and badkind not in ("json", "empty"):
            value = rec
            if badkind == "array":
                value = [rec.get("id"), 1]
            elif badkind == "nullvalue" or tomb:
                value = None
            mk = [get_key(rec, p) for p in keypaths]
            if tomb:  # for a message key that set a record before (else the spec says nothing)
                mk = rng.choice(msgkeys) if msgkeys else mk
            elif badkind is None:
                msgkeys.append(mk)
            envl = {"topic": "t", "partition": 0, "offset": 100 + idx,
                    "timestamp": t if tpath is None else t + rng.randint(-9, 9) * unit,
                    "timestamp_type": "create",
                    "key": ref.norm_numbers(mk[0] if len(mk) == 1 else mk), "headers": [], "value": value}
            text = ref.compact(envl)
        elif badkind == "json":
            text = rng.choice(['{"id":"%s%d",' % (side[0], idx), "{oops", "nul", '{"a":1}}'])
        elif badkind == "array":
            text = ref.compact([rec.get("id"), 1]) if not sc["merge"] or rng.random() < 0.5 \
                else '"%s%d"' % (side[0], idx)
        elif badkind == "empty":
            text = ""
        elif rng.random() < 0.15:
            text = json.dumps(rec, ensure_ascii=rng.random() < 0.5)  # spaces, maybe \u escapes
        else:
            text = ref.compact(rec)
        lines.append(text)
        if rng.random() < p_wm:
            lines.append(ref.compact({"@kpipe": "watermark", "ts": cur + rng.randint(-4, 1) * unit}))
    if sc["allow_wm"] and rng.random() < 0.12:
        lines.append('{"@kpipe":"end"}')
    return lines


def gen_scenario(seed, i):
    rng = random.Random("%s/%s" % (seed, i))
    r = rng.random()
    mode = "interval" if r < 0.7 else ("table" if r < 0.85 else "asof")
    unit = rng.choice([500, 1000, 1000])
    sc = {"mode": mode, "unit": unit}
    args = []
    on, sc["lkeys"], sc["rkeys"] = rng.choice(KEY_STYLES)
    for v in on:
        args += rng.choice([["--on", v], ["--on=" + v]])
    sc["keys"] = rng.sample(KEY_POOL, rng.choice([1, 1, 2, 2, 3]))
    sc["gvals"] = rng.sample(["x", "y", 0], rng.choice([1, 2]))
    sc["needs_time"] = mode != "table"
    sc["time_kind"] = "ms"
    # envelope input (kconsume --envelope), one partition; RIGHT of a table join
    # may carry tombstones
    p_env = (0.2, 0.4) if mode != "interval" else (0.12, 0.12)
    sc["env"] = {"left": rng.random() < p_env[0], "right": rng.random() < p_env[1]}
    if mode == "table" and rng.random() < 0.7:
        sc["ltime"] = sc["rtime"] = None
    elif sc["needs_time"] and any(sc["env"].values()) and rng.random() < 0.5:
        # the envelope timestamp is the event time of an envelope side without a time path
        sc["ltime"] = None if sc["env"]["left"] else "ts"
        sc["rtime"] = None if sc["env"]["right"] else "ts"
        if sc["ltime"]:
            args += ["--left-time", "ts"]
        if sc["rtime"]:
            args += ["--right-time", "ts"]
    else:
        tflags, sc["ltime"], sc["rtime"] = rng.choice(TIME_STYLES)
        args += tflags
        r = rng.random()
        if r < 0.1:
            sc["time_kind"] = "s" if r < 0.06 else rng.choice(["us", "ns"])
            args += ["--time-unit", sc["time_kind"]]
        elif r < 0.14:
            sc["time_kind"] = "rfc3339"
        elif r < 0.2:
            args += ["--time-unit", "ms"]

    if mode == "interval":
        if rng.random() < 0.4:
            x = rng.choice([0, 1, 1, 2, 3]) * unit
            args += ["--within", dur(x, rng)]
            sc["bounds"] = (-x, x)
        else:
            lo = rng.randint(-4, 3) * unit
            hi = lo if rng.random() < 0.2 else lo + rng.randint(0, 4) * unit
            text = dur(lo, rng) + "," + dur(hi, rng)
            args += rng.choice([["--between", text], ["--between=" + text]])
            sc["bounds"] = (lo, hi)
        jt = rng.choice(["inner", "inner", "left", "right", "full", "full"])
        D = rng.choice([0, 0, 0, 1, 2, 4]) * unit
        L = rng.choice([0, 0, 0, 1, 2]) * unit
        if D or rng.random() < 0.2:
            args += ["--max-delay", dur(D, rng)]
        if L or rng.random() < 0.2:
            args += ["--lateness", dur(L, rng)]
    else:
        jt = rng.choice(["inner", "left"])
        args.append("--table" if mode == "table" else "--as-of")
        if mode == "asof" and rng.random() < 0.3:
            args.append("--table")  # redundant with --as-of
        if mode == "asof" and rng.random() < 0.2:
            args += ["--retain", rng.choice(["1d", "2h", "48h"])]
    if jt != "inner" or rng.random() < 0.3:
        args += rng.choice([["--type", jt], ["--type=" + jt]])
    sc["type"] = jt
    sc["merge"] = rng.random() < 0.2
    if sc["merge"]:
        args.append("--merge")
    c = rng.random()
    sc["control"] = "off" if c < 0.6 else ("on" if c < 0.9 else "watermarks")
    if sc["control"] == "off":
        args.append("--no-control")
    elif sc["control"] == "watermarks":
        args.append("--watermarks")
    sc["allow_wm"] = rng.random() < 0.5
    sc["quiet"] = rng.random() < 0.5
    if sc["quiet"]:
        args.append(rng.choice(["-q", "--quiet"]))
    sc["dead"] = rng.random() < 0.2
    sc["p_tomb"] = rng.choice([0.1, 0.25])
    sc["output"] = rng.random() < 0.1
    sc["stdin"] = rng.choice([None] * 8 + ["left", "right"])
    sc["args"] = args

    nl = rng.choice([0, 1, 2, 3, 5, 8, 12, 16, 24])
    nr = rng.choice([0, 1, 2, 3, 5, 8, 12, 16, 24])
    start = rng.randint(-8, 2) * unit
    sc["left"] = gen_side(rng, sc, "left", nl, start)
    sc["right"] = gen_side(rng, sc, "right", nr, start + rng.randint(-4, 4) * unit)
    sc["fifo"] = rng.choice(["left-first", "right-first", "alternate", "random"]) \
        if rng.random() < 0.3 else None
    sc["fifo_seed"] = rng.randrange(1 << 30)
    return sc


# ---------------------------------------------------------------- running kjoin

class Res:
    pass


def full_cmd(bindir, sc, lpath, rpath, workdir, tag):
    late = os.path.join(workdir, "late%s.jsonl" % tag)
    dead = os.path.join(workdir, "dead%s.jsonl" % tag)
    outp = os.path.join(workdir, "rows%s.jsonl" % tag)
    for p in (late, dead, outp):
        if os.path.exists(p):
            os.unlink(p)
    cmd = [os.path.join(bindir, "kjoin")] + sc["args"] + ["--late", late]
    if sc["dead"]:
        cmd += ["--dead-letter", dead]
    if sc["output"]:
        cmd += ["--output", outp]
    cmd += [lpath, rpath]
    return cmd, late, dead, outp


def collect(res, sc, late, dead, outp, out_b, err_b):
    res.stdout = out_b.decode("utf-8", "replace")
    res.stderr = err_b.decode("utf-8", "replace")
    res.rows_text = res.stdout
    if sc["output"]:
        res.rows_text = open(outp, encoding="utf-8", errors="replace").read() \
            if os.path.exists(outp) else ""
    res.late = open(late, encoding="utf-8", errors="replace").read() if os.path.exists(late) else ""
    res.dead = open(dead, encoding="utf-8", errors="replace").read() if os.path.exists(dead) else ""


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in lines))


def run_files(bindir, sc, left, right, workdir, tag=""):
    lfile = os.path.join(workdir, "left%s.jsonl" % tag)
    rfile = os.path.join(workdir, "right%s.jsonl" % tag)
    write_lines(lfile, left)
    write_lines(rfile, right)
    lpath = "-" if sc["stdin"] == "left" else lfile
    rpath = "-" if sc["stdin"] == "right" else rfile
    cmd, late, dead, outp = full_cmd(bindir, sc, lpath, rpath, workdir, tag)
    res = Res()
    res.cmd, res.paths, res.files = cmd, (lpath, rpath), (lfile, rfile)
    res.how = "files"
    stdin = subprocess.DEVNULL
    if sc["stdin"]:
        stdin = open(lfile if sc["stdin"] == "left" else rfile, "rb")
    try:
        p = subprocess.run(cmd, stdin=stdin, capture_output=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        res.exit = "timeout (30 s)"
        collect(res, sc, late, dead, outp, e.stdout or b"", e.stderr or b"")
        return res
    finally:
        if sc["stdin"]:
            stdin.close()
    res.exit = p.returncode
    collect(res, sc, late, dead, outp, p.stdout, p.stderr)
    return res


def fifo_plan(pattern, left, right, seed):
    """[(side, bytes, sleep seconds)] and a close of each side when its data is out."""
    rng = random.Random(seed)
    lb = ["%s\n" % l for l in left]
    rb = ["%s\n" % l for l in right]
    plan = []
    if pattern == "left-first":
        plan += [("L", "".join(lb), 0), ("L", None, 0.003), ("R", "".join(rb), 0), ("R", None, 0)]
    elif pattern == "right-first":
        plan += [("R", "".join(rb), 0), ("R", None, 0.003), ("L", "".join(lb), 0), ("L", None, 0)]
    elif pattern == "alternate":
        k = rng.choice([1, 1, 2, 3])
        i = j = 0
        while i < len(lb) or j < len(rb):
            if i < len(lb):
                plan.append(("L", "".join(lb[i:i + k]), 0.001 if rng.random() < 0.3 else 0))
                i += k
            if j < len(rb):
                plan.append(("R", "".join(rb[j:j + k]), 0.001 if rng.random() < 0.3 else 0))
                j += k
        plan += [("L", None, 0), ("R", None, 0)]
    else:  # random byte chunks, lines split anywhere
        ls, rs = "".join(lb).encode(), "".join(rb).encode()
        i = j = 0
        while i < len(ls) or j < len(rs):
            side = rng.choice("LR") if i < len(ls) and j < len(rs) else ("L" if i < len(ls) else "R")
            n = rng.choice([1, 3, 10, 40, 200])
            if side == "L":
                plan.append(("L", ls[i:i + n], 0.001 if rng.random() < 0.15 else 0))
                i += n
                if i >= len(ls):
                    plan.append(("L", None, 0))
            else:
                plan.append(("R", rs[j:j + n], 0.001 if rng.random() < 0.15 else 0))
                j += n
                if j >= len(rs):
                    plan.append(("R", None, 0))
        if not ls:
            plan.insert(rng.randint(0, len(plan)), ("L", None, 0))
        if not rs:
            plan.insert(rng.randint(0, len(plan)), ("R", None, 0))
    return plan


def run_fifo(bindir, sc, left, right, workdir, pattern, seed, tag="-fifo"):
    lr, lw = os.pipe()
    rr, rw = os.pipe()
    lpath = "-" if sc["stdin"] == "left" else "/dev/fd/%d" % lr
    rpath = "-" if sc["stdin"] == "right" else "/dev/fd/%d" % rr
    cmd, late, dead, outp = full_cmd(bindir, sc, lpath, rpath, workdir, tag)
    res = Res()
    res.cmd, res.paths = cmd, (lpath, rpath)
    res.how = "pipes written %s (plan seed %d)" % (pattern, seed)
    stdin = lr if sc["stdin"] == "left" else (rr if sc["stdin"] == "right" else subprocess.DEVNULL)
    pass_fds = tuple(fd for fd, s in ((lr, "left"), (rr, "right")) if sc["stdin"] != s)
    errp = os.path.join(workdir, "stderr%s" % tag)
    outf = os.path.join(workdir, "stdout%s" % tag)
    with open(outf, "wb") as fo, open(errp, "wb") as fe:
        try:
            p = subprocess.Popen(cmd, stdin=stdin, stdout=fo, stderr=fe, pass_fds=pass_fds)
        except BaseException:
            os.close(lw)
            os.close(rw)
            raise
        finally:
            os.close(lr)
            os.close(rr)
        fds = {"L": lw, "R": rw}
        try:
            for side, data, pause in fifo_plan(pattern, left, right, seed):
                fd = fds[side]
                if fd is None:
                    continue
                if data is None:
                    os.close(fd)
                    fds[side] = None
                else:
                    if isinstance(data, str):
                        data = data.encode("utf-8")
                    mv = memoryview(data)
                    while mv:
                        mv = mv[os.write(fd, mv):]
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, OSError):
            pass
        finally:
            for fd in fds.values():
                if fd is not None:
                    os.close(fd)
        try:
            res.exit = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            res.exit = "timeout (30 s)"
    collect(res, sc, late, dead, outp, open(outf, "rb").read(), open(errp, "rb").read())
    return res


# ---------------------------------------------------------------- checking

SUMMARY = re.compile(r"kjoin: (\d+) left in, (\d+) right in, (\d+) rows? out, (\d+) late, (\d+) dead-lettered")


def parse_lines(text, what):
    out = []
    for n, l in enumerate(text.splitlines(), 1):
        try:
            out.append(loads(l))
        except ValueError:
            raise ValueError("%s line %d is not JSON: %r" % (what, n, l))
    return out


def expected_for(sc, left, right, late_act):
    """(reference Result, order or None, problem or None) for the observed late rows."""
    o = ref.parse_args(sc["args"])
    L = ref.parse_input(o, left, "left")
    R = ref.parse_input(o, right, "right")
    if o.table:
        return ref.table_join(o, L, R), None, None, o, L, R
    observed = []
    for x in late_act:
        rec, side, w = get(x, "late", ref.MISSING), get(x, "side"), get(x, "watermark")
        if rec is ref.MISSING or side not in ("left", "right") or not isinstance(w, (int, float)) \
                or isinstance(w, bool) or [k for k, _ in x] != ["late", "side", "watermark"]:
            return None, None, "late row not of the form {\"late\":<record>,\"side\":S,\"watermark\":W}: " \
                + show(norm(x)), o, L, R
        observed.append((side, ref.canon(to_plain(rec)), w))
    orders = ref.find_orders(o, L, R, observed)
    if not orders:
        return None, None, explain_late(o, L, R, late_act), o, L, R
    return ref.interval_join(o, L, R, orders[0]), orders[0], None, o, L, R


def explain_late(o, L, R, late_act):
    """Why no interleaving explains the late rows kjoin wrote."""
    out = ["no interleaving of the two inputs makes exactly these records late (in this order, "
           "with these watermarks); kjoin's late rows:"]
    out += ["  " + show(norm(x)) for x in late_act] or ["  (none)"]
    out.append("records that some interleaving can make late (t + L < own-side W before it), "
               "with t, own W before it, and the other side's W range:")
    any_ = False
    for side, items, other in (("left", L, R), ("right", R, L)):
        ws = ref.watermarks_before(o, items)
        wo = ref.watermarks_before(o, other)
        for k, it in enumerate(items):
            if it.kind == "rec" and it.t + o.L < ws[k]:
                any_ = True
                out.append("  %s %s: t=%d, t+L=%d, own W=%s; other side W takes %s" % (
                    side, ref.compact(it.obj), it.t, it.t + o.L, ws[k],
                    sorted(set(w for w in wo)) if len(wo) < 40 else "(many)"))
    if not any_:
        out.append("  (none: no record can be late under any interleaving)")
    return "\n".join(out)


def check(sc, left, right, res):
    """None when kjoin agrees with the reference, else a description."""
    if res.exit != 0:
        return "exit status %s, want 0; stderr: %s" % (res.exit, res.stderr.strip()[:2000])
    try:
        out = parse_lines(res.rows_text, "output")
        late_act = parse_lines(res.late, "late file")
        dead_act = parse_lines(res.dead, "dead-letter file")
    except ValueError as e:
        return str(e)
    if sc["output"] and res.stdout.strip():
        return "--output given, yet stdout has: %r" % res.stdout[:500]
    try:
        exp, order, problem, o, L, R = expected_for(sc, left, right, late_act)
    except Exception as e:  # a reference failure is a failure too, and says so
        return "reference raised %s: %s" % (type(e).__name__, e)
    if problem:
        return problem
    res.order = order
    data = [x for x in out if not is_control(x)]
    ctrl = [(i, x) for i, x in enumerate(out) if is_control(x)]
    act_rows = [norm(x) for x in data]
    res.act_rows = act_rows
    d = multiset_diff([from_ref(r) for r in exp.rows], act_rows)
    if d:
        return "rows differ (as multisets%s)\n%s" % (
            "" if order is None else "; interleaving used: " + order, d)
    if o.table and late_act:
        return "a table join wrote late rows: %s" % show(norm(late_act[0]))
    # late rows were matched exactly by find_orders

    if "dead-letter" not in SKIP:
        want = []
        for side, it in exp.dead:
            p = res.paths[0 if side == "left" else 1]
            want.append(("stdin" if p == "-" else p) + ":%d" % it.lineno + "\x00" + it.raw)
        got = []
        for x in dead_act:
            if [k for k, _ in x] != ["error", "source", "raw"] or not isinstance(get(x, "error"), str):
                return "dead-letter row not of the form {\"error\":…,\"source\":…,\"raw\":…}: %s" % show(norm(x))
            got.append("%s\x00%s" % (get(x, "source"), get(x, "raw")))
        if collections.Counter(want) != collections.Counter(got):
            return "dead-letter rows differ (source, raw):\n  expected %s\n  got      %s" % (
                sorted(w.replace("\x00", " ") for w in want), sorted(g.replace("\x00", " ") for g in got))

    if "control" not in SKIP:
        problem = check_control(sc, o, exp, out, ctrl, L, R)
        if problem:
            return problem

    if not sc["quiet"] and "summary" not in SKIP:
        err = res.stderr.strip().splitlines()
        m = SUMMARY.fullmatch(err[-1] if err else "")
        if not m:
            return "summary line not in the spec's form: %r" % res.stderr
        n, mm, r, k, j = (int(x) for x in m.groups())
        if n not in (exp.left_in, exp.left_in + exp.left_bad) or \
                mm not in (exp.right_in, exp.right_in + exp.right_bad) or \
                (r, k, j) != (len(data), len(exp.late), len(exp.dead)):
            return ("summary %r, want %d left in, %d right in (+%d/%d dead-lettered allowed), "
                    "%d rows out, %d late, %d dead-lettered" % (
                        err[-1], exp.left_in, exp.right_in, exp.left_bad, exp.right_bad,
                        len(data), len(exp.late), len(exp.dead)))
    elif sc["quiet"] and re.search(r"^kjoin: \d+ left in", res.stderr, re.M):
        return "-q, yet the summary was written: %r" % res.stderr[:500]
    return None


def check_control(sc, o, exp, out, ctrl, L, R):
    if sc["control"] == "off":
        if ctrl:
            return "--no-control, yet a control record was written: %s" % show(norm(ctrl[0][1]))
        return None
    forwarding = exp.controls_in or sc["control"] == "watermarks"
    if not forwarding:
        if ctrl:
            return ("no control record in the inputs and no --watermarks, yet one was written: %s"
                    % show(norm(ctrl[0][1])))
        return None
    last = None
    said = False
    for i, c in ctrl:
        kind = get(c, "@kpipe")
        said, problem = follow_order(kind, c, i + 1, said, last is not None)
        if problem:
            return problem
        if kind == "partitions":
            pass  # "watermarks follow", checked above
        elif kind == "watermark":
            ts = get(c, "ts")
            if not isinstance(ts, (int, float)) or isinstance(ts, bool):
                return "watermark control record without a numeric ts: %s" % show(norm(c))
            if last is not None and ts < last:
                return "output watermarks go back: %s after %s" % (ts, last)
            last = ts
            if o.interval and not o.merge:
                # event times of the records in rows (envelope input: the timestamp)
                times = {side: {ref.canon(it.obj): it.t for it in items if it.kind == "rec"}
                         for side, items in (("left", L), ("right", R))}
                for later in out[i + 1:]:
                    if is_control(later):
                        continue
                    for side in ("left", "right"):
                        rec = get(later, side)
                        if rec is None:
                            continue
                        t = times[side].get(ref.canon(to_plain(rec)))
                        if t is not None and t < ts:
                            return ("row after output watermark %s has a %s record at t=%d < %s: %s"
                                    % (ts, side, t, ts, show(norm(later))))
        elif kind == "end":
            if i != len(out) - 1:
                return "end control record is not the last line (line %d of %d)" % (i + 1, len(out))
        else:
            return "unexpected control record %s" % show(norm(c))
    if not ctrl or get(ctrl[-1][1], "@kpipe") != "end" or ctrl[-1][0] != len(out) - 1:
        return ("control records are forwarded (%s) and both inputs ended, yet the last line is "
                "not {\"@kpipe\":\"end\"}" % ("input carried control records" if exp.controls_in
                                              else "--watermarks"))
    return None


# ---------------------------------------------------------------- driver

_worker = {}


def worker_init(bindir, seed, base, skip):
    SKIP.update(skip)
    ref.TOMBSTONE_FORGETS_KEY = "tombstone-forgets" in SKIP
    _worker["bindir"] = bindir
    _worker["seed"] = seed
    _worker["dir"] = tempfile.mkdtemp(prefix="w", dir=base)


def safe_check(sc, left, right, res):
    try:
        return check(sc, left, right, res)
    except Exception as e:  # a driver or reference failure is a failure too, and says so
        import traceback
        return "reference raised %s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())


def run_checks(bindir, sc, left, right, workdir, fifo=True):
    """(problem or None, which run failed, Res)."""
    try:
        res = run_files(bindir, sc, left, right, workdir)
    except (OSError, subprocess.SubprocessError) as e:
        return "could not run kjoin: %s" % e, "files", None
    problem = safe_check(sc, left, right, res)
    if problem or not fifo or not sc["fifo"] or "fifo" in SKIP:
        return problem, "files", res
    try:
        res2 = run_fifo(bindir, sc, left, right, workdir, sc["fifo"], sc["fifo_seed"])
    except (OSError, subprocess.SubprocessError) as e:
        return "could not run kjoin on pipes: %s" % e, "fifo", None
    problem = safe_check(sc, left, right, res2)
    if problem:
        return "through %s: %s" % (res2.how, problem), "fifo", res2
    o = ref.parse_args(sc["args"])
    if not ref.can_be_late(o, ref.parse_input(o, left, "left"), ref.parse_input(o, right, "right")):
        d = multiset_diff(res.act_rows, res2.act_rows)
        if d:
            return ("no record can be late, yet the rows through %s differ from the rows with files "
                    "(files = expected):\n%s" % (res2.how, d)), "fifo", res2
    return None, "fifo", res2


def run_one(i):
    sc = gen_scenario(_worker["seed"], i)
    problem, _, _ = run_checks(_worker["bindir"], sc, sc["left"], sc["right"], _worker["dir"])
    o = ref.parse_args(sc["args"])
    try:
        late_possible = ref.can_be_late(o, ref.parse_input(o, sc["left"], "left"),
                                        ref.parse_input(o, sc["right"], "right"))
    except Exception:
        late_possible = False
    return i, sc["mode"], bool(sc["fifo"]), late_possible, problem


def minimise(bindir, sc, workdir, fifo, budget=300):
    """Drop lines one at a time (either side) while the scenario still fails."""
    left, right = list(sc["left"]), list(sc["right"])
    runs = 0
    changed = True
    while changed and runs < budget:
        changed = False
        for side in ("left", "right"):
            k = len(left if side == "left" else right) - 1
            while k >= 0 and runs < budget:
                cur = left if side == "left" else right
                trial = cur[:k] + cur[k + 1:]
                tl, tr = (trial, right) if side == "left" else (left, trial)
                runs += 1
                try:
                    problem, _, _ = run_checks(bindir, sc, tl, tr, workdir, fifo)
                except Exception:
                    problem = None
                if problem and not problem.startswith("reference raised"):
                    left, right = tl, tr
                    changed = True
                k -= 1
    return left, right


def report(bindir, seed, i, base):
    sc = gen_scenario(seed, i)
    workdir = tempfile.mkdtemp(prefix="fail-", dir=base)
    problem, which, _ = run_checks(bindir, sc, sc["left"], sc["right"], workdir)
    print("FAIL: scenario %d (--seed %s --only %d): %s join" % (i, seed, i, sc["mode"]))
    if not problem:
        print("(it passed when run again: the failure depends on timing; first report above)")
        return
    left, right = minimise(bindir, sc, workdir, fifo=(which == "fifo"))
    problem2, which2, res = run_checks(bindir, sc, left, right, workdir, fifo=(which == "fifo"))
    if not problem2:  # minimising made it pass (timing): show the original
        left, right = sc["left"], sc["right"]
        problem2, which2, res = run_checks(bindir, sc, left, right, workdir, fifo=(which == "fifo"))
    if res is None:
        print(problem2 or problem)
        return
    if which2 == "fifo":
        fres = run_files(bindir, sc, left, right, workdir)  # leave the inputs as files too
        print("failing run: %s" % res.how)
        print("command (on pipes): %s" % " ".join(shquote(a) for a in res.cmd))
        print("same inputs as files: %s" % " ".join(shquote(a) for a in fres.cmd))
    else:
        print("command: %s%s" % (" ".join(shquote(a) for a in res.cmd),
                                 " < " + res.files[0 if sc["stdin"] == "left" else 1] if sc["stdin"] else ""))
    print("left (%d lines, minimised from %d):" % (len(left), len(sc["left"])))
    for l in left:
        print("  " + l)
    print("right (%d lines, minimised from %d):" % (len(right), len(sc["right"])))
    for l in right:
        print("  " + l)
    print(problem2 or problem)
    for what, text in (("late file", res.late), ("dead-letter file", res.dead),
                       ("rows as written", res.rows_text)):
        if text.strip():
            print("%s:" % what)
            for l in text.splitlines()[:60]:
                print("  " + l)
    if res.stderr.strip():
        print("stderr: " + res.stderr.strip()[:2000])


def show_scenario(seed, i):
    sc = gen_scenario(seed, i)
    o = ref.parse_args(sc["args"])
    L = ref.parse_input(o, sc["left"], "left")
    R = ref.parse_input(o, sc["right"], "right")
    print("kjoin %s --late LATE%s%s LEFT RIGHT   (%s join%s%s)" % (
        " ".join(shquote(a) for a in sc["args"]), " --dead-letter DEAD" if sc["dead"] else "",
        " --output OUT" if sc["output"] else "", sc["mode"],
        ", a side on stdin: " + sc["stdin"] if sc["stdin"] else "",
        ", also through pipes " + sc["fifo"] if sc["fifo"] else ""))
    for name, lines in (("left", sc["left"]), ("right", sc["right"])):
        print("%s:" % name)
        for l in lines:
            print("  " + l)
    late = ref.can_be_late(o, L, R)
    orders = ["left-first"] if o.table or not late else ["left-first", "right-first", "alternate"]
    for spec in orders:
        res = ref.join(o, sc["left"], sc["right"], spec)
        print("expected rows%s:" % ("" if o.table else " (interleaving %s%s)" % (
            spec, "" if late else "; no record can be late, any interleaving gives these")))
        for r in res.rows:
            print("  " + ref.compact(r))
        if res.late:
            print("expected late:")
            for r in res.late:
                print("  " + ref.compact(r))


# ---------------------------------------------------------------- self-test of the reference

def self_test():
    """Hand-made cases, worked out by hand from the spec."""
    def recs(*rs):
        return [r if isinstance(r, str) else ref.compact(r) for r in rs]

    def got(args, left, right, order="left-first"):
        res = ref.join(args, recs(*left), recs(*right), order)
        return ([ref.compact(r) for r in res.rows], [ref.compact(r) for r in res.late])

    def eq(what, g, want):
        if isinstance(g, tuple) and isinstance(want, tuple) and isinstance(g[0], list):
            g = (sorted(g[0]), g[1])
            want = (sorted(want[0]), want[1])
        if g != want:
            print("self-test %s:\n got  %s\n want %s" % (what, g, want))
            raise SystemExit(1)

    iv = ["--on", "k", "--time", "ts"]
    l0 = {"k": "a", "ts": 0}
    # bounds inclusive at both ends: lt + LO = rt and lt + HI = rt
    rs = [{"k": "a", "ts": -1000}, {"k": "a", "ts": 2000}, {"k": "a", "ts": -1001},
          {"k": "a", "ts": 2001}, {"k": "b", "ts": 0}]
    for order in ("left-first", "right-first", "alternate"):
        eq("between bounds " + order, got(iv + ["--between", "-1s,2s", "--max-delay", "1h"], [l0], rs, order),
           (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":-1000}}',
             '{"left":{"k":"a","ts":0},"right":{"k":"a","ts":2000}}'], []))
    eq("between full", got(iv + ["--between", "-1s,2s", "--type", "full", "--max-delay", "1h"], [l0], rs),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":-1000}}',
         '{"left":{"k":"a","ts":0},"right":{"k":"a","ts":2000}}',
         '{"left":null,"right":{"k":"a","ts":-1001}}', '{"left":null,"right":{"k":"a","ts":2001}}',
         '{"left":null,"right":{"k":"b","ts":0}}'], []))
    # LO = HI (only rt = lt + 500 matches), both negative
    eq("lo = hi", got(iv + ["--between", "-500ms,-500ms", "--max-delay", "1h"],
                      [l0], [{"k": "a", "ts": -500}, {"k": "a", "ts": 500}, {"k": "a", "ts": 0}]),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":-500}}'], []))
    # an outer row for a key that never matches; right join type keeps right ones
    eq("left outer", got(iv + ["--within", "5s", "--type", "left"], [{"k": "b", "ts": 0}, l0],
                         [{"k": "a", "ts": 1}]),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":1}}',
         '{"left":{"k":"b","ts":0},"right":null}'], []))
    eq("right outer", got(iv + ["--within", "5s", "--type", "right"], [{"k": "b", "ts": 0}],
                          [{"k": "a", "ts": 1}]),
       (['{"left":null,"right":{"k":"a","ts":1}}'], []))
    # a record arriving when W is exactly at its eviction time / at its own time:
    # --within 1s, l at 0 is kept until W > 1000. W_left = W_right = 1000, then r at
    # 1000 arrives: 1000 + 0 >= 1000, on time, and 1000 <= 0 + 1000: it pairs with l.
    # r at 999 next: 999 < W = 1000: late.
    left = [{"k": "a", "ts": 0}, {"k": "z", "ts": 1000}]
    right = [{"k": "y", "ts": 1000}, {"k": "a", "ts": 1000}, {"k": "a", "ts": 999}]
    eq("at eviction", got(iv + ["--within", "1s", "--type", "full"], left, right, "LLRRRLR"),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":1000}}',
         '{"left":{"k":"z","ts":1000},"right":null}', '{"left":null,"right":{"k":"y","ts":1000}}'],
        ['{"late":{"k":"a","ts":999},"side":"right","watermark":1000}']))
    # ... the same with lateness 1ms: 999 + 1 >= 1000 is on time and pairs with l (|999| <= 1000)
    eq("lateness", got(iv + ["--within", "1s", "--lateness", "1ms"], left, right, "LLRRRLR"),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":1000}}',
         '{"left":{"k":"a","ts":0},"right":{"k":"a","ts":999}}'], []))
    # ... right first: W_left is -inf while RIGHT is read, nothing is late
    eq("right first", got(iv + ["--within", "1s"], left, right, "right-first"),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":1000}}',
         '{"left":{"k":"a","ts":0},"right":{"k":"a","ts":999}}'], []))
    # W = min of the sides: left l at 0 after both sides reached 5000 is late at W 5000;
    # max delay 5s makes it on time (W = 0)
    left = [{"k": "a", "ts": 5000}, {"k": "a", "ts": 0}]
    right = [{"k": "a", "ts": 5000}, {"k": "a", "ts": 500}]
    eq("min W", got(iv + ["--within", "1s"], left, right, "LRLLRR"),
       (['{"left":{"k":"a","ts":5000},"right":{"k":"a","ts":5000}}'],
        ['{"late":{"k":"a","ts":0},"side":"left","watermark":5000}',
         '{"late":{"k":"a","ts":500},"side":"right","watermark":5000}']))
    eq("min W, delay", got(iv + ["--within", "1s", "--max-delay", "5s"], left, right, "LRLLRR"),
       (['{"left":{"k":"a","ts":5000},"right":{"k":"a","ts":5000}}',
         '{"left":{"k":"a","ts":0},"right":{"k":"a","ts":500}}'], []))
    # control watermark and end records; after LEFT's end, W = W_right. A
    # side's W is min(W_in, W_own): RIGHT's watermark record 4000 cannot take
    # it past its own 2000, so 3500 is on time (kpipe(7), EVENT TIME).
    left = ['{"@kpipe":"watermark","ts":3000}', {"k": "a", "ts": 1000}, '{"@kpipe":"end"}']
    right = [{"k": "a", "ts": 2000}, '{"@kpipe":"watermark","ts":4000}', {"k": "a", "ts": 3500}]
    eq("control", got(iv + ["--within", "1s"], left, right, "LRLLLRRR"),
       ([], ['{"late":{"k":"a","ts":1000},"side":"left","watermark":2000}']))
    # a stricter watermark record holds a side back: W_right = min(W_in 2500,
    # W_own 5000) = 2500, so 2000 is late and 3000 on time
    left = [{"k": "a", "ts": 9000}]
    right = ['{"@kpipe":"watermark","ts":2500}', {"k": "a", "ts": 5000}, {"k": "a", "ts": 2000},
             {"k": "a", "ts": 3000}]
    eq("stricter control", got(iv + ["--within", "10s"], left, right, "LRRRRLR"),
       (['{"left":{"k":"a","ts":9000},"right":{"k":"a","ts":5000}}',
         '{"left":{"k":"a","ts":9000},"right":{"k":"a","ts":3000}}'],
        ['{"late":{"k":"a","ts":2000},"side":"right","watermark":2500}']))
    # keys by compact JSON, 1 = 1.0; composite keys; LPATH=RPATH; --merge
    eq("1 = 1.0", got(["--on", "k=m.k", "--on", "g", "--time", "ts", "--within", "0s"],
                      ['{"k":1,"g":"x","ts":0}', '{"k":1,"g":"y","ts":0}'],
                      ['{"m":{"k":1.0},"g":"x","ts":0}']),
       (['{"left":{"k":1,"g":"x","ts":0},"right":{"m":{"k":1.0},"g":"x","ts":0}}'], []))
    eq("merge", got(iv + ["--within", "1s", "--merge", "--type", "full"],
                    [{"id": "l", "k": "a", "ts": 0, "x": 1}, {"id": "l2", "k": "q", "ts": 0}],
                    [{"x": 2, "k": "a", "w": 3, "ts": 0}, {"w": 4, "k": "z", "ts": 0}]),
       (['{"id":"l","k":"a","ts":0,"x":1,"w":3}', '{"id":"l2","k":"q","ts":0}',
         '{"w":4,"k":"z","ts":0}'], []))
    # a bad line is dead-lettered and changes nothing (its time does not raise W)
    res = ref.join(iv + ["--within", "1s", "--dead-letter", "x"], recs({"k": "a", "ts": 0}),
                   recs({"ts": 9000}, "{oops", {"k": None, "ts": 9000}, {"k": "a", "ts": 0}),
                   "right-first")
    eq("bad", ([ref.compact(r) for r in res.rows], [(s, it.lineno, it.reason) for s, it in res.dead],
               res.late),
       (['{"left":{"k":"a","ts":0},"right":{"k":"a","ts":0}}'],
        [("right", 1, "missing join key"), ("right", 2, "invalid JSON"), ("right", 3, "missing join key")],
        []))
    # find_orders: the observed late rows pin the interleaving down
    o = ref.parse_args(iv + ["--within", "1s"])
    L = ref.parse_input(o, recs({"k": "a", "ts": 5000}, {"k": "a", "ts": 0}), "left")
    R = ref.parse_input(o, recs({"k": "a", "ts": 5000}, {"k": "a", "ts": 500}), "right")
    c0, c5 = ref.canon({"k": "a", "ts": 0}), ref.canon({"k": "a", "ts": 500})
    orders = ref.find_orders(o, L, R, [("left", c0, 5000), ("right", c5, 5000)], limit=100)
    # l0 late needs W_right >= 5000 (after r5000), r500 late needs W_left >= 5000, and
    # the late file has l0 before r500; the end of each input anywhere after its last line
    eq("orders both late", sorted(orders), ["LRLLRR", "LRLRLR", "LRLRRL", "RLLLRR", "RLLRLR", "RLLRRL"])
    # none late is impossible: l0 on time needs RIGHT not started, r500 on time needs
    # LEFT not started; only l0 late: all of RIGHT first
    eq("orders none late", ref.find_orders(o, L, R, [], limit=1000), [])
    eq("orders only left late", sorted(ref.find_orders(o, L, R, [("left", c0, 5000)], limit=100)),
       ["RRLLLR", "RRLLRL", "RRLRLL", "RRRLLL"])
    eq("orders wrong W", ref.find_orders(o, L, R, [("left", c0, 4000)]), [])
    eq("orders right first", sorted(ref.find_orders(o, L, R, [("right", c5, 5000), ("left", c0, 5000)],
                                             limit=100)),
       ["LRRLLR", "LRRLRL", "LRRRLL", "RLRLLR", "RLRLRL", "RLRRLL"])
    eq("orders wrong side", ref.find_orders(o, L, R, [("right", c0, 5000)]), [])
    # only r500 late: l0 came before RIGHT started (W = -inf), r500 after l5000
    eq("orders only right late", sorted(ref.find_orders(o, L, R, [("right", c5, 5000)], limit=100)),
       ["LLLRRR", "LLRLRR", "LLRRLR", "LLRRRL"])
    # no record can be late when each has t + L >= its own side's W
    eq("can be late", (ref.can_be_late(o, L, R),
                       ref.can_be_late(o, ref.parse_input(o, recs(l0, {"k": "a", "ts": 0}), "left"), R[:1])),
       (True, False))

    # --table: the last right record per key; left type adds "right":null
    right = [{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "a", "v": 3}]
    left = [{"k": "a", "id": 1}, {"k": "c", "id": 2}, {"k": "b", "id": 3}]
    eq("table inner", got(["--on", "k", "--table"], left, right),
       (['{"left":{"k":"a","id":1},"right":{"k":"a","v":3}}',
         '{"left":{"k":"b","id":3},"right":{"k":"b","v":2}}'], []))
    eq("table left merge", got(["--on", "k", "--table", "--type", "left", "--merge"], left, right),
       (['{"k":"a","id":1,"v":3}', '{"k":"c","id":2}', '{"k":"b","id":3,"v":2}'], []))
    # --as-of: greatest rt <= lt; an older version arriving later is seen; ties: later line
    right = [{"k": "a", "ts": 0, "v": 0}, {"k": "a", "ts": 2000, "v": 2},
             {"k": "a", "ts": 1000, "v": 1}, {"k": "a", "ts": 2000, "v": 22}]
    left = [{"k": "a", "ts": 1500}, {"k": "a", "ts": -1}, {"k": "a", "ts": 2000}, {"k": "a", "ts": 1000}]
    eq("as-of", got(["--on", "k", "--as-of", "--time", "ts", "--type", "left"], left, right),
       (['{"left":{"k":"a","ts":1500},"right":{"k":"a","ts":1000,"v":1}}',
         '{"left":{"k":"a","ts":-1},"right":null}',
         '{"left":{"k":"a","ts":2000},"right":{"k":"a","ts":2000,"v":22}}',
         '{"left":{"k":"a","ts":1000},"right":{"k":"a","ts":1000,"v":1}}'], []))

    # envelope input: the record is the value; the time is the envelope timestamp
    # without a time path; a null value on the RIGHT of a table join is a tombstone
    def env(off, ts, key, value):
        return ref.compact({"topic": "t", "partition": 0, "offset": off, "timestamp": ts,
                            "timestamp_type": "create", "key": key, "headers": [], "value": value})
    right = [env(1, 0, "a", {"k": "a", "v": 1}), env(2, 0, "b", {"k": "b", "v": 2}),
             env(3, 0, "a", None), env(4, 0, "c", None)]
    eq("table tombstone", got(["--on", "k", "--table", "--type", "left"],
                              [{"k": "a"}, {"k": "b"}], right),
       (['{"left":{"k":"a"},"right":null}', '{"left":{"k":"b"},"right":{"k":"b","v":2}}'], []))
    # as-of: a tombstone is a version "no record"; a second, older tombstone of the
    # same message key arriving after a newer one is a version too (the key it names
    # is the one its message key last set)
    right = [env(1, -3000, "b", {"k": "b", "id": "r1"}), env(2, 6000, "b", None),
             env(3, 1000, "b", None)]
    left = [{"k": "b", "ts": 2500}, {"k": "b", "ts": 500}, {"k": "b", "ts": 7000}]
    eq("as-of tombstones", got(["--on", "k", "--left-time", "ts", "--as-of", "--type", "left"], left, right),
       (['{"left":{"k":"b","ts":2500},"right":null}',
         '{"left":{"k":"b","ts":500},"right":{"k":"b","id":"r1"}}',
         '{"left":{"k":"b","ts":7000},"right":null}'], []))
    # interval join on envelope timestamps (W from them); the rows hold the values
    eq("interval envelope", got(["--on", "k", "--within", "1s", "--type", "full"],
                                [env(1, 0, None, {"k": "a", "ts": 99})],
                                [env(1, 1000, None, {"k": "a"}), env(2, 1001, None, {"k": "a", "i": 2})]),
       (['{"left":{"k":"a","ts":99},"right":{"k":"a"}}', '{"left":null,"right":{"k":"a","i":2}}'], []))

    # the driver's own pieces: pipe plans deliver every byte, once, to the right side
    for pattern in ("left-first", "right-first", "alternate", "random"):
        for seed in range(20):
            lft = ["l%d" % n for n in range(seed % 5)]
            rgt = ["r%d" % n for n in range(seed % 7)]
            plan = fifo_plan(pattern, lft, rgt, seed)
            data = {"L": b"", "R": b""}
            closed = []
            for side, chunk, _ in plan:
                if chunk is None:
                    closed.append(side)
                else:
                    assert side not in closed, (pattern, seed)
                    data[side] += chunk.encode() if isinstance(chunk, str) else chunk
            eq("plan %s %d" % (pattern, seed), (data["L"].decode(), data["R"].decode(), sorted(closed)),
               ("".join(x + "\n" for x in lft), "".join(x + "\n" for x in rgt), ["L", "R"]))
    # every generated scenario is covered by the reference
    for n in range(300):
        sc = gen_scenario("self", n)
        ref.join(sc["args"], sc["left"], sc["right"], "alternate")
    print("self-test ok")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", default="1")
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--only", type=int, help="run this scenario number alone")
    ap.add_argument("--show", type=int, help="print this scenario (command, input, expected) and exit")
    ap.add_argument("--self-test", action="store_true", help="check the reference on hand-made cases")
    ap.add_argument("--bin", default=os.environ.get("KPIPE_BIN", os.path.join(HERE, "..", "..", "build")))
    ap.add_argument("--skip", action="append", default=[],
                    choices=["control", "summary", "dead-letter", "fifo", "tombstone-forgets"],
                    help="leave out a check (to look past a known discrepancy)")
    a = ap.parse_args()

    if a.self_test:  # the reference as the spec reads, whatever --skip says
        self_test()
        return 0
    SKIP.update(a.skip)
    ref.TOMBSTONE_FORGETS_KEY = "tombstone-forgets" in SKIP
    if a.show is not None:
        show_scenario(a.seed, a.show)
        return 0
    if not os.access(os.path.join(a.bin, "kjoin"), os.X_OK):
        print("FAIL: no executable kjoin in %s (set KPIPE_BIN or --bin)" % a.bin)
        return 1

    start = time.time()
    base = tempfile.mkdtemp(prefix="kpipe-join-prop-")
    indexes = [a.only] if a.only is not None else range(a.scenarios)
    counts = collections.Counter()
    failure = None

    def tally(mode, fifo, late_possible):
        counts[mode] += 1
        counts["fifo"] += fifo
        counts["late-possible"] += late_possible

    if a.jobs <= 1 or a.only is not None:
        worker_init(a.bin, a.seed, base, a.skip)
        for i in indexes:
            i, mode, fifo, lp, problem = run_one(i)
            tally(mode, fifo, lp)
            if problem:
                failure = (i, problem)
                break
    else:
        with multiprocessing.Pool(a.jobs, worker_init, (a.bin, a.seed, base, a.skip)) as pool:
            for i, mode, fifo, lp, problem in pool.imap(run_one, indexes, chunksize=8):
                tally(mode, fifo, lp)
                if problem:
                    failure = (i, problem)
                    pool.terminate()
                    break
    if failure:
        first = failure[1] if len(failure[1]) < 1500 else failure[1][:1500] + " ..."
        print("first report (before minimising): scenario %d: %s\n" % (failure[0], first))
        SKIP.update(a.skip)
        report(a.bin, a.seed, failure[0], base)
        print("(work files kept in %s)" % base)
        return 1
    shutil.rmtree(base, ignore_errors=True)
    n = counts["interval"] + counts["table"] + counts["asof"]
    print("ok: %d scenarios (interval %d, table %d, as-of %d; %d also through pipes; "
          "%d where some record can be late) in %.1fs, seed %s" % (
              n, counts["interval"], counts["table"], counts["asof"], counts["fifo"],
              counts["late-possible"], time.time() - start, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
