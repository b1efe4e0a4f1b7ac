# Every runnable example of the man pages (a line starting with "$ " inside
# .EX/.EE) runs, in order, from the repository root against the test broker,
# and exits 0. Topic names starting with "man-" get a per-run prefix.
source "$(dirname "$0")/../cli/lib.sh"
run_id=$$-$(date +%s)
count=0
for page in "$SRC"/man/*.[17]; do
  awk '/^\.EX/{ex=1; next} /^\.EE/{ex=0} ex && /^\$ /{print substr($0, 3)}' "$page" \
    | sed -e 's/\\-/-/g' -e 's/\\(aq/'"'"'/g' -e 's/\\(dq/"/g' -e 's/\\e/\\/g' -e 's/\\&//g' \
          -e "s/man-/man-$run_id-/g" > "$T/examples"
  while IFS= read -r cmd; do
    count=$((count + 1))
    status=0
    (cd "$SRC" && timeout 60 bash -o pipefail -c "$cmd") > "$T/out" 2> "$T/err" < /dev/null || status=$?
    if [ $status -ne 0 ]; then
      cat "$T/err" >&2
      fail "$(basename "$page") example exited $status: $cmd"
    fi
  done < "$T/examples"
done
[ $count -ge 10 ] || fail "only $count runnable examples found in man/"
echo "ok: $count examples"
