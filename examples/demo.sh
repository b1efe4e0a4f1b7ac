#!/usr/bin/env bash
# The README's demo: a sample JSON-lines file through kpipe, no broker needed.
#
#  1. kproduce --dry-run validates each line, keys it by user, stamps it with
#     its event time and prints the envelope it would produce; a bad line goes
#     to the dead-letter file instead of stopping the run.
#  2. A second kproduce reads those envelopes back (--envelope), as it does
#     when copying a topic, and prints them again: the round trip is exact.
#  3. kwindow counts clicks per user and minute of event time from those
#     envelopes (their timestamps are the event times), waiting 200 ms for
#     records out of order and keeping those later still aside (--late), and
#     kagg turns the minute rows into a running table per user.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${KPIPE_BIN:-$here/../build}
export PATH="$bin:$PATH"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

{ head -n 3 "$here/clicks.jsonl"; echo '{"ts":1732441200000,"user":"u1",oops}'; tail -n +4 "$here/clicks.jsonl"; } \
  > "$tmp/input.jsonl"

echo "== 1. key by user, time from ts, bad lines to a dead-letter file"
kproduce --dry-run -q -t clicks -k user --timestamp ts -H source=demo \
  --dead-letter "$tmp/dead.jsonl" "$tmp/input.jsonl" > "$tmp/envelopes.jsonl"
head -n 2 "$tmp/envelopes.jsonl"
echo "... $(wc -l < "$tmp/envelopes.jsonl") envelopes"
echo
echo "== dead letters"
cat "$tmp/dead.jsonl"
echo
echo "== 2. envelopes back through kproduce --envelope: byte-exact round trip"
kproduce --dry-run -q --envelope -t clicks < "$tmp/envelopes.jsonl" > "$tmp/again.jsonl"
if cmp -s "$tmp/envelopes.jsonl" "$tmp/again.jsonl"; then
  echo "identical: $(wc -l < "$tmp/again.jsonl") messages"
else
  echo "round trip differs" >&2
  exit 1
fi
echo
echo "== 3. clicks per user and minute of event time, then a table per user"
kwindow -q --tumble 1m --max-delay 200ms --late "$tmp/late.jsonl" --by user -a clicks=count -a spent=sum:amount \
  --time-format rfc3339 "$tmp/envelopes.jsonl" > "$tmp/minutes.jsonl"
head -n 3 "$tmp/minutes.jsonl"
echo "... $(wc -l < "$tmp/minutes.jsonl") rows; late beyond --max-delay 200ms, kept aside: $(wc -l < "$tmp/late.jsonl")"
kagg -q --by user -a minutes=count -a clicks=sum:clicks -a busiest=max:clicks -a spent=sum:spent \
  "$tmp/minutes.jsonl" | head -n 3
