#!/usr/bin/env python3
"""Deliberately naive reference of kjoin (DESIGN.md §9, /tmp/kjoin-spec.md).

Plain Python 3, stdlib only (it borrows the path, time and duration helpers of
window_ref.py). Nothing is simulated cleverly:

- Interval join. Which records are late depends on how the two inputs
  interleave (W = min(W_left, W_right) before the record), so the interval
  join takes the interleaving as input: `order`, a string of 'L'/'R', the k-th
  'L' consuming the k-th item of LEFT, where the item after LEFT's last line
  is its end of input (W_left = +inf), likewise for RIGHT. Each side's
  watermark is a function of that side's own prefix only (a late record
  cannot raise it: t - D <= t + L < W <= W_own), so walking the order once
  gives every record's W and its lateness. The rows are then computed from the
  definitions alone: every pair of non-late records with equal keys and
  lt + LO <= rt <= lt + HI, and an outer row for every non-late record of a
  kept side that is in no pair. No eviction is simulated: a pair the spec
  would miss because one record was already dropped cannot be within bounds
  (dropped left: W > lt + HI + L and the right record is on time,
  rt + L >= W, so rt > lt + HI; dropped right: likewise lt > rt - LO), and
  for the same reason a record's outer row is due exactly when it has no pair.
- find_orders() answers the converse question: is there an interleaving under
  which exactly the observed late rows (in the observed order, with the
  observed watermarks) come out? A dynamic programme over (items of LEFT
  consumed, items of RIGHT consumed, late rows explained). The property test
  runs the binary, reads its late rows, asks for such an interleaving and then
  compares every row with the reference under it.
- Table join (--table): RIGHT is read to its end first; the table is the last
  right record per key (an envelope tombstone deletes one); each left record
  looks its key up.
- As-of join (--as-of): every right record is a version (key, rt); a left
  record at lt joins the version with the greatest rt <= lt.

Where the spec leaves a choice open this reference takes:
- --as-of, two versions of one key with the same rt: the later line wins
  ("later lines replace earlier ones", as in --table);
- --as-of/--table: no record is ever late; RIGHT's lines after an
  {"@kpipe":"end"} are not covered (the generator writes none);
- a bad line (dead-lettered) changes no state, also not a watermark.
- envelope input: the record is the envelope's value (late rows may show the
  value or the whole envelope); a tombstone deletes the join key its message
  key last set, and is an as-of version meaning "no record" at its timestamp.
Not covered (raises): several envelope partitions, non-JSON envelope values,
--idle, --retain that could drop a version in use (the driver only uses
--retain far larger than the time span of its data).

Usage as a tool:
    join_ref.py [KJOIN FLAGS] LEFT RIGHT [--order ORDER]
ORDER: left-first (default), right-first, alternate, or a string of L/R.
Prints the data rows (no control records); with --late FILE the late rows go
to FILE; a summary line like kjoin's goes to stderr.
"""

import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
import window_ref as wr  # noqa: E402  (path, time, duration helpers)

INF = math.inf
# The spec: a tombstone deletes the join key its message key last *set*, so a second
# tombstone of that message key (with no record between) still names that key; under
# --as-of it is a version "no record" at its time even when it arrives after a newer
# one. True: a tombstone makes its message key forget the join key (a later tombstone
# of it is ignored) -- kjoin's reading, which the driver switches on with
# --skip tombstone-forgets to look past that known difference.
TOMBSTONE_FORGETS_KEY = False
MISSING = wr.MISSING
parse_duration = wr.parse_duration
get_path = wr.get_path


# ---------------------------------------------------------------- JSON helpers

def norm_numbers(v):
    """1.0 -> 1 (keys compare by compact JSON text, where 1 and 1.0 are the same)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    if isinstance(v, list):
        return [norm_numbers(x) for x in v]
    if isinstance(v, dict):
        return {k: norm_numbers(x) for k, x in v.items()}
    return v


def canon(v):
    """Compact JSON text with numbers by value, member order kept."""
    return json.dumps(norm_numbers(v), separators=(",", ":"), ensure_ascii=False)


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- flags

class Opts:
    def __init__(self):
        self.on = []               # [(left path, right path)]
        self.lo = self.hi = None   # interval bounds, ms
        self.type = "inner"
        self.table = False
        self.asof = False
        self.retain = None
        self.time = self.left_time = self.right_time = None
        self.unit = "ms"
        self.D = 0
        self.L = 0
        self.late = None
        self.merge = False
        self.output = None
        self.dead_letter = None
        self.watermarks = False
        self.no_control = False
        self.quiet = False
        self.inputs = []

    @property
    def interval(self):
        return not self.table

    @property
    def ltime(self):
        return self.left_time or self.time

    @property
    def rtime(self):
        return self.right_time or self.time


WITH_VALUE = {"--on", "--within", "--between", "--type", "--retain", "--time", "--left-time",
              "--right-time", "--time-unit", "--max-delay", "--lateness", "--idle", "--late",
              "--output", "--dead-letter"}


def parse_args(argv):
    o = Opts()
    within = between = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in WITH_VALUE:
            flag, val = arg.split("=", 1)
        elif arg in WITH_VALUE:
            flag, val = arg, argv[i + 1]
            i += 1
        else:
            flag, val = arg, None
        i += 1
        if flag == "--on":
            for part in val.split(","):
                if part == "":
                    continue
                lp, _, rp = part.partition("=")
                o.on.append((lp, rp if _ else lp))
        elif flag == "--within":
            within = parse_duration(val)
        elif flag == "--between":
            a, b = val.split(",")
            between = (parse_duration(a), parse_duration(b))
        elif flag == "--type":
            o.type = val
        elif flag == "--table":
            o.table = True
        elif flag == "--as-of":
            o.asof = o.table = True
        elif flag == "--retain":
            o.retain = parse_duration(val)
        elif flag == "--time":
            o.time = val
        elif flag == "--left-time":
            o.left_time = val
        elif flag == "--right-time":
            o.right_time = val
        elif flag == "--time-unit":
            o.unit = val
        elif flag == "--max-delay":
            o.D = parse_duration(val)
        elif flag == "--lateness":
            o.L = parse_duration(val)
        elif flag == "--late":
            o.late = val
        elif flag == "--merge":
            o.merge = True
        elif flag == "--output":
            o.output = val
        elif flag == "--dead-letter":
            o.dead_letter = val
        elif flag == "--watermarks":
            o.watermarks = True
        elif flag == "--no-control":
            o.no_control = True
        elif flag in ("-q", "--quiet"):
            o.quiet = True
        elif flag == "--idle":
            raise ValueError("--idle is not covered by the reference")
        elif flag.startswith("-") and flag != "-":
            raise ValueError("unknown flag " + flag)
        else:
            o.inputs.append(flag)
    if not o.on:
        raise ValueError("--on is required")
    if o.table:
        if within is not None or between is not None:
            raise ValueError("usage: a table join takes no --within/--between")
        if o.type not in ("inner", "left"):
            raise ValueError("usage: a table join is inner or left")
    else:
        if (within is None) == (between is None):
            raise ValueError("usage: exactly one of --within / --between")
        o.lo, o.hi = (-within, within) if within is not None else between
        if o.type not in ("inner", "left", "right", "full"):
            raise ValueError("usage: bad --type")
    return o


# ---------------------------------------------------------------- input items

class Item:
    """One line of one input: kind 'rec', 'tomb' (a table tombstone), 'wm' (control
    watermark), 'end', 'ctl' (another control kind), or 'bad' (dead-lettered)."""

    def __init__(self, kind, lineno, raw, obj=None, t=None, key=None, ts=None, reason=None,
                 msgkey=None, env=None):
        self.kind, self.lineno, self.raw = kind, lineno, raw
        self.obj, self.t, self.key, self.ts, self.reason = obj, t, key, ts, reason
        self.msgkey, self.env = msgkey, env  # envelope input: its message key, the envelope

    def canons(self):
        """How the record may be shown in a late row: the record (the envelope's value),
        or, the spec not saying which, the whole envelope."""
        out = {canon(self.obj)}
        if self.env is not None:
            out.add(canon(self.env))
        return out

    def __repr__(self):
        return "Item(%s, %d, %s)" % (self.kind, self.lineno, self.raw)


def is_envelope(obj):
    return isinstance(obj, dict) and all(k in obj for k in ("topic", "partition", "offset", "value"))


def parse_input(o, lines, side):
    """lines (text, no newline) -> [Item]. side: 'left' | 'right'.

    Envelope input (the first data line is an envelope): the record is the
    envelope's value, paths apply to it, the event time is the envelope's
    timestamp unless a time path is given; on the RIGHT of a table join a null
    value is a tombstone. Only one partition is covered (W per partition)."""
    items = []
    needs_time = o.interval or o.asof
    tpath = o.ltime if side == "left" else o.rtime
    envelope = None
    partitions = set()
    for n, raw in enumerate(lines, 1):
        try:
            obj = json.loads(raw)
        except ValueError:
            items.append(Item("bad", n, raw, reason="invalid JSON"))
            continue
        if raw.strip() == "":
            items.append(Item("bad", n, raw, reason="empty line"))
            continue
        if isinstance(obj, dict) and "@kpipe" in obj:  # a control record
            kind = obj["@kpipe"]
            if kind == "watermark":
                items.append(Item("wm", n, raw, obj=obj, ts=obj["ts"]))
            elif kind == "end":
                items.append(Item("end", n, raw, obj=obj))
            else:
                items.append(Item("ctl", n, raw, obj=obj))
            continue
        if envelope is None:
            envelope = is_envelope(obj)
        env = None
        if envelope:
            if not is_envelope(obj):
                raise ValueError("a non-envelope line in envelope input is not covered")
            if obj.get("value_encoding") or obj.get("key_encoding"):
                raise ValueError("envelope values that are not JSON are not covered")
            partitions.add((obj["topic"], obj["partition"]))
            if len(partitions) > 1:
                raise ValueError("several envelope partitions are not covered")
            env, obj = obj, obj["value"]
        msgkey = canon(env.get("key")) if env is not None else None
        t = None
        if needs_time:
            try:
                if tpath:
                    if env is not None and obj is None:
                        raise ValueError("a null value has no time")
                    t = wr.event_time(obj, tpath, o.unit)
                elif env is not None:
                    t = env.get("timestamp")
                    if not wr.is_number(t):
                        raise ValueError("no timestamp")
                    t = math.floor(t)
                else:
                    raise RuntimeError("no event time for %s (not covered)" % side)
            except (ValueError, TypeError, OverflowError):
                t = "bad"
        if env is not None and obj is None and side == "right" and o.table:
            if t == "bad":
                items.append(Item("bad", n, raw, reason="bad event time"))
            else:
                items.append(Item("tomb", n, raw, t=t, msgkey=msgkey, env=env))
            continue
        if o.merge and not isinstance(obj, dict):
            items.append(Item("bad", n, raw, reason="not an object"))
            continue
        key = []
        for lp, rp in o.on:
            v = get_path(obj, lp if side == "left" else rp)
            if v is MISSING or v is None:
                key = None
                break
            key.append(canon(v))
        if key is None:
            items.append(Item("bad", n, raw, reason="missing join key"))
            continue
        if t == "bad":
            items.append(Item("bad", n, raw, reason="bad event time"))
            continue
        items.append(Item("rec", n, raw, obj=obj, t=t, key=tuple(key), msgkey=msgkey, env=env))
    return items


def watermarks_before(o, items):
    """W of one side before each item, and after its end of input: a list of
    len(items) + 2 (index len(items) is before the EOF item, the last after it)."""
    # kpipe(7), EVENT TIME: W_own = max(t) - D; once a watermark record came,
    # W = min(W_in, W_own); W never goes backwards.
    W, own, w_in, has_in = -INF, INF, -INF, False
    out = []
    for it in items:
        out.append(W)
        if it.kind == "rec":
            own = it.t - o.D if own == INF else max(own, it.t - o.D)
        elif it.kind == "wm":
            has_in, w_in = True, max(w_in, it.ts)
        elif it.kind == "end":
            W = INF
            continue
        if W == INF:
            continue
        if has_in:
            W = max(W, min(w_in, own))
        elif own != INF:
            W = max(W, own)
    out.append(W)
    out.append(INF)
    return out


def row(o, left, right):
    if o.merge:
        if left is None:
            return dict(right)
        m = dict(left)
        if right is not None:
            for k, v in right.items():
                if k not in m:
                    m[k] = v
        return m
    return {"left": left, "right": right}


class Result:
    def __init__(self):
        self.rows = []        # dicts, data rows
        self.late = []        # dicts, late rows
        self.dead = []        # (side, Item) dead-lettered lines
        self.left_in = self.right_in = 0      # data records (bad lines not included)
        self.left_bad = self.right_bad = 0
        self.right_tombs = 0                  # table tombstones (counted in right_in)
        self.ends = [False, False]            # input carried {"@kpipe":"end"}
        self.controls_in = False              # input carried any control record


def expand_order(spec, nl, nr, rng=None):
    """An interleaving as a string of L/R over nl+1 left and nr+1 right items."""
    a, b = nl + 1, nr + 1
    if spec == "left-first":
        return "L" * a + "R" * b
    if spec == "right-first":
        return "R" * b + "L" * a
    if spec == "alternate":
        out = []
        while a or b:
            if a:
                out.append("L")
                a -= 1
            if b:
                out.append("R")
                b -= 1
        return "".join(out)
    if set(spec) <= {"L", "R"} and spec.count("L") == a and spec.count("R") == b:
        return spec
    raise ValueError("bad order %r for %d left and %d right lines" % (spec, nl, nr))


# ---------------------------------------------------------------- interval join

def interval_join(o, L, R, order):
    """The whole result of an interval join for one interleaving `order`."""
    res = Result()
    wl, wr_ = watermarks_before(o, L), watermarks_before(o, R)
    i = j = 0
    onL, onR = [], []  # non-late records, arrival order: (arrival, Item)
    arrival = 0
    for c in order:
        if c == "L":
            k, items, ws, wo, side, acc = i, L, wl, wr_[j], "left", onL
            i += 1
        else:
            k, items, ws, wo, side, acc = j, R, wr_, wl[i], "right", onR
            j += 1
        if k >= len(items):
            continue  # end of input of that side
        it = items[k]
        W = min(ws[k], wo)
        if it.kind == "bad":
            res.dead.append((side, it))
        elif it.kind in ("wm", "end", "ctl"):
            res.controls_in = True
            if it.kind == "end":
                res.ends[side == "right"] = True
        else:
            if side == "left":
                res.left_in += 1
            else:
                res.right_in += 1
            if it.t + o.L < W:
                res.late.append({"late": it.obj, "side": side, "watermark": W})
            else:
                acc.append((arrival, it))
        arrival += 1
    res.left_bad = sum(1 for s, _ in res.dead if s == "left")
    res.right_bad = len(res.dead) - res.left_bad

    # every pair, straight from the definition; written when its second record came
    pairs = []
    matched_l, matched_r = set(), set()
    for al, l in onL:
        for ar, r in onR:
            if l.key == r.key and l.t + o.lo <= r.t <= l.t + o.hi:
                pairs.append((max(al, ar), min(al, ar), l, r))
                matched_l.add(al)
                matched_r.add(ar)
    pairs.sort(key=lambda p: (p[0], p[1]))
    res.rows = [row(o, l.obj, r.obj) for _, _, l, r in pairs]
    if o.type in ("left", "full"):
        res.rows += [row(o, l.obj, None) for a, l in onL if a not in matched_l]
    if o.type in ("right", "full"):
        res.rows += [row(o, None, r.obj) for a, r in onR if a not in matched_r]
    return res


def can_be_late(o, L, R):
    """Whether some interleaving makes some record late: only a record with
    t + L < its own side's W before it can be (W = min(W_left, W_right) <= W_own)."""
    if o.table:
        return False
    for items in (L, R):
        ws = watermarks_before(o, items)
        for k, it in enumerate(items):
            if it.kind == "rec" and it.t + o.L < ws[k]:
                return True
    return False


def find_orders(o, L, R, late_rows, limit=1):
    """Interleavings (strings of L/R) under which exactly `late_rows` come out,
    in that order. late_rows: [(side, record canon text, watermark)]. At most
    `limit` are returned; [] when none exists."""
    wl, wr_ = watermarks_before(o, L), watermarks_before(o, R)
    nl, nr, nm = len(L) + 1, len(R) + 1, len(late_rows)
    canonL = [it.canons() if it.kind == "rec" else None for it in L]
    canonR = [it.canons() if it.kind == "rec" else None for it in R]

    def step(side, i, j, m):
        """The state after consuming the next item of `side` at (i, j, m), or None."""
        if side == "L":
            k, items, ws, wo, cs, name = i, L, wl, wr_[j], canonL, "left"
        else:
            k, items, ws, wo, cs, name = j, R, wr_, wl[i], canonR, "right"
        if k < len(items) and items[k].kind == "rec":
            it = items[k]
            W = min(ws[k], wo)
            if it.t + o.L < W:
                if m >= nm or late_rows[m][0] != name or late_rows[m][1] not in cs[k] \
                        or late_rows[m][2] != W:
                    return None
                m += 1
        return (i + 1, j, m) if side == "L" else (i, j + 1, m)

    # reachability from the end backwards, then walk forwards
    good = {}

    def ok(state):
        if state in good:
            return good[state]
        i, j, m = state
        if i == nl and j == nr:
            r = m == nm
        else:
            r = False
            for side in "LR":
                if (side == "L" and i < nl) or (side == "R" and j < nr):
                    nxt = step(side, i, j, m)
                    if nxt is not None and ok(nxt):
                        r = True
                        break
        good[state] = r
        return r

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * (nl + nr) + 1000))
    if not ok((0, 0, 0)):
        return []
    out = []

    def walk(state, path):
        if len(out) >= limit:
            return
        i, j, m = state
        if i == nl and j == nr:
            out.append("".join(path))
            return
        for side in "LR":
            if (side == "L" and i < nl) or (side == "R" and j < nr):
                nxt = step(side, i, j, m)
                if nxt is not None and ok(nxt):
                    path.append(side)
                    walk(nxt, path)
                    path.pop()
                    if len(out) >= limit:
                        return
    walk((0, 0, 0), [])
    return out


# ---------------------------------------------------------------- table joins

def table_join(o, L, R):
    res = Result()
    # RIGHT first, to its end
    table = {}      # key -> right record (--table)
    versions = {}   # key -> [(rt, arrival, record or None for a tombstone)] (--as-of)
    set_by = {}     # envelope input: message key -> the join key it last set
    for n, it in enumerate(R):
        if it.kind == "bad":
            res.dead.append(("right", it))
        elif it.kind in ("wm", "ctl"):
            res.controls_in = True
        elif it.kind == "end":
            res.controls_in = True
            res.ends[1] = True
            if any(x.kind != "end" for x in R[n + 1:]):
                raise ValueError("lines after the end of a table input are not covered")
            break
        elif it.kind == "tomb":
            # deletes the key its message key last set; as-of: a version "no record"
            res.right_in += 1
            res.right_tombs += 1
            jk = set_by.get(it.msgkey)
            if TOMBSTONE_FORGETS_KEY:
                set_by.pop(it.msgkey, None)
            if jk is not None:
                if o.asof:
                    versions.setdefault(jk, []).append((it.t, n, None))
                else:
                    table.pop(jk, None)
        else:
            res.right_in += 1
            if it.msgkey is not None:
                set_by[it.msgkey] = it.key
            if o.asof:
                versions.setdefault(it.key, []).append((it.t, n, it.obj))
            else:
                table[it.key] = it.obj
    if o.asof and o.retain is not None:
        ts = [it.t for it in L + R if it.kind in ("rec", "tomb")]
        if ts and max(ts) - min(ts) >= o.retain:
            raise ValueError("--retain shorter than the data's time span is not covered")
    for it in L:
        if it.kind == "bad":
            res.dead.append(("left", it))
        elif it.kind in ("wm", "ctl", "end"):
            res.controls_in = True
            if it.kind == "end":
                res.ends[0] = True
        else:
            res.left_in += 1
            if o.asof:
                cands = [v for v in versions.get(it.key, []) if v[0] <= it.t]
                r = max(cands, key=lambda v: (v[0], v[1]))[2] if cands else None
            else:
                r = table.get(it.key)
            if r is not None:
                res.rows.append(row(o, it.obj, r))
            elif o.type == "left":
                res.rows.append(row(o, it.obj, None))
    res.left_bad = sum(1 for s, _ in res.dead if s == "left")
    res.right_bad = len(res.dead) - res.left_bad
    return res


def join(argv, left_lines, right_lines, order="left-first"):
    """The reference result for kjoin ARGV on these lines, under `order` for an
    interval join (ignored by table joins)."""
    o = parse_args(argv) if not isinstance(argv, Opts) else argv
    L = parse_input(o, left_lines, "left")
    R = parse_input(o, right_lines, "right")
    if o.table:
        return table_join(o, L, R)
    return interval_join(o, L, R, expand_order(order, len(L), len(R)))


# ---------------------------------------------------------------- as a tool

def main(argv):
    order = "left-first"
    if "--order" in argv:
        k = argv.index("--order")
        order = argv[k + 1]
        argv = argv[:k] + argv[k + 2:]
    o = parse_args(argv)
    if len(o.inputs) != 2:
        raise SystemExit("usage: join_ref.py [FLAGS] LEFT RIGHT [--order ORDER]")

    def read(p):
        f = sys.stdin if p == "-" else open(p, encoding="utf-8")
        with f:
            return f.read().splitlines()
    res = join(o, read(o.inputs[0]), read(o.inputs[1]), order)
    out = open(o.output, "w", encoding="utf-8") if o.output else sys.stdout
    for r in res.rows:
        out.write(compact(r) + "\n")
    if not o.no_control and (res.controls_in or o.watermarks):
        out.write('{"@kpipe":"end"}\n')  # no watermarks: they are optional
    out.flush()
    if o.late:
        with open(o.late, "a", encoding="utf-8") as f:
            for r in res.late:
                f.write(compact(r) + "\n")
    if o.dead_letter:
        with open(o.dead_letter, "a", encoding="utf-8") as f:
            for side, it in res.dead:
                src = o.inputs[0 if side == "left" else 1]
                f.write(compact({"error": it.reason, "source": "%s:%d" % (
                    "stdin" if src == "-" else src, it.lineno), "raw": it.raw}) + "\n")
    elif res.dead:
        side, it = res.dead[0]
        sys.stderr.write("join_ref: error: %s:%d: %s\n" % (o.inputs[side == "right"], it.lineno, it.reason))
        return 65
    if not o.quiet:
        sys.stderr.write("kjoin: %d left in, %d right in, %d rows out, %d late, %d dead-lettered\n" % (
            res.left_in + res.left_bad, res.right_in + res.right_bad, len(res.rows), len(res.late),
            len(res.dead)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
