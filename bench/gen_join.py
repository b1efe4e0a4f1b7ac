#!/usr/bin/env python3
"""Write the two inputs of bench/join_bench.sh: N orders and N payments as JSON lines.

Usage: gen_join.py [-n N] [-k KEYS] [-r RATE] [-d DISORDER_MS] [-s SEED] LEFT RIGHT

LEFT gets N lines like
  {"ts":1732441200000,"user":"u04211","amount":12.34,"id":1}
RIGHT gets N lines like
  {"ts":1732441200000,"user":"u17503","amount":250,"id":1}
(both sides carry ts, user and amount, so bench/simdjson_pass can read either
file as its bare-pass reference).
- ts: epoch ms from 1732441200000. Each side has its own clock that advances
  RATE events per second of event time (default 10000: ten events per
  millisecond, so 500,000 events span 50 s); the two sides cover the same
  time span, so while both are read the watermark of each advances at the
  same pace. With DISORDER_MS > 0, one event in ten has its ts moved back by
  0..DISORDER_MS ms: events are then out of order by at most DISORDER_MS, and
  with --max-delay DISORDER_MS no event is late, whatever the interleaving of
  the two inputs.
- user: the join key, one of KEYS (default 50,000) users "u00000".."u49999",
  uniform and independent on each side. With the defaults a left event has on
  average RATE / KEYS * 2 s = 0.4 right events of its user within +-1 s.
- amount: an integer 1..999 one time in four, else a number with up to two
  decimals written as json.dumps writes a double.
- id: 1..N per side, in file order (the benchmark's check names rows by it).
Same arguments give byte-identical files; the left side uses SEED, the right
side SEED + 1. Each file is written to PATH.tmp and renamed into place, so an
interrupted run never leaves a truncated file behind. Prints nothing on success.
Defaults: N = 500000, KEYS = 50000, RATE = 10000, DISORDER_MS = 0, SEED = 42.
"""
import random
import sys

from genlib import amount_text, write_lines

BASE_TS = 1732441200000


def usage() -> int:
    print("usage: gen_join.py [-n N] [-k KEYS] [-r RATE] [-d DISORDER_MS] [-s SEED] LEFT RIGHT",
          file=sys.stderr)
    return 2


def parse_args(argv):
    opts = {"-n": 500000, "-k": 50000, "-r": 10000, "-d": 0, "-s": 42}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a in opts:
            if i + 1 >= len(argv):
                return None
            opts[a] = int(argv[i + 1])
            i += 2
            continue
        pos.append(a)
        i += 1
    if len(pos) != 2:
        return None
    return opts["-n"], opts["-k"], opts["-r"], opts["-d"], opts["-s"], pos[0], pos[1]


def write_side(path, n, keys, rate, disorder, seed):
    rng = random.Random(seed)
    width = len(str(keys - 1))
    # Event i is at BASE_TS + floor(i * 1000 / rate): exactly `rate` events per
    # second of event time, on both sides alike.

    def lines():
        for i in range(n):
            ts = BASE_TS + (i * 1000) // rate
            if disorder and rng.random() < 0.1:
                ts -= rng.randint(0, disorder)
            yield ('{"ts":%d,"user":"u%0*d","amount":%s,"id":%d}\n'
                   % (ts, width, rng.randrange(keys), amount_text(rng), i + 1))

    write_lines(path, lines())


def main(argv) -> int:
    try:
        args = parse_args(argv)
    except ValueError:
        args = None
    if args is None:
        return usage()
    n, keys, rate, disorder, seed, left, right = args
    if n < 1 or keys < 1 or rate < 1 or disorder < 0:
        print("gen_join.py: N, KEYS and RATE must be >= 1, DISORDER_MS >= 0", file=sys.stderr)
        return 2
    write_side(left, n, keys, rate, disorder, seed)
    write_side(right, n, keys, rate, disorder, seed + 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
