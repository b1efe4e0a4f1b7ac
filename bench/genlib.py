"""What the bench/gen_*.py data generators share. Not a script."""
import os
import random


def amount_text(rng: random.Random) -> str:
    """An amount as JSON text: an integer a quarter of the time, else a
    double with at most two decimals in its shortest form (12.3, 7.0), as
    json.dumps writes it."""
    if rng.random() < 0.25:
        return str(rng.randint(1, 999))
    return repr(rng.randint(1, 99999) / 100)


def write_lines(path, lines):
    """Writes `lines` (each ending with a newline) to PATH.tmp in chunks of
    65536 lines and renames it to PATH, so an interrupted run never leaves a
    short file that a benchmark would take for a finished one."""
    tmp = path + ".tmp"
    chunk = []
    with open(tmp, "w", encoding="ascii", newline="\n") as out:
        for line in lines:
            chunk.append(line)
            if len(chunk) == 65536:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    os.replace(tmp, path)
