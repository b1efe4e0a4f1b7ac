# Property test: kjoin against the naive reference implementation
# (tests/property/join_ref.py) over randomized out-of-order left/right streams
# with coarse timestamps: interval joins (every bound and join type, max delay,
# lateness), --table, --as-of, --merge, bad lines, control records; some runs
# through two pipes written in different interleavings. Fixed seed, ~2000
# scenarios; a failure prints the scenario (command, minimised input, expected
# vs actual).
source "$(dirname "$0")/lib.sh"
prop=$SRC/tests/property/run_join_property.py
"$PY" "$prop" --self-test || fail "the join reference disagrees with its hand-made cases"
TMPDIR=$T "$PY" "$prop" --seed 20241124 --scenarios 2000 --jobs 2 \
  --bin "${KPIPE_BIN:-$SRC/build}" || fail "kjoin differs from the reference (see above)"
echo ok
