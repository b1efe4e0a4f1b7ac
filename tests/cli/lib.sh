# Shared helpers for tests/cli and tests/kafka scripts: source it.
# Every check prints what it ran when it fails.
set -euo pipefail
: "${KPIPE_TEST_TMP:=$(mktemp -d)}"
rm -rf "$KPIPE_TEST_TMP"
mkdir -p "$KPIPE_TEST_TMP"
T=$KPIPE_TEST_TMP
SRC=${KPIPE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# Debian's python3 has Debian's python3-confluent-kafka (the independent
# client the Kafka tests check kpipe against), whatever python3 is on PATH.
PY=${KPIPE_PYTHON:-/usr/bin/python3}

fail() { echo "FAIL: $*" >&2; exit 1; }

# run EXPECTED_STATUS CMD...: runs CMD, stdout to $T/out, stderr to $T/err.
run() {
  local want=$1
  shift
  local got=0
  "$@" >"$T/out" 2>"$T/err" || got=$?
  if [ "$got" != "$want" ]; then
    echo "--- stdout" >&2; head -c 2000 "$T/out" >&2
    echo "--- stderr" >&2; head -c 2000 "$T/err" >&2
    fail "exit $got, want $want: $*"
  fi
}

# sh_run EXPECTED_STATUS 'shell pipeline'
sh_run() { run "$1" bash -o pipefail -c "$2"; }

expect_eq() {  # expect_eq WHAT GOT WANT
  [ "$2" == "$3" ] || fail "$1: got '$2', want '$3'"
}
expect_grep() {  # expect_grep FILE PATTERN
  grep -qE -- "$2" "$1" || { echo "--- $1" >&2; head -c 2000 "$1" >&2; fail "no match for '$2' in $1"; }
}
expect_no_grep() {
  if grep -qE -- "$2" "$1"; then echo "--- $1" >&2; head -c 2000 "$1" >&2; fail "unexpected '$2' in $1"; fi
}
expect_empty() { [ ! -s "$1" ] || { echo "--- $1" >&2; head -c 2000 "$1" >&2; fail "$1 is not empty"; }; }
