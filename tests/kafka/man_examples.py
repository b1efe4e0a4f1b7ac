#!/usr/bin/env python3
"""Runs every example of the man pages (a line starting with "$ " inside
.EX/.EE), in order, from the repository root against the test broker, and
checks what it printed: the lines the page shows under a command must come
out of it, in that order (each on stdout or on stderr; "..." in a shown line
stands for any text, and a page may leave lines out). A last shown line
"exit status N" (that the command does not echo itself) is the status the
example must end with; otherwise 0.
Topic names starting with "man-" get a per-run prefix, in the commands and
in the lines shown alike.

Usage: man_examples.py SRC RUN_ID  (tests/kafka/test_man_examples.sh)
"""
import glob
import os
import re
import subprocess
import sys

src, run_id = sys.argv[1], sys.argv[2]


def unescape(text):
    """The groff escapes the pages use, as the reader sees them."""
    for a, b in (("\\-", "-"), ("\\(aq", "'"), ("\\(dq", '"'), ("\\e", "\\"), ("\\&", "")):
        text = text.replace(a, b)
    return text.replace("man-", f"man-{run_id}-")


def examples(page):
    """[(command, [shown line...])] of one page, in order."""
    out, in_ex = [], False
    for line in open(page, encoding="utf-8").read().splitlines():
        if line.startswith(".EX"):
            in_ex, current = True, None
        elif line.startswith(".EE"):
            in_ex = False
        elif in_ex and line.startswith("$ "):
            current = (unescape(line[2:]), [])
            out.append(current)
        elif in_ex and current is not None:
            current[1].append(unescape(line))
    return out


def pattern(shown):
    return re.compile(".*".join(re.escape(part) for part in shown.strip().split("...")))


count = checked = failures = 0
for page in sorted(glob.glob(os.path.join(src, "man", "*.[17]"))):
    name = os.path.basename(page)
    for cmd, shown in examples(page):
        count += 1
        want = 0
        # "exit status N" shown under a command that does not print it itself.
        if shown and re.fullmatch(r"exit status \d+", shown[-1].strip()) and "exit status" not in cmd:
            want = int(shown.pop().split()[-1])
        try:
            p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=src, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=60)
            status, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            status, out, err = "timeout", e.stdout or b"", e.stderr or b""
        streams = [[l.strip() for l in s.decode("utf-8", "replace").splitlines()] for s in (out, err)]
        problem = None
        if status != want:
            problem = f"exited {status}, want {want}"
        else:
            at = [0, 0]
            for line in shown:
                if not line.strip():
                    continue
                rx = pattern(line)
                for k in (0, 1):
                    i = next((i for i in range(at[k], len(streams[k])) if rx.fullmatch(streams[k][i])), None)
                    if i is not None:
                        at[k] = i + 1
                        break
                else:
                    problem = f"did not print (in this order) the line the page shows: {line.strip()}"
                    break
            checked += bool(shown)
        if problem:
            failures += 1
            sys.stderr.write(f"FAIL: {name} example {problem}:\n  $ {cmd}\n"
                             f"--- stdout\n{out[:2000].decode('utf-8', 'replace')}\n"
                             f"--- stderr\n{err[:2000].decode('utf-8', 'replace')}\n")
print(f"{count} examples run, {checked} with their output checked, {failures} failed", file=sys.stderr)
if count < 10:
    sys.exit(f"only {count} runnable examples found in man/")
sys.exit(1 if failures else 0)
