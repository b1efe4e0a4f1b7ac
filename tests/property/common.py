"""What the property drivers share: JSON compared with member order kept and
numbers by value, control records, durations as the tools accept them, and
shell quoting for the commands a failure prints."""

import json
import re

INF = float("inf")


class Obj(list):
    """A JSON object as its ordered list of (key, value) pairs."""


def loads(text):
    return json.loads(text, object_pairs_hook=Obj)


def norm(v):
    """Hashable canonical form: member order matters, numbers compare by value."""
    if isinstance(v, Obj):
        return ("o", tuple((k, norm(x)) for k, x in v))
    if isinstance(v, list):
        return ("a", tuple(norm(x) for x in v))
    if isinstance(v, bool):
        return ("b", v)
    if v is None:
        return ("z",)
    if isinstance(v, (int, float)):
        return ("n", v)
    return ("s", v)


def show(v):
    """norm() form back to JSON text."""
    tag = v[0]
    if tag == "o":
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + show(x) for k, x in v[1]) + "}"
    if tag == "a":
        return "[" + ",".join(show(x) for x in v[1]) + "]"
    if tag == "z":
        return "null"
    if tag == "n" and isinstance(v[1], float) and v[1] in (INF, -INF):
        return "inf" if v[1] > 0 else "-inf"
    return json.dumps(v[1], ensure_ascii=False)


def is_control(o):
    return isinstance(o, Obj) and any(k == "@kpipe" for k, _ in o)


def get(o, key, default=None):
    for k, v in o:
        if k == key:
            return v
    return default


WATERMARKS_FOLLOW = '{"@kpipe":"partitions","names":[],"watermarks":true}'


def follow_order(kind, c, line, said, seen_watermark):
    """The "watermarks follow" record of a tool's output (kpipe(7)): that
    record itself, once, before the first watermark. Given a control
    record's kind, the record, its line and whether the record was said and
    a watermark seen before it: (said, problem or None)."""
    if kind == "partitions":
        if norm(c) != norm(loads(WATERMARKS_FOLLOW)):
            return said, "unexpected partitions record %s" % show(norm(c))
        if said or seen_watermark:
            return said, "\"watermarks follow\" written twice or after a watermark (line %d)" % line
        return True, None
    if kind == "watermark" and not said:
        return said, "a watermark (line %d) before \"watermarks follow\"" % line
    return said, None


def dur(ms, rng):
    """Duration text for ms (may be negative), in one of the accepted spellings."""
    if ms == 0:
        return rng.choice(["0ms", "0s"])
    sign = "-" if ms < 0 else ""
    a = abs(ms)
    forms = ["%dms" % a]
    if a % 1000 == 0:
        forms.append("%ds" % (a // 1000))
    elif a > 1000:
        forms.append("%ds%dms" % (a // 1000, a % 1000))
    if a % 60000 == 0:
        forms.append("%dm" % (a // 60000))
    return sign + rng.choice(forms)


def shquote(a):
    return a if re.fullmatch(r"[\w@%+=:,./-]+", a) else "'" + a.replace("'", "'\\''") + "'"
