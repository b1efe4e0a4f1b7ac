# A full state disk (kpipe(7), STATE): kagg, kwindow and kjoin with --state
# on a 1 MB tmpfs (checkpoints every 5 ms: several fall within a run over
# 150,000 records, even parsed on two threads) stop with "state DIR: no space left on device (checkpoint
# N not written; the last good one is M)", exit 1, no abort; after the
# tmpfs is grown, a rerun on the same directory gives the same output as an
# uninterrupted run. Mounting a tmpfs needs root (CI runs as root): without
# it this test says so and checks nothing else.
source "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$T/disk" || ! mount -t tmpfs -o size=1M tmpfs "$T/disk" 2>/dev/null; then
  echo "SKIPPED: test_disk_full needs root to mount a tmpfs (CI runs it as root)"
  exit 0
fi
trap 'umount "$T/disk" 2>/dev/null || true' EXIT
"$PY" -c '
import json
for i in range(150000):
    print(json.dumps({"k": "key%06d" % i, "v": i, "ts": 1000 + i}))' > "$T/keys.jsonl"

# full_then_grown NAME TOOL ARGS...: TOOL (with --state "$T/disk/NAME") fails on
# the 1 MB disk, then, with room, finishes with the reference's output.
full_then_grown() {
  local name=$1 code=0
  shift
  umount "$T/disk"
  mount -t tmpfs -o size=1M tmpfs "$T/disk"
  "$@" --state "$T/disk/$name" --checkpoint-every 5ms --output "$T/$name.out" > /dev/null 2> "$T/$name.err" || code=$?
  [ $code -eq 1 ] || { cat "$T/$name.err" >&2; fail "$name on a full disk: exit $code, want 1 (134 is an abort)"; }
  expect_grep "$T/$name.err" "^$1: error: state $T/disk/$name: no space left on device \(checkpoint [0-9]+ not written; the last good one is [0-9]+\)$"
  mount -o remount,size=512M "$T/disk"
  run 0 "$@" -q --state "$T/disk/$name" --output "$T/$name.out"
  "$@" -q --output "$T/$name.ref"
  cmp "$T/$name.out" "$T/$name.ref" || fail "$name: the rows after a full disk and a restart differ from one run"
  echo "$name: $(grep -o 'checkpoint [0-9]* not written; the last good one is [0-9]*' "$T/$name.err"), then the same $(wc -l < "$T/$name.ref") rows"
}
full_then_grown kagg kagg --by k -a count -a sum:v "$T/keys.jsonl"
full_then_grown kwindow kwindow --tumble 1h --time ts --by k -a count -a sum:v "$T/keys.jsonl"
full_then_grown kjoin kjoin --on k --within 1h --time ts "$T/keys.jsonl" "$T/keys.jsonl"
echo ok
