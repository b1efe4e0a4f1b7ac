#!/usr/bin/env python3
"""Deliberately naive reference of kwindow and kagg (DESIGN.md §6-§8).

Plain Python 3, stdlib only. Nothing here is incremental: every accepted
record is kept (per window and key, or per session key) and each aggregate is
recomputed from that list whenever a row is written; session windows are
recomputed from scratch from the key's open records every time they are
looked at. The property test (run_property.py) compares the C++ tools with
this file, so it favours being obviously right over being fast.

Usage as a tool (same flags as the binaries, a subset of them):
    window_ref.py kwindow [FLAGS] [INPUT]
    window_ref.py kagg [FLAGS] [INPUT]
prints the data rows (no control records) to stdout and, with --late FILE,
the late rows to FILE.

Where the spec (/tmp/kwindow-spec.md, DESIGN.md §6) leaves a choice open, this
reference takes:
- session retract rows (changes): in (end, start) order, before the new row;
- kagg, keys forgotten by one W advance (--ttl): in the order they expired
  (greatest event time T), ties in first-seen order;
- kagg, {"@kpipe":"end"} in the input: the end of the input (final rows in
  first-seen order), not a TTL sweep at W = +inf;
- kagg without --time: first/last by arrival (all event times equal).

The watermark (kpipe(7), EVENT TIME): W_own = max(t) - D over the records;
once a watermark record came, W = min(W_in, W_own) with W_in the greatest
one; W never goes backwards (Clock below).
"""

import datetime
import json
import math
import re
import sys

INF = math.inf


class Clock:
    """W as kpipe(7) defines it, for one partition, written out plainly."""

    def __init__(self, D):
        self.D = D
        self.W = -INF
        self.own = INF      # no record yet: the records hold nothing back
        self.w_in = -INF
        self.has_in = False

    def record(self, t):
        self.own = t - self.D if self.own == INF else max(self.own, t - self.D)
        self._combine()

    def control(self, ts):
        self.has_in = True
        self.w_in = max(self.w_in, ts)
        self._combine()

    def _combine(self):
        if self.has_in:
            w = min(self.w_in, self.own)
        elif self.own == INF:
            return
        else:
            w = self.own
        self.W = max(self.W, w)
# The spec forgets a key as soon as W - T >= TTL holds, also for a key whose record
# was already that old when it came. True: look only when W advances (a variant the
# driver switches on with --skip ttl-at-once, to look past that known difference).
TTL_SWEEP_ONLY_ON_ADVANCE = False
MISSING = object()  # a path that reaches nothing


# ---------------------------------------------------------------- basics

_DUR_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text):
    """'250ms', '10s', '5m', '1h', '2d', '1h30m' -> milliseconds (int)."""
    neg = text.startswith("-")
    body = text[1:] if neg else text
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError("bad duration: %r" % text)
    ms = sum(int(n) * _DUR_UNITS[u] for n, u in parts)
    return -ms if neg else ms


def compact(value):
    """Compact JSON text: how keys and distinct values are compared."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def get_path(obj, path):
    """Field path: 'a', '.a', 'a.b', 'items.0.sku', or a JSON Pointer '/a/b'."""
    if path.startswith("/"):
        steps = [s.replace("~1", "/").replace("~0", "~") for s in path[1:].split("/")]
    else:
        p = path[1:] if path.startswith(".") else path
        steps = p.split(".") if p else []
    cur = obj
    for step in steps:
        if isinstance(cur, dict):
            if step not in cur:
                return MISSING
            cur = cur[step]
        elif isinstance(cur, list) and step.isdigit():
            i = int(step)
            if i >= len(cur):
                return MISSING
            cur = cur[i]
        else:
            return MISSING
    return cur


def present(value):
    return value is not MISSING and value is not None


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text):
    m = _RFC3339.match(text)
    if not m:
        raise ValueError("not a time: %r" % text)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = m.group(7) or ""
    tz = m.group(8)
    off = 0
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        off = sign * (int(tz[1:3]) * 60 + int(tz[4:6]))
    days = (datetime.date(y, mo, d) - datetime.date(1970, 1, 1)).days
    ms = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 - off * 60_000
    if frac:
        ms += int((frac[1:] + "000")[:3])  # floored to ms
    return ms


def format_rfc3339(ms):
    """Epoch ms -> '2024-11-24T09:40:00Z' (milliseconds only when not whole)."""
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if ms % 1000:
        text += ".%03d" % (ms % 1000)
    return text + "Z"


def event_time(obj, path, unit):
    """Event time in epoch ms, floored toward -inf for finer units."""
    v = get_path(obj, path)
    if isinstance(v, str):
        return parse_rfc3339(v)
    if not is_number(v):
        raise ValueError("record has no time at %s: %r" % (path, v))
    if unit == "s":
        return math.floor(v * 1000)
    if unit == "ms":
        return math.floor(v)
    if unit == "us":
        return math.floor(v / 1000)
    if unit == "ns":
        return math.floor(v / 1_000_000)
    raise ValueError("bad unit " + unit)


def is_control(obj):
    return isinstance(obj, dict) and "@kpipe" in obj


# ---------------------------------------------------------------- aggregates

class Agg:
    def __init__(self, spec):
        name = None
        head = spec.split(":", 1)[0]
        if "=" in head:
            name, spec = spec.split("=", 1)
        parts = spec.split(":")
        self.fn = parts[0]
        self.path = parts[1] if len(parts) > 1 else None
        self.arg = parts[2] if len(parts) > 2 else None
        if self.fn not in ("count", "sum", "min", "max", "avg", "first", "last",
                           "distinct", "collect"):
            raise ValueError("aggregate not covered by the reference: " + self.fn)
        if self.fn != "count" and self.path is None:
            raise ValueError(self.fn + " needs a path")
        if name is None:
            name = "_".join(p for p in (self.fn, self.path, self.arg) if p is not None)
            name = name.replace(".", "_")
        self.name = name

    def compute(self, recs):
        """recs: list of (arrival, t, obj) in any order. Recomputed from scratch."""
        recs = sorted(recs, key=lambda r: r[0])  # arrival order
        if self.fn == "count" and self.path is None:
            return len(recs)
        vals = [(a, t, get_path(o, self.path)) for a, t, o in recs]
        vals = [(a, t, v) for a, t, v in vals if present(v)]
        if self.fn == "count":
            return len(vals)
        if self.fn == "collect":
            return [v for _, _, v in vals]
        if self.fn == "distinct":
            return len({compact(v) for _, _, v in vals})
        if not vals:
            return None
        if self.fn == "first":
            best = min(vals, key=lambda r: (r[1], r[0]))  # smallest t, earliest arrival
            return best[2]
        if self.fn == "last":
            best = max(vals, key=lambda r: (r[1], r[0]))  # greatest t, latest arrival
            return best[2]
        nums = [v for _, _, v in vals]
        for v in nums:
            if not is_number(v):
                raise ValueError("%s needs numbers, got %r" % (self.fn, v))
        if self.fn == "sum":
            if all(isinstance(v, int) for v in nums):
                s = sum(nums)
                if not -2**63 <= s < 2**63:
                    raise ValueError("integer sum leaves int64")
                return s
            s = 0.0
            for v in nums:  # arrival order, in doubles
                s += float(v)
            return s
        if self.fn == "min":
            return min(nums)
        if self.fn == "max":
            return max(nums)
        if self.fn == "avg":
            if all(isinstance(v, int) for v in nums):
                return float(sum(nums)) / len(nums)
            s = 0.0
            for v in nums:
                s += float(v)
            return s / len(nums)
        raise AssertionError(self.fn)


def agg_fields(aggs, recs):
    return [(a.name, a.compute(recs)) for a in aggs]


# ---------------------------------------------------------------- flags

class Opts:
    pass


def split_list(values):
    out = []
    for v in values:
        out.extend(p for p in v.split(",") if p != "")
    return out


def parse_args(argv, tool):
    o = Opts()
    o.tumble = o.hop = o.slide = o.session = None
    o.by = []
    o.aggs = []
    o.time = None
    o.time_unit = "ms"
    o.time_format = "ms"
    o.max_delay = 0
    o.lateness = 0
    o.late = None
    o.emit = "final"
    o.every = None
    o.no_control = False
    o.watermarks = False
    o.ttl = None
    o.input = "-"
    with_value = {"--tumble", "--hop", "--slide", "--session", "--by", "-a", "--agg", "--time",
                  "--time-unit", "--time-format", "--max-delay", "--lateness", "--late", "--emit",
                  "--ttl", "--output", "--idle", "--dead-letter"}
    by, aggs = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            flag, val = arg.split("=", 1)
        elif arg in with_value:
            flag, val = arg, argv[i + 1]
            i += 1
        else:
            flag, val = arg, None
        i += 1
        if flag == "--tumble":
            o.tumble = parse_duration(val)
        elif flag == "--hop":
            o.hop = parse_duration(val)
        elif flag == "--slide":
            o.slide = parse_duration(val)
        elif flag == "--session":
            o.session = parse_duration(val)
        elif flag == "--by":
            by.append(val)
        elif flag in ("-a", "--agg"):
            aggs.append(val)
        elif flag == "--time":
            o.time = val
        elif flag == "--time-unit":
            o.time_unit = val
        elif flag == "--time-format":
            o.time_format = val
        elif flag == "--max-delay":
            o.max_delay = parse_duration(val)
        elif flag == "--lateness":
            o.lateness = parse_duration(val)
        elif flag == "--late":
            o.late = val
        elif flag == "--emit":
            if val.startswith("every:"):
                o.emit, o.every = "every", parse_duration(val[6:])
            elif val in ("final", "changes"):
                o.emit = val
            else:
                raise ValueError("bad --emit " + val)
        elif flag == "--ttl":
            o.ttl = parse_duration(val)
        elif flag == "--no-control":
            o.no_control = True
        elif flag == "--watermarks":
            o.watermarks = True
        elif flag in ("-q", "--quiet"):
            pass
        elif flag in ("--output", "--idle", "--dead-letter"):
            raise ValueError(flag + " is not covered by the reference")
        elif flag.startswith("-") and flag != "-":
            raise ValueError("unknown flag " + flag)
        else:
            o.input = flag
    o.by = []
    for b in split_list(by):
        if "=" in b:
            name, path = b.split("=", 1)
        else:
            path = b
            name = b[1:] if b.startswith(".") else b
        o.by.append((name, path))
    o.aggs = [Agg(s) for s in split_list(aggs)]
    if not o.aggs:
        raise ValueError("-a is required")
    if tool == "kwindow":
        kinds = (o.tumble is not None) + (o.hop is not None or o.slide is not None) + (o.session is not None)
        if kinds != 1 or (o.hop is None) != (o.slide is None):
            raise ValueError("exactly one of --tumble, --hop+--slide, --session")
        if o.time is None:
            raise ValueError("--time is required")
    if o.ttl is not None and o.time is None:
        raise ValueError("--ttl needs --time")
    return o


def group_of(o, obj):
    """(key text, [(field name, value)]) of a record."""
    vals = []
    for name, path in o.by:
        v = get_path(obj, path)
        vals.append((name, None if v is MISSING else v))
    return compact([v for _, v in vals]), vals


def parse_lines(lines):
    """Input lines -> list of parsed JSON values (bad input is not covered)."""
    out = []
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        try:
            out.append(json.loads(line))
        except ValueError:
            raise ValueError("line %d: invalid JSON (not covered by the reference)" % n)
    return out


# ---------------------------------------------------------------- kwindow

def kwindow(argv, lines):
    """Returns (rows, late_rows, info). rows are dicts in output order (data rows only;
    info["end_forwarded"] tells whether an end control record is to follow them)."""
    o = parse_args(argv, "kwindow")
    D, L = o.max_delay, o.lateness
    fmt = format_rfc3339 if o.time_format == "rfc3339" else (lambda ms: ms)
    rows, late_rows = [], []
    info = {"end_forwarded": False, "late": 0, "records": 0, "wm_raised": False, "w_values": set(),
            "closed_early": False}

    W = -INF
    clock = Clock(D)
    arrival = 0

    # tumble / hop: (start, end) -> key text -> {"group": [...], "recs": [(arrival, t, obj)]}
    windows = {}
    # session: key text -> {"group": [...], "recs": [...]} holding every record of the
    # key's open sessions; the sessions themselves are recomputed from these each time.
    sess_recs = {}
    # changes mode, sessions: key text -> {(start, end): the row as last written}
    written = {}

    def windows_of(t):
        if o.tumble is not None:
            s = (t // o.tumble) * o.tumble
            return [(s, s + o.tumble)]
        S, P = o.hop, o.slide
        out = []
        k = (t - S) // P - 1
        while k * P <= t:
            s = k * P
            if s <= t < s + S:
                out.append((s, s + S))
            k += 1
        return out

    def sessions_of(recs):
        """Sessions (start, end, recs) from scratch: records sorted by time, a record
        joins the running session when its [t, t+G) touches it (t <= end)."""
        G = o.session
        out = []
        for r in sorted(recs, key=lambda r: (r[1], r[0])):
            t = r[1]
            if out and out[-1][0] <= t + G and out[-1][1] >= t:
                s, e, rs = out[-1]
                out[-1] = (min(s, t), max(e, t + G), rs + [r])
            else:
                out.append((t, t + G, [r]))
        return out

    def make_row(start, end, group, recs):
        row = {"window_start": fmt(start), "window_end": fmt(end)}
        for name, v in group:
            row[name] = v
        for name, v in agg_fields(o.aggs, recs):
            row[name] = v
        return row

    def close_windows():
        """Drop every window with W >= end + L; in final/every mode write their rows in
        (end, start, first arrival) order."""
        closing = []
        if o.session is None:
            for (s, e) in sorted(windows):
                if W >= e + L:
                    for key, st in windows[(s, e)].items():
                        first = min(r[0] for r in st["recs"])
                        closing.append((e, s, first, make_row(s, e, st["group"], st["recs"])))
                    del windows[(s, e)]
        else:
            for key in list(sess_recs):
                st = sess_recs[key]
                keep = []
                for s, e, recs in sessions_of(st["recs"]):
                    if W >= e + L:
                        first = min(r[0] for r in recs)
                        closing.append((e, s, first, make_row(s, e, st["group"], recs)))
                        written.get(key, {}).pop((s, e), None)
                    else:
                        keep.extend(recs)
                if keep:
                    st["recs"] = keep
                else:
                    del sess_recs[key]
                    written.pop(key, None)
        closing.sort(key=lambda c: (c[0], c[1], c[2]))
        if closing and W != INF:
            info["closed_early"] = True
        if o.emit != "changes":
            rows.extend(c[3] for c in closing)

    for obj in parse_lines(lines):
        if is_control(obj):
            kind = obj.get("@kpipe")
            if kind == "watermark":
                clock.control(obj["ts"])
                if clock.W > W:
                    info["wm_raised"] = True
                W = clock.W
                info["w_values"].add(W)
                close_windows()
            elif kind == "end":
                W = INF
                close_windows()
                info["end_forwarded"] = True
            continue
        info["records"] += 1
        t = event_time(obj, o.time, o.time_unit)
        key, group = group_of(o, obj)
        arrival += 1
        rec = (arrival, t, obj)
        if o.session is None:
            wins = windows_of(t)
            open_wins = [(s, e) for s, e in wins if not (e + L <= W)]
            if not open_wins:
                info["late"] += 1
                late_rows.append({"late": obj, "window_end": max(e for _, e in wins), "watermark": W})
            else:
                for s, e in open_wins:
                    st = windows.setdefault((s, e), {}).setdefault(key, {"group": group, "recs": []})
                    st["recs"].append(rec)
                if o.emit == "changes":
                    for s, e in sorted(open_wins, key=lambda w: (w[1], w[0])):
                        st = windows[(s, e)][key]
                        rows.append(make_row(s, e, st["group"], st["recs"]))
        else:
            G = o.session
            st = sess_recs.get(key)
            before = sessions_of(st["recs"]) if st else []
            touches = [x for x in before if x[0] <= t + G and x[1] >= t]
            if not touches and t + G + L <= W:
                info["late"] += 1
                late_rows.append({"late": obj, "window_end": t + G, "watermark": W})
            else:
                if st is None:
                    st = sess_recs[key] = {"group": group, "recs": []}
                st["recs"].append(rec)
                if o.emit == "changes":
                    after = sessions_of(st["recs"])
                    mine = [x for x in after if any(r[0] == arrival for r in x[2])][0]
                    w = written.setdefault(key, {})
                    bounds_now = {(x[0], x[1]) for x in after}
                    for (s, e) in sorted(w, key=lambda b: (b[1], b[0])):
                        if (s, e) not in bounds_now:
                            old = dict(w.pop((s, e)))
                            old["retract"] = True
                            rows.append(old)
                    row = make_row(mine[0], mine[1], st["group"], mine[2])
                    w[(mine[0], mine[1])] = row
                    rows.append(row)
        clock.record(t)
        W = clock.W
        info["w_values"].add(W)
        close_windows()

    W = INF  # end of input closes every window
    close_windows()
    return rows, late_rows, info


# ---------------------------------------------------------------- kagg

def kagg(argv, lines):
    """Returns (rows, info): data rows in output order (no control records)."""
    o = parse_args(argv, "kagg")
    D = o.max_delay
    rows = []
    info = {"end_forwarded": False, "records": 0, "wm_raised": False, "w_values": set()}
    W = -INF
    clock = Clock(D)
    arrival = 0
    table = {}  # key text -> {"group", "recs", "T"}; dict order = first seen (since last reset)

    def make_row(st):
        row = {}
        for name, v in st["group"]:
            row[name] = v
        for name, v in agg_fields(o.aggs, st["recs"]):
            row[name] = v
        return row

    def sweep(advanced=True):
        if o.ttl is None or (TTL_SWEEP_ONLY_ON_ADVANCE and not advanced):
            return
        # Keys forgotten together: in the order they expired (greatest event time T),
        # ties in first-seen order. (The spec does not say; this is what kagg does.)
        order = list(table)
        gone = [k for k in order if W - table[k]["T"] >= o.ttl]
        gone.sort(key=lambda k: (table[k]["T"], order.index(k)))
        for key in gone:
            if o.emit != "changes":
                rows.append(make_row(table[key]))
            del table[key]

    for obj in parse_lines(lines):
        if is_control(obj):
            kind = obj.get("@kpipe")
            if kind == "watermark":
                clock.control(obj["ts"])
                advanced = clock.W > W
                if advanced:
                    info["wm_raised"] = True
                W = clock.W
                info["w_values"].add(W)
                sweep(advanced)
            elif kind == "end":
                # Upstream finished: the same as the end of the input (final rows in
                # first-seen order), not a TTL sweep at W = +inf.
                W = INF
                if o.emit != "changes":
                    rows.extend(make_row(st) for st in table.values())
                table.clear()
                info["end_forwarded"] = True
            continue
        info["records"] += 1
        t = event_time(obj, o.time, o.time_unit) if o.time is not None else 0
        key, group = group_of(o, obj)
        arrival += 1
        st = table.get(key)
        if st is not None and o.ttl is not None and t - st["T"] >= o.ttl:
            # TTL or more past the key's greatest time: its stretch is over in
            # event time, whether or not W has got there yet.
            if o.emit != "changes":
                rows.append(make_row(st))
            del table[key]
            st = None
        if st is None:
            st = table[key] = {"group": group, "recs": [], "T": t}
        st["recs"].append((arrival, t, obj))
        st["T"] = max(st["T"], t)
        if o.emit == "changes":
            rows.append(make_row(st))
        advanced = False
        if o.time is not None:
            clock.record(t)
            advanced = clock.W > W
            W = clock.W
            info["w_values"].add(W)
        sweep(advanced)

    if o.emit != "changes":
        for st in table.values():
            rows.append(make_row(st))
    return rows, info


# ---------------------------------------------------------------- command line

def main(argv):
    if len(argv) < 2 or argv[1] not in ("kwindow", "kagg"):
        print(__doc__, file=sys.stderr)
        return 2
    tool, args = argv[1], argv[2:]
    o = parse_args(args, tool)
    src = sys.stdin if o.input == "-" else open(o.input, encoding="utf-8")
    lines = src.read().splitlines()
    if tool == "kwindow":
        rows, late_rows, _ = kwindow(args, lines)
        if o.late:
            with open(o.late, "w", encoding="utf-8") as f:
                for r in late_rows:
                    f.write(compact(r) + "\n")
    else:
        rows, _ = kagg(args, lines)
    for r in rows:
        print(compact(r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
