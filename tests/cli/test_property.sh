# Property test: kwindow and kagg against the naive reference implementation
# (tests/property/window_ref.py) over randomized out-of-order streams with
# coarse timestamps. Fixed seed, ~3000 scenarios; a failure prints the
# scenario (command, minimised input, expected vs actual).
source "$(dirname "$0")/lib.sh"
prop=$SRC/tests/property/run_property.py
"$PY" "$prop" --self-test || fail "the reference disagrees with its hand-made cases"
TMPDIR=$T "$PY" "$prop" --seed 20241124 --scenarios 3000 --jobs 2 \
  --bin "${KPIPE_BIN:-$SRC/build}" || fail "kwindow/kagg differ from the reference (see above)"
echo ok
