#!/usr/bin/env python3
"""Write N deterministic JSON lines over K distinct keys (bench/state_bench.sh data).

Usage: gen_keys.py [-n N] [-k K] [-s SEED] PATH

Each line looks like
  {"key":"k0004711","v":523}
- key: "k" and 7 digits, one of K keys "k0000000".."k{K-1}". The first K
  lines hold every key exactly once, in a shuffled order; the remaining
  N - K lines draw keys uniformly. So once K lines have been read every key
  exists, and the state holds K keys from there on.
- v: an integer 0..999.
Defaults: N = 3000000, K = 1000000, SEED = 42; N must be >= K. Same arguments
give byte-identical files. The file is written to PATH.tmp and renamed into
place, so an interrupted run never leaves a truncated PATH behind. Prints
nothing on success.
"""
import random
import sys

from genlib import write_lines


def main(argv) -> int:
    n, k, seed, pos = 3000000, 1000000, 42, []
    i = 0
    try:
        while i < len(argv):
            a = argv[i]
            if a in ("-h", "--help"):
                print(__doc__.strip())
                return 0
            if a in ("-n", "-k", "-s") and i + 1 < len(argv):
                v = int(argv[i + 1])
                if a == "-n":
                    n = v
                elif a == "-k":
                    k = v
                else:
                    seed = v
                i += 2
                continue
            pos.append(a)
            i += 1
    except ValueError:
        pos = []
    if len(pos) != 1 or k < 1 or n < k:
        print("usage: gen_keys.py [-n N] [-k K] [-s SEED] PATH   (N >= K >= 1)", file=sys.stderr)
        return 2
    path = pos[0]
    rng = random.Random(seed)
    first = list(range(k))
    rng.shuffle(first)

    def lines():
        for j in range(n):
            key = first[j] if j < k else rng.randrange(k)
            yield '{"key":"k%07d","v":%d}\n' % (key, rng.randrange(1000))

    write_lines(path, lines())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
