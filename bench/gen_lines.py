#!/usr/bin/env python3
"""Write N deterministic JSON lines of about 64 bytes each to PATH.

Usage: gen_lines.py N PATH [SEED]

Each line looks like
  {"id":123456,"user":"u0042","amount":17.25,"ts":1732441200123}
with id = 1..N (unique, in order), user/amount drawn from random.Random(SEED)
(default seed 42) and ts increasing from a fixed base. Same N and SEED give
byte-identical files. The file is written to PATH.tmp and renamed into place,
so an interrupted run never leaves a truncated PATH behind.
"""
import random
import sys

from genlib import write_lines


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    n = int(sys.argv[1])
    path = sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 42
    if n < 1:
        print("gen_lines.py: N must be >= 1", file=sys.stderr)
        return 2
    rng = random.Random(seed)
    ts = 1732441200000

    def lines():
        nonlocal ts
        for i in range(1, n + 1):
            ts += rng.randint(0, 250)
            # amount 10.00..999.99 keeps the lines near 64 bytes
            yield ('{"id":%d,"user":"u%04d","amount":%d.%02d,"ts":%d}\n'
                   % (i, rng.randrange(10000), rng.randint(10, 999), rng.randrange(100), ts))

    write_lines(path, lines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
