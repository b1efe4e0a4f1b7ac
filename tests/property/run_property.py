#!/usr/bin/env python3
"""Property test: kwindow and kagg against the naive reference in window_ref.py.

Randomized out-of-order streams with coarse timestamps (multiples of 500 or
1000 ms around the epoch, negative times included) so that every bound is hit
exactly: a record exactly at a window end, W exactly at end + L, sessions that
just touch. Each scenario picks window kind x max delay x lateness x emit mode
x aggregates x group keys, runs the binary once on a temp file and compares
its rows and late rows with the reference, exactly (row order and field order
included; numbers by value, so 2 == 2.0).

    run_property.py [--seed S] [--scenarios N] [--jobs J] [--tool kwindow|kagg|both]
                    [--only I] [--show I] [--self-test] [--bin DIR] [--skip CHECK]

--only I reruns scenario I of a seed (the failure message names it), --show I
prints a scenario and what the reference expects, --self-test checks the
reference on hand-made cases. --skip wm-bound|summary|ttl-at-once leaves out a
check (ttl-at-once: forget TTL-expired keys only when W advances) to look past
a known discrepancy; the CTest entry uses none.

Binaries come from $KPIPE_BIN (a directory), default ../../build from here.
Exit 0 and `ok: N scenarios` when everything agrees; on the first mismatch the
scenario (command line, input, expected vs actual, the input minimised) is
printed and the exit status is 1.
"""

import argparse
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
import window_ref as ref  # noqa: E402

MISSING = ref.MISSING


# ---------------------------------------------------------------- JSON comparison

def from_ref(row):
    """A reference row (dict) -> the form actual rows are compared in."""
    return loads(ref.compact(row))


def as_ms(v):
    """Window bounds as numbers: epoch ms, or an RFC 3339 string parsed back."""
    if isinstance(v, str):
        return ref.parse_rfc3339(v)
    return v


# ---------------------------------------------------------------- generator

KEYS = ["a", "b", "c", 7, None, MISSING]
SVALS = ["x", "y", "z", 1, 2, True, [1, 2], {"q": 1}, "x", "y", None, MISSING]


def gen_records(rng, sc):
    """Input lines (JSON text) and their event times, out of order, coarse."""
    unit = sc["unit"]
    n = rng.choice([1, 2, 3, 5, 8, 12, 16, 20, 30])
    disorder = rng.choice([0, 1, 2, 3, 4, 8])
    p_wm = rng.choice([0, 0, 0, 0.1, 0.25]) if sc["allow_wm"] else 0
    keys = rng.sample(KEYS, rng.choice([1, 1, 2, 2, 3]))
    gkeys = rng.sample(["x", "y", None, MISSING], rng.choice([1, 2]))
    p_float = 0.15 if rng.random() < 0.3 else 0
    p_null = rng.choice([0, 0.1, 0.3])
    cur = rng.randint(-10, 3) * unit
    lines = []
    for _ in range(n):
        cur += rng.choice([0, 0, 1, 1, 1, 2, 3, 6]) * unit
        t = cur - rng.randint(0, disorder) * unit if rng.random() < 0.5 else cur
        rec = {}
        fields = ["time", "k", "g", "v", "s"]
        if rng.random() < 0.2:
            rng.shuffle(fields)
        for f in fields:
            if f == "time":
                tv = time_value(rng, sc, t)
                if sc["time_path"] == "meta.ts":
                    rec["meta"] = {"ts": tv}
                else:
                    rec["ts"] = tv
            elif f == "k":
                k = rng.choice(keys)
                if k is not MISSING:
                    rec["k"] = k
            elif f == "g":
                g = {}
                c = rng.choice(gkeys)
                if c is not MISSING:
                    g["c"] = c
                if rng.random() < 0.7:
                    g["v"] = rng.randint(-2, 4)
                if g or rng.random() < 0.5:
                    rec["g"] = g
            elif f == "v":
                r = rng.random()
                if r < p_null / 2:
                    rec["v"] = None
                elif r < p_null:
                    pass
                elif rng.random() < p_float:
                    rec["v"] = rng.randint(-6, 12) + 0.5
                else:
                    rec["v"] = rng.randint(-3, 9)
            elif f == "s":
                s = rng.choice(SVALS)
                if s is not MISSING:
                    rec["s"] = s
        lines.append(ref.compact(rec))
        if rng.random() < p_wm:
            lines.append(ref.compact({"@kpipe": "watermark", "ts": cur + rng.randint(-4, 1) * unit}))
    if sc["allow_wm"] and rng.random() < 0.15:
        lines.append('{"@kpipe":"end"}')
    return lines


def time_value(rng, sc, t):
    if sc["time_kind"] == "rfc3339":
        text = ref.format_rfc3339(t)
        if rng.random() < 0.3 and t % 1000 == 0:  # same instant with an offset
            text = ref.format_rfc3339(t + 3_600_000)[:-1] + "+01:00"
        return text
    if sc["time_unit"] == "s":
        return t // 1000 if t % 1000 == 0 else t / 1000
    return t


AGGS = ["count", "count", "count:v", "count:s", "sum:v", "min:v", "max:v", "avg:v", "first:v",
        "last:v", "first:s", "last:s", "distinct:v", "distinct:s", "collect:v", "collect:s",
        "sum:g.v", "max:g.v", "count:g.v", "first:g", "distinct:g"]
RENAMES = {"count": "n", "sum:v": "total", "collect:s": "all_s", "last:s": "latest", "avg:v": "mean"}


def gen_aggs(rng):
    chosen, names = [], set()
    for _ in range(rng.choice([1, 1, 2, 3, 4, 5])):
        spec = rng.choice(AGGS)
        if spec in RENAMES and rng.random() < 0.3:
            spec = RENAMES[spec] + "=" + spec
        name = ref.Agg(spec).name
        if name not in names:
            names.add(name)
            chosen.append(spec)
    style = rng.random()
    if style < 0.4:
        return ["-a", ",".join(chosen)]
    out = []
    for s in chosen:
        out += rng.choice([["-a", s], ["--agg", s], ["--agg=" + s]])
    return out


def gen_by(rng):
    by = rng.choice([[], [], ["k"], ["k"], [".k"], ["key=k"], ["k", "g.c"], ["k,g.c"], ["g.c"]])
    out = []
    for b in by:
        out += ["--by", b]
    return out


def gen_scenario(seed, i, tool_choice):
    rng = random.Random("%s/%s" % (seed, i))
    if tool_choice == "both":
        tool = "kwindow" if rng.random() < 0.7 else "kagg"
    else:
        tool = tool_choice
    unit = rng.choice([500, 1000, 1000])
    control = rng.random()
    sc = {"tool": tool, "unit": unit, "time_path": "ts", "time_kind": "number", "time_unit": "ms",
          "control": "off" if control < 0.75 else ("on" if control < 0.95 else "watermarks"),
          "quiet": rng.random() < 0.9}
    sc["allow_wm"] = sc["control"] != "watermarks" or rng.random() < 0.5
    r = rng.random()
    if r < 0.06:
        sc["time_kind"] = "rfc3339"
    elif r < 0.12:
        sc["time_unit"] = "s"
    if rng.random() < 0.1:
        sc["time_path"] = "meta.ts"

    args = []
    emit = rng.choice(["final", "final", "final", "changes", "changes", "every:1h", "every:1ms"])
    sc["emit"] = emit
    if tool == "kwindow":
        kind = rng.choice(["tumble", "tumble", "hop", "hop", "session", "session"])
        sc["kind"] = kind
        if kind == "tumble":
            size = rng.choice([1, 2, 3, 4]) * unit
            args += ["--tumble", dur(size, rng)]
        elif kind == "hop":
            slide = rng.choice([1, 1, 2, 3]) * unit
            size = slide * rng.choice([1, 2, 3]) + rng.choice([0, 0, 1, 2]) * unit
            if rng.random() < 0.15:
                size = slide + 500  # size not a multiple of the slide
            args += ["--hop", dur(size, rng), "--slide", dur(slide, rng)]
        else:
            gap = rng.choice([1, 1, 2, 3]) * unit
            args += ["--session", dur(gap, rng)]
        D = rng.choice([0, 0, 0, 1, 2, 4]) * unit
        L = rng.choice([0, 0, 0, 1, 2]) * unit
        if D or rng.random() < 0.3:
            args += ["--max-delay", dur(D, rng)]
        if L or rng.random() < 0.3:
            args += ["--lateness", dur(L, rng)]
        bounds = [size if kind != "session" else gap, D, L] + ([slide] if kind == "hop" else [])
        if sc["control"] == "off" and unit == 1000 and all(b % 1000 == 0 for b in bounds) \
                and rng.random() < 0.1:
            args += ["--time-format", "rfc3339"]
            sc["rfc3339_out"] = True
    else:
        if rng.random() < 0.6:
            sc["with_time"] = True
            if rng.random() < 0.6:
                ttl = rng.choice([1, 2, 3, 4, 6]) * unit
                args += ["--ttl", dur(ttl, rng)]
            D = rng.choice([0, 0, 1, 2]) * unit
            if D or rng.random() < 0.3:
                args += ["--max-delay", dur(D, rng)]
    if tool == "kwindow" or sc.get("with_time"):
        args += ["--time", sc["time_path"]]
        if sc["time_unit"] != "ms" or rng.random() < 0.1:
            args += ["--time-unit", sc["time_unit"]]
    args += gen_by(rng) + gen_aggs(rng)
    if emit != "final" or rng.random() < 0.2:
        args += ["--emit", emit]
    if sc["control"] == "off":
        args.append("--no-control")
    elif sc["control"] == "watermarks":
        args.append("--watermarks")
    if sc["quiet"]:
        args.append(rng.choice(["-q", "--quiet"]))
    sc["args"] = args
    sc["lines"] = gen_records(rng, sc)
    if emit == "every:1ms" and rng.random() < 0.7:
        sc["slow"] = rng.choice(["stdin", "dash"])
    return sc


# ---------------------------------------------------------------- running one scenario

class Result:
    def __init__(self):
        self.exit = None
        self.stdout = ""
        self.stderr = ""
        self.late = ""


def run_binary(bindir, sc, lines, workdir, tag):
    inp = os.path.join(workdir, "in%s.jsonl" % tag)
    late = os.path.join(workdir, "late%s.jsonl" % tag)
    with open(inp, "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in lines))
    if os.path.exists(late):
        os.unlink(late)
    cmd = [os.path.join(bindir, sc["tool"])] + sc["args"]
    if sc["tool"] == "kwindow":
        cmd += ["--late", late]
    res = Result()
    if sc.get("slow"):
        # Through stdin, a line every ~2 ms, so that every:1ms ticks fall mid-stream.
        if sc["slow"] == "dash":
            cmd.append("-")
        outp, errp = inp + ".out", inp + ".err"
        with open(outp, "wb") as fo, open(errp, "wb") as fe:
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=fo, stderr=fe)
            try:
                for l in lines:
                    p.stdin.write((l + "\n").encode("utf-8"))
                    p.stdin.flush()
                    time.sleep(0.002)
                p.stdin.close()
            except BrokenPipeError:
                pass
            res.exit = p.wait(timeout=30)
        with open(outp, "rb") as f:
            res.stdout = f.read().decode("utf-8", "replace")
        with open(errp, "rb") as f:
            res.stderr = f.read().decode("utf-8", "replace")
    else:
        cmd.append(inp)
        p = subprocess.run(cmd, capture_output=True, timeout=30)
        res.exit = p.returncode
        res.stdout = p.stdout.decode("utf-8", "replace")
        res.stderr = p.stderr.decode("utf-8", "replace")
    if os.path.exists(late):
        with open(late, encoding="utf-8") as f:
            res.late = f.read()
    res.cmd = cmd
    res.input = inp
    return res


def group_names(sc):
    o = ref.parse_args(sc["args"], sc["tool"])
    return [name for name, _ in o.by]


def check(sc, lines, res):
    """None when the binary agrees with the reference, else a description."""
    tool = sc["tool"]
    if tool == "kwindow":
        exp_rows, exp_late, info = ref.kwindow(sc["args"], lines)
    else:
        exp_rows, info = ref.kagg(sc["args"], lines)
        exp_late = []
    if res.exit != 0:
        return "exit status %s, want 0; stderr: %s" % (res.exit, res.stderr.strip()[:2000])
    try:
        out = [loads(l) for l in res.stdout.splitlines()]
    except ValueError as e:
        return "stdout is not JSON lines: %s" % e
    data = [o for o in out if not is_control(o)]
    ctrl = [(i, o) for i, o in enumerate(out) if is_control(o)]

    rfc = sc.get("rfc3339_out")

    def canon_row(row):
        if rfc:
            row = Obj((k, as_ms(v) if k in ("window_start", "window_end") and isinstance(v, str)
                       else v) for k, v in row)
        return norm(row)

    exp = [canon_row(from_ref(r)) for r in exp_rows]
    act = [canon_row(r) for r in data]
    what = "rows"
    if sc["emit"] == "every:1ms":
        problem = check_every(sc, lines, exp, act, canon_row)
        if problem:
            return "emit every:1ms: " + problem + "\n" + side_by_side(exp, act)
    elif exp != act:
        return "%s differ\n%s" % (what, side_by_side(exp, act))

    if tool == "kwindow":
        try:
            late_act = [loads(l) for l in res.late.splitlines()]
        except ValueError as e:
            return "late file is not JSON lines: %s" % e

        def canon_late(row):
            return norm(Obj((k, as_ms(v) if k in ("window_end", "watermark") and isinstance(v, str)
                             else v) for k, v in row))
        lexp = [canon_late(from_ref(r)) for r in exp_late]
        lact = [canon_late(r) for r in late_act]
        if lexp != lact:
            return "late rows differ\n%s" % side_by_side(lexp, lact)

    # control records
    if sc["control"] == "off":
        if ctrl:
            return "--no-control, yet control records were written: %s" % show(norm(ctrl[0][1]))
    else:
        last_ts = None
        said = False
        for pos, (i, c) in enumerate(ctrl):
            kind = get(c, "@kpipe")
            said, problem = follow_order(kind, c, i + 1, said, last_ts is not None)
            if problem:
                return problem
            if kind == "partitions":
                pass  # "watermarks follow", checked above
            elif kind == "watermark":
                ts = get(c, "ts")
                if not isinstance(ts, int) or isinstance(ts, bool):
                    return "watermark control record without an integer ts: %s" % show(norm(c))
                if last_ts is not None and ts < last_ts:
                    return "output watermarks go back: %s after %s" % (ts, last_ts)
                last_ts = ts
                if tool == "kwindow":
                    for later in ([] if "wm-bound" in SKIP else out[i + 1:]):
                        if not is_control(later):
                            ws = as_ms(get(later, "window_start"))
                            if ws < ts:
                                return ("row after watermark %d has window_start %s < %d: %s"
                                        % (ts, ws, ts, show(norm(later))))
                elif ts not in info["w_values"]:
                    return ("kagg forwarded watermark %d, which W never was (W took %s)"
                            % (ts, sorted(info["w_values"])))
            elif kind == "end":
                # Written also when the input had none: at the end of a file the
                # upstream input is finished too (DESIGN.md §2), so that is allowed.
                if i != len(out) - 1:
                    return "end control record is not the last line (line %d of %d)" % (i + 1, len(out))
            else:
                return "unexpected control record %s" % show(norm(c))
        if info["end_forwarded"] and not any(get(c, "@kpipe") == "end" for _, c in ctrl):
            return "input ended with {\"@kpipe\":\"end\"} but it was not forwarded"
        # A session can still be extended backwards while it is open, so a
        # session kwindow may have no safe watermark to write: not required there.
        # kwindow: required once a finite W has closed a window.
        wants_wm = (info["wm_raised"] or sc["control"] == "watermarks") and sc.get("kind") != "session"
        if tool == "kwindow" and not info["closed_early"]:
            wants_wm = False
        # kagg: required when an input watermark raised W. (With --watermarks alone the
        # spec does not say when kagg writes W; kagg writes it after rows a TTL releases.)
        if tool == "kagg" and not info["wm_raised"]:
            wants_wm = False
        finite_w = any(abs(w) != float("inf") for w in info["w_values"])
        if wants_wm and finite_w and not any(get(c, "@kpipe") == "watermark" for _, c in ctrl):
            return "no watermark control record was written (input watermark raised W%s)" % (
                ", --watermarks" if sc["control"] == "watermarks" else "")

    if not sc["quiet"] and "summary" not in SKIP:
        err = res.stderr.strip().splitlines()
        if tool == "kwindow":
            m = re.fullmatch(r"kwindow: (\d+) records? in, (\d+) rows? out, (\d+) late, (\d+) dead-lettered",
                             err[-1] if err else "")
            if not m:
                return "summary line not in the spec's form: %r" % res.stderr
            got = tuple(int(x) for x in m.groups())
            want = (info["records"], len(data), info["late"], 0)
            if got != want:
                return "summary %s, want %s (records in, data rows out, late, dead-lettered)" % (got, want)
        else:
            if not err or not re.match(r"kagg: %d records? in, " % info["records"], err[-1]):
                return "kagg summary line %r, want 'kagg: %d records in, ...'" % (res.stderr, info["records"])
    return None


def identity(row, sc, names):
    """(window,) key of a row: window bounds (kwindow) and group fields."""
    d = dict(row[1])
    key = tuple(d.get(n) for n in names)
    if sc["tool"] == "kwindow":
        return key, (d["window_start"][1], d["window_end"][1])
    return key, None


def check_every(sc, lines, exp, act, canon_row):
    """Removing the periodic rows and their retractions leaves exactly the final
    rows; every periodic row is a row that --emit changes writes at some point (a
    tick falls between two records), and is followed by a final row of its
    (window, key) or, for a session that moved or merged, by its retraction: the
    row again with "retract":true, before any other row of that (window, key)."""
    names = group_names(sc)
    changes_args = ["changes" if a == sc["emit"] else a for a in sc["args"]]
    if sc["tool"] == "kwindow":
        changes_rows = ref.kwindow(changes_args, lines)[0]
    else:
        changes_rows = ref.kagg(changes_args, lines)[0]
    states = {canon_row(from_ref(r)) for r in changes_rows if not r.get("retract")}
    matched = {}
    j = len(act) - 1
    for i in range(len(exp) - 1, -1, -1):
        while j >= 0 and act[j] != exp[i]:
            j -= 1
        if j < 0:
            return "final row %d is missing (or out of order) in the output" % (i + 1)
        matched[j] = i
        j -= 1
    standing = {}  # (key, window) -> (position, the periodic row written last)
    for pos, row in enumerate(act):
        if row[0] != "o":
            return "row %d is not an object" % (pos + 1)
        ident = identity(row, sc, names)
        if pos in matched:
            standing.pop(ident, None)  # the final row replaces it
            continue
        fields = [(k, v) for k, v in row[1] if k != "retract"]
        if len(fields) != len(row[1]):
            if sc.get("kind") != "session":
                return "row %d retracts a row of a window that is no session" % (pos + 1)
            if ident not in standing or standing[ident][1] != ("o", tuple(fields)):
                return "row %d retracts no periodic row that stands" % (pos + 1)
            del standing[ident]
            continue
        if row not in states:
            return ("periodic row %d is no state its (window, key) ever had (not a row of "
                    "--emit changes)" % (pos + 1))
        standing[ident] = (pos, row)
    if standing:
        pos = min(p for p, _ in standing.values())
        return "periodic row %d has no final row of its (window, key) after it, nor a retraction" % (pos + 1)
    return None


def side_by_side(exp, act):
    out = []
    first = next((i for i in range(max(len(exp), len(act)))
                  if i >= len(exp) or i >= len(act) or exp[i] != act[i]), None)
    out.append("first difference at row %s" % (first + 1 if first is not None else "-"))
    out.append("expected (%d):" % len(exp))
    out += ["  %s%s" % ("> " if i == first else "  ", show(r)) for i, r in enumerate(exp)]
    out.append("actual (%d):" % len(act))
    out += ["  %s%s" % ("> " if i == first else "  ", show(r)) for i, r in enumerate(act)]
    return "\n".join(out)


# ---------------------------------------------------------------- driver

_worker = {}
SKIP = set()  # names of checks left out (--skip), for exploring past a known discrepancy


def worker_init(bindir, seed, tool_choice, base, skip=()):
    SKIP.update(skip)
    ref.TTL_SWEEP_ONLY_ON_ADVANCE = "ttl-at-once" in SKIP
    _worker["bindir"] = bindir
    _worker["seed"] = seed
    _worker["tool"] = tool_choice
    _worker["dir"] = tempfile.mkdtemp(prefix="w", dir=base)


def run_one(i):
    sc = gen_scenario(_worker["seed"], i, _worker["tool"])
    try:
        res = run_binary(_worker["bindir"], sc, sc["lines"], _worker["dir"], "")
    except (OSError, subprocess.SubprocessError) as e:
        return i, sc["tool"], "could not run the binary: %s" % e
    try:
        problem = check(sc, sc["lines"], res)
    except Exception as e:  # a reference bug is a failure too, and says so
        problem = "reference raised %s: %s" % (type(e).__name__, e)
    return i, sc["tool"], problem


def minimise(bindir, sc, workdir, budget=400):
    """Drop input lines one at a time while the scenario still fails."""
    lines = list(sc["lines"])
    runs = 0
    changed = True
    while changed and runs < budget:
        changed = False
        for k in range(len(lines) - 1, -1, -1):
            if runs >= budget:
                break
            trial = lines[:k] + lines[k + 1:]
            if not trial:
                continue
            runs += 1
            try:
                res = run_binary(bindir, sc, trial, workdir, "-min")
                problem = check(sc, trial, res)
            except Exception:
                problem = None  # do not minimise into a reference failure
            if problem:
                lines = trial
                changed = True
    return lines


def report(bindir, seed, i, tool_choice, problem, base):
    sc = gen_scenario(seed, i, tool_choice)
    workdir = tempfile.mkdtemp(prefix="fail-", dir=base)
    print("FAIL: scenario %d (--seed %s --only %d%s): %s" % (
        i, seed, i, "" if tool_choice == "both" else " --tool " + tool_choice, sc["tool"]))
    small = minimise(bindir, sc, workdir)
    try:
        res = run_binary(bindir, sc, small, workdir, "")
        problem2 = check(sc, small, res)
    except Exception as e:
        print("(could not run it again: %s)" % e)
        print("command: %s %s INPUT" % (sc["tool"], " ".join(shquote(x) for x in sc["args"])))
        print("input:")
        for l in sc["lines"]:
            print("  " + l)
        print(problem)
        return
    print("command: %s" % " ".join(shquote(a) for a in res.cmd))
    print("input (%d lines, minimised from %d; in %s%s):" % (
        len(small), len(sc["lines"]), res.input,
        ", fed through stdin a line every 2 ms" if sc.get("slow") else ""))
    for l in small:
        print("  " + l)
    print(problem2 or problem)
    if res.late.strip():
        print("late file as written:")
        for l in res.late.splitlines():
            print("  " + l)
    if res.stdout.strip() and sc["control"] != "off":
        print("stdout as written:")
        for l in res.stdout.splitlines():
            print("  " + l)
    if res.stderr.strip():
        print("stderr: " + res.stderr.strip()[:2000])
    if len(small) != len(sc["lines"]):
        print("original input (%d lines):" % len(sc["lines"]))
        for l in sc["lines"]:
            print("  " + l)


def self_test():
    """Hand-made cases, worked out by hand from the spec."""
    def rows(tool, args, recs):
        lines = [r if isinstance(r, str) else ref.compact(r) for r in recs]
        if tool == "kwindow":
            r, late, info = ref.kwindow(args, lines)
            return [ref.compact(x) for x in r], [ref.compact(x) for x in late]
        r, info = ref.kagg(args, lines)
        return [ref.compact(x) for x in r]

    def eq(what, got, want):
        if got != want:
            print("self-test %s:\n got  %s\n want %s" % (what, got, want))
            raise SystemExit(1)

    # tumble 1m count, a record exactly at a window end belongs to the next window
    got = rows("kwindow", ["--tumble", "1m", "--time", "ts", "-a", "count"],
               [{"ts": 0}, {"ts": 30000}, {"ts": 59999}, {"ts": 60000}, {"ts": 61000}])
    eq("tumble", got, (['{"window_start":0,"window_end":60000,"count":3}',
                        '{"window_start":60000,"window_end":120000,"count":2}'], []))
    # negative times floor
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a", "count,collect:ts", "--max-delay", "1m"],
               [{"ts": -1}, {"ts": -1000}, {"ts": -1001}])
    eq("negative", got, (['{"window_start":-2000,"window_end":-1000,"count":1,"collect_ts":[-1001]}',
                          '{"window_start":-1000,"window_end":0,"count":2,"collect_ts":[-1,-1000]}'], []))
    # a late record: W = 10000 closes [0,10000) (W >= end + 0); 5000 is late for it
    got = rows("kwindow", ["--tumble", "10s", "--time", "ts", "-a", "count", "--late", "x"],
               [{"ts": 0}, {"ts": 10000}, {"ts": 5000, "id": 1}])
    eq("late", got, (['{"window_start":0,"window_end":10000,"count":1}',
                      '{"window_start":10000,"window_end":20000,"count":1}'],
                     ['{"late":{"ts":5000,"id":1},"window_end":10000,"watermark":10000}']))
    # ... with lateness 1s it is accepted; W = 11000 = end + L closes the window
    got = rows("kwindow", ["--tumble", "10s", "--time", "ts", "-a", "count", "--lateness", "1s"],
               [{"ts": 0}, {"ts": 10000}, {"ts": 5000}, {"ts": 11000}, {"ts": 7000}])
    eq("lateness", got, (['{"window_start":0,"window_end":10000,"count":2}',
                          '{"window_start":10000,"window_end":20000,"count":2}'],
                         ['{"late":{"ts":7000},"window_end":10000,"watermark":11000}']))
    # max delay: W = t - D, so 5000 after 10000 with D = 5s is on time (10000 > 5000)
    got = rows("kwindow", ["--tumble", "10s", "--time", "ts", "-a", "count", "--max-delay", "5s"],
               [{"ts": 0}, {"ts": 14000}, {"ts": 5000}, {"ts": 15000}, {"ts": 9000}])
    eq("max delay", got, (['{"window_start":0,"window_end":10000,"count":2}',
                           '{"window_start":10000,"window_end":20000,"count":2}'],
                          ['{"late":{"ts":9000},"window_end":10000,"watermark":10000}']))
    # hop 3s / 2s (size not a multiple of the slide)
    got = rows("kwindow", ["--hop", "3s", "--slide", "2s", "--time", "ts", "-a", "collect:ts", "--max-delay", "5s"],
               [{"ts": 1000}, {"ts": 2500}, {"ts": -1000}])
    eq("hop", got, (['{"window_start":-2000,"window_end":1000,"collect_ts":[-1000]}',
                     '{"window_start":0,"window_end":3000,"collect_ts":[1000,2500]}',
                     '{"window_start":2000,"window_end":5000,"collect_ts":[2500]}'], []))
    # hop in changes mode: rows in (end, start) order, one per window joined
    got = rows("kwindow", ["--hop", "4s", "--slide", "1s", "--time", "ts", "-a", "count",
                           "--emit", "changes", "--max-delay", "1m"], [{"ts": 2000}])
    eq("hop changes", got, (['{"window_start":-1000,"window_end":3000,"count":1}',
                             '{"window_start":0,"window_end":4000,"count":1}',
                             '{"window_start":1000,"window_end":5000,"count":1}',
                             '{"window_start":2000,"window_end":6000,"count":1}'], []))
    # hop late for some windows only: W = 3000 closes [-1000,3000); 2000 joins the rest
    got = rows("kwindow", ["--hop", "4s", "--slide", "1s", "--time", "ts", "-a", "count",
                           "--emit", "changes"], [{"ts": 3000}, {"ts": 2000}])
    eq("hop partly late", got[0][-3:], ['{"window_start":0,"window_end":4000,"count":2}',
                                        '{"window_start":1000,"window_end":5000,"count":2}',
                                        '{"window_start":2000,"window_end":6000,"count":2}'])
    # final order: by end, start, then first arrival of the (window, key)
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "--by", "k", "-a", "count"],
               [{"ts": 500, "k": "b"}, {"ts": 100, "k": "a"}, {"ts": 200, "k": "b"},
                {"ts": 1500, "k": "a"}, {"ts": 300, "k": "b"}])
    eq("final order", got, (['{"window_start":0,"window_end":1000,"k":"b","count":2}',
                             '{"window_start":0,"window_end":1000,"k":"a","count":1}',
                             '{"window_start":1000,"window_end":2000,"k":"a","count":1}'],
                            ['{"late":{"ts":300,"k":"b"},"window_end":1000,"watermark":1500}']))
    # session merge with retract rows (changes): gap 10s
    args = ["--session", "10s", "--time", "ts", "-a", "count", "--emit", "changes"]
    got = rows("kwindow", args, [{"ts": 0}, {"ts": 30000}])
    eq("session 1", got, (['{"window_start":0,"window_end":10000,"count":1}',
                           '{"window_start":30000,"window_end":40000,"count":1}'], []))
    args_d = args + ["--max-delay", "1m"]
    got = rows("kwindow", args_d, [{"ts": 0}, {"ts": 30000}, {"ts": 15000}, {"ts": 20000},
                                   {"ts": 5000}, {"ts": 7000}])
    eq("session merge", got, ([
        '{"window_start":0,"window_end":10000,"count":1}',
        '{"window_start":30000,"window_end":40000,"count":1}',
        '{"window_start":15000,"window_end":25000,"count":1}',
        # 20000 touches [15000,25000) and, exactly, [30000,40000): one session
        '{"window_start":15000,"window_end":25000,"count":1,"retract":true}',
        '{"window_start":30000,"window_end":40000,"count":1,"retract":true}',
        '{"window_start":15000,"window_end":40000,"count":3}',
        # 5000 -> [5000,15000) touches [0,10000) and [15000,40000): all one
        '{"window_start":0,"window_end":10000,"count":1,"retract":true}',
        '{"window_start":15000,"window_end":40000,"count":3,"retract":true}',
        '{"window_start":0,"window_end":40000,"count":5}',
        # inside, bounds unchanged: no retract
        '{"window_start":0,"window_end":40000,"count":6}'], []))
    # session extended at its end: the old row is retracted
    got = rows("kwindow", args, [{"ts": 0}, {"ts": 4000}])
    eq("session extend", got, (['{"window_start":0,"window_end":10000,"count":1}',
                                '{"window_start":0,"window_end":10000,"count":1,"retract":true}',
                                '{"window_start":0,"window_end":14000,"count":2}'], []))
    # session final, late only when it touches no open session and t + G + L <= W
    args = ["--session", "10s", "--time", "ts", "-a", "count,collect:ts"]
    got = rows("kwindow", args, [{"ts": 0}, {"ts": 9000}, {"ts": 25000}, {"ts": 1000},
                                 {"ts": 15000}, {"ts": 16000}])
    # W=25000 after the third record: [0,19000) closes (19000 <= 25000); 1000 is late
    # (window_end 11000); 15000 touches [25000,35000) (25000 <= 25000): merged
    eq("session final", got, (['{"window_start":0,"window_end":19000,"count":2,"collect_ts":[0,9000]}',
                               '{"window_start":15000,"window_end":35000,"count":3,'
                               '"collect_ts":[25000,15000,16000]}'],
                              ['{"late":{"ts":1000},"window_end":11000,"watermark":25000}']))
    # sessions per key; final order by end, start, first arrival
    got = rows("kwindow", ["--session", "1s", "--time", "ts", "--by", "k", "-a", "count", "--max-delay", "1s"],
               [{"ts": 0, "k": "b"}, {"ts": 0, "k": "a"}, {"ts": 1000, "k": "b"},
                {"ts": 1000, "k": "a"}, {"ts": 5000}])
    eq("session keys", got, (['{"window_start":0,"window_end":2000,"k":"b","count":2}',
                              '{"window_start":0,"window_end":2000,"k":"a","count":2}',
                              '{"window_start":5000,"window_end":6000,"k":null,"count":1}'], []))
    # control watermark: W = min(W_in, W_own), rows judged against it. The
    # record at 3000 alone would close [1000,2000) too (W 3000 >= 2000 + 500);
    # the watermark record holds W at 1500.
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a", "count", "--lateness", "500ms"],
               [{"ts": 0}, '{"@kpipe":"watermark","ts":1500}', {"ts": 3000}, {"ts": 999}, {"ts": 1000}])
    eq("control wm", got, (['{"window_start":0,"window_end":1000,"count":1}',
                            '{"window_start":1000,"window_end":2000,"count":1}',
                            '{"window_start":3000,"window_end":4000,"count":1}'],
                           ['{"late":{"ts":999},"window_end":1000,"watermark":1500}']))
    # a laxer watermark record: the tool's own --max-delay still holds
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a", "count", "--max-delay", "1s"],
               [{"ts": 0}, '{"@kpipe":"watermark","ts":9000}', {"ts": 2500}, {"ts": 1600}])
    eq("laxer control wm", got, (['{"window_start":0,"window_end":1000,"count":1}',
                                  '{"window_start":1000,"window_end":2000,"count":1}',
                                  '{"window_start":2000,"window_end":3000,"count":1}'], []))
    # aggregates: null/missing skipped, first/last by time with ties by arrival
    recs = [{"ts": 5, "v": 3, "s": "p"}, {"ts": 1, "v": None, "s": "q"}, {"ts": 1, "v": 2.5},
            {"ts": 9, "s": "r"}, {"ts": 9, "v": 4, "s": "r"}, {"ts": 1, "v": 1, "s": "s"}]
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a",
                           "count,count:v,sum:v,min:v,max:v,avg:v,first:v,last:v,first:s,last:s,"
                           "distinct:s,collect:v,mx=max:s.x"], recs)
    eq("aggregates", got, (['{"window_start":0,"window_end":1000,"count":6,"count_v":4,"sum_v":10.5,'
                            '"min_v":1,"max_v":4,"avg_v":2.625,"first_v":2.5,"last_v":4,"first_s":"q",'
                            '"last_s":"r","distinct_s":4,"collect_v":[3,2.5,4,1],"mx":null}'], []))
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a", "sum:v,avg:v,min:v",
                           "--time-format", "rfc3339"], [{"ts": -1000, "v": 1}, {"ts": -500, "v": 2}])
    eq("ints, rfc3339", got, (['{"window_start":"1969-12-31T23:59:59Z","window_end":"1970-01-01T00:00:00Z",'
                               '"sum_v":3,"avg_v":1.5,"min_v":1}'], []))
    # time units and RFC 3339 input
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "--time-unit", "s", "-a", "count"],
               [{"ts": -0.5}, {"ts": 1.5}, {"ts": 1}])
    eq("unit s", got[0], ['{"window_start":-1000,"window_end":0,"count":1}',
                          '{"window_start":1000,"window_end":2000,"count":2}'])
    got = rows("kwindow", ["--tumble", "1h", "--time", "ts", "-a", "count"],
               [{"ts": "1970-01-01T01:30:00+01:00"}, {"ts": "1970-01-01T00:59:59.999Z"}])
    eq("rfc3339 in", got[0], ['{"window_start":0,"window_end":3600000,"count":2}'])
    # group fields: names, renames, nested, missing -> null
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "--by", ".k,G=g.c", "-a", "n=count"],
               [{"ts": 0, "k": 1, "g": {"c": "x"}}, {"ts": 1, "g": {"c": "x"}}, {"ts": 2, "k": 1,
                                                                                  "g": {"c": "x"}}])
    eq("group", got[0], ['{"window_start":0,"window_end":1000,"k":1,"G":"x","n":2}',
                         '{"window_start":0,"window_end":1000,"k":null,"G":"x","n":1}'])
    # end control closes everything
    got = rows("kwindow", ["--tumble", "1s", "--time", "ts", "-a", "count"],
               [{"ts": 0}, '{"@kpipe":"end"}'])
    eq("end", got[0], ['{"window_start":0,"window_end":1000,"count":1}'])

    # kagg
    got = rows("kagg", ["--by", "k", "-a", "count,last:v"],
               [{"k": "b", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}])
    eq("kagg final", got, ['{"k":"b","count":2,"last_v":3}', '{"k":"a","count":1,"last_v":2}'])
    got = rows("kagg", ["-a", "sum:v", "--emit", "changes"], [{"v": 1}, {"v": None}, {"v": 2}])
    eq("kagg changes", got, ['{"sum_v":1}', '{"sum_v":1}', '{"sum_v":3}'])
    # ttl 2s: W - T >= 2s forgets; in final mode the row is written then
    args = ["--by", "k", "-a", "count", "--time", "ts", "--ttl", "2s"]
    recs = [{"k": "a", "ts": 0}, {"k": "b", "ts": 1000}, {"k": "b", "ts": 2000},
            {"k": "c", "ts": 3000}, {"k": "a", "ts": 3500}, {"k": "b", "ts": 4000}]
    got = rows("kagg", args, recs)
    # W=2000 forgets a (2000-0 >= 2000); b at 4000 comes 2s after b's last (2000),
    # so b's stretch is over (whether or not W is there yet): b is written and
    # starts afresh; at the end: c, then the fresh a and b (first seen again)
    eq("kagg ttl", got, ['{"k":"a","count":1}', '{"k":"b","count":2}', '{"k":"c","count":1}',
                         '{"k":"a","count":1}', '{"k":"b","count":1}'])
    got = rows("kagg", args + ["--emit", "changes"], recs)
    eq("kagg ttl changes", got, ['{"k":"a","count":1}', '{"k":"b","count":1}', '{"k":"b","count":2}',
                                 '{"k":"c","count":1}', '{"k":"a","count":1}', '{"k":"b","count":1}'])
    # the same rows however far W lags behind (here 10s): only the records' own
    # times cut a key's stretches, not how far the input has been read
    got = rows("kagg", args + ["--max-delay", "10s"], recs)
    eq("kagg ttl lagging W", sorted(got), sorted(['{"k":"a","count":1}', '{"k":"b","count":2}',
                                                  '{"k":"c","count":1}', '{"k":"a","count":1}',
                                                  '{"k":"b","count":1}']))
    # with D = 1s, W = t - 1s: a is forgotten after ts 3000 (W = 2000); b at 4000
    # ends b's stretch as above; a key created with an old time is forgotten at
    # once (W - T >= TTL right after it)
    # (e at 9000 moves W to 8000: keys forgotten together go in the order they
    # expired, c T=3000, a 3500, b 4000; the watermark record 6000 after it
    # changes nothing, W = min(W_in, W_own) never goes back)
    got = rows("kagg", args + ["--max-delay", "1s"],
               recs + [{"k": "d", "ts": 0}, {"k": "e", "ts": 9000}, '{"@kpipe":"watermark","ts":6000}'])
    eq("kagg ttl delay", got, ['{"k":"a","count":1}', '{"k":"b","count":2}', '{"k":"d","count":1}',
                               '{"k":"c","count":1}', '{"k":"a","count":1}', '{"k":"b","count":1}',
                               '{"k":"e","count":1}'])
    got = rows("kagg", ["-a", "first:v,last:v"], [{"v": 1, "ts": 9}, {"v": 2, "ts": 0}])
    eq("kagg first/last by arrival", got, ['{"first_v":1,"last_v":2}'])
    got = rows("kagg", ["-a", "first:v,last:v", "--time", "ts"], [{"v": 1, "ts": 9}, {"v": 2, "ts": 0}])
    eq("kagg first/last by time", got, ['{"first_v":2,"last_v":1}'])
    print("self-test ok")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", default="1")
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--tool", choices=["kwindow", "kagg", "both"], default="both")
    ap.add_argument("--only", type=int, help="run this scenario number alone")
    ap.add_argument("--show", type=int, help="print this scenario (command, input, expected) and exit")
    ap.add_argument("--self-test", action="store_true", help="check the reference on hand-made cases")
    ap.add_argument("--bin", default=os.environ.get("KPIPE_BIN", os.path.join(HERE, "..", "..", "build")))
    ap.add_argument("--skip", action="append", default=[], choices=["wm-bound", "summary", "ttl-at-once"],
                    help="leave out a check (to look past a known discrepancy)")
    a = ap.parse_args()
    SKIP.update(a.skip)
    ref.TTL_SWEEP_ONLY_ON_ADVANCE = "ttl-at-once" in SKIP

    if a.self_test:
        self_test()
        return 0
    if a.show is not None:
        sc = gen_scenario(a.seed, a.show, a.tool)
        print("%s %s --late LATE INPUT" % (sc["tool"], " ".join(shquote(x) for x in sc["args"])))
        for l in sc["lines"]:
            print("  " + l)
        if sc["tool"] == "kwindow":
            r, late, _ = ref.kwindow(sc["args"], sc["lines"])
        else:
            (r, _), late = ref.kagg(sc["args"], sc["lines"]), []
        print("expected rows:")
        for x in r:
            print("  " + ref.compact(x))
        print("expected late:")
        for x in late:
            print("  " + ref.compact(x))
        return 0
    for tool in (["kwindow", "kagg"] if a.tool == "both" else [a.tool]):
        if not os.access(os.path.join(a.bin, tool), os.X_OK):
            print("FAIL: no executable %s in %s (set KPIPE_BIN)" % (tool, a.bin))
            return 1

    start = time.time()
    base = tempfile.mkdtemp(prefix="kpipe-prop-")
    indexes = [a.only] if a.only is not None else range(a.scenarios)
    counts = {"kwindow": 0, "kagg": 0}
    failure = None
    if a.jobs <= 1 or a.only is not None:
        worker_init(a.bin, a.seed, a.tool, base, a.skip)
        for i in indexes:
            i, tool, problem = run_one(i)
            counts[tool] += 1
            if problem:
                failure = (i, problem)
                break
    else:
        with multiprocessing.Pool(a.jobs, worker_init, (a.bin, a.seed, a.tool, base, a.skip)) as pool:
            for i, tool, problem in pool.imap(run_one, indexes, chunksize=16):
                counts[tool] += 1
                if problem:
                    failure = (i, problem)
                    pool.terminate()
                    break
    if failure:
        report(a.bin, a.seed, failure[0], a.tool, failure[1], base)
        return 1
    shutil.rmtree(base, ignore_errors=True)
    print("ok: %d scenarios (kwindow %d, kagg %d) in %.1fs, seed %s" % (
        sum(counts.values()), counts["kwindow"], counts["kagg"], time.time() - start, a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
