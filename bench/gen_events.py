#!/usr/bin/env python3
"""Write N deterministic JSON event lines of ~62 bytes each (bench/window_bench.sh data).

Usage: gen_events.py [-n N] [-s SEED] PATH
       gen_events.py N PATH [SEED]          (the form gen_lines.py takes)

Each line looks like
  {"ts":1732441200123,"user":"u042","amount":12.34,"id":17}
  {"ts":1732441200125,"user":"u917","amount":250,"id":18}
- ts: epoch ms. A hidden clock advances 0..4 ms per event (about 500 events/s,
  so 1M events span ~33 minutes of event time); each event's ts is the clock
  minus a delay: 0..20 ms for most events, 0..2000 ms for one in ten. So event
  times are out of order by at most 2 s: with --max-delay 2s no record is late.
- user: one of 1,000 users "u000".."u999", uniform.
- amount: one in four an integer 1..999, otherwise a number with up to two
  decimals written as a JSON serializer writes a double (12.34, 7.5, 3.0), so
  sums mix integers and doubles as real data does.
- id: 1..N, unique, in file order.
Defaults: N = 1000000, SEED = 42. Same N and SEED give byte-identical files.
The file is written to PATH.tmp and renamed into place, so an interrupted run
never leaves a truncated PATH behind. Prints nothing on success.
"""
import random
import sys

from genlib import amount_text, write_lines

BASE_TS = 1732441200000
USERS = 1000


def usage() -> int:
    print("usage: gen_events.py [-n N] [-s SEED] PATH  |  gen_events.py N PATH [SEED]",
          file=sys.stderr)
    return 2


def parse_args(argv):
    n, seed, pos = 1000000, 42, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a in ("-n", "-s"):
            if i + 1 >= len(argv):
                return None
            if a == "-n":
                n = int(argv[i + 1])
            else:
                seed = int(argv[i + 1])
            i += 2
            continue
        pos.append(a)
        i += 1
    if len(pos) == 1:
        return n, seed, pos[0]
    if len(pos) in (2, 3):  # N PATH [SEED]
        return int(pos[0]), (int(pos[2]) if len(pos) == 3 else seed), pos[1]
    return None


def main(argv) -> int:
    try:
        args = parse_args(argv)
    except ValueError:
        args = None
    if args is None:
        return usage()
    n, seed, path = args
    if n < 1:
        print("gen_events.py: N must be >= 1", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    clock = BASE_TS + 2000  # so no ts falls before BASE_TS

    def lines():
        nonlocal clock
        for i in range(1, n + 1):
            clock += rng.randint(0, 4)
            if rng.random() < 0.1:
                delay = rng.randint(0, 2000)
            else:
                delay = rng.randint(0, 20)
            yield ('{"ts":%d,"user":"u%03d","amount":%s,"id":%d}\n'
                   % (clock - delay, rng.randrange(USERS), amount_text(rng), i))

    write_lines(path, lines())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
