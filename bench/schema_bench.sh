#!/usr/bin/env bash
# schema_bench.sh - what Avro through a schema registry costs kproduce and
# kconsume, against the same records as plain JSON, on a real broker and
# registry.
#
# Usage: bench/schema_bench.sh [-n RECORDS] [-r RUNS] [VAR=VALUE...]
#        bench/schema_bench.sh -h
#
# What it does, in order:
#   1. Writes RECORDS deterministic JSON lines of 10 fields (~160 bytes:
#      strings, a long, an int, doubles, a boolean, an optional string) to
#      $DIR/schema-RECORDS.jsonl, and their Avro schema beside it.
#   2. Each of RUNS rounds makes two fresh 1-partition topics and times,
#      alternating:
#        kproduce -q -t JSON_TOPIC FILE
#        kproduce -q -t AVRO_TOPIC --value-format avro --schema S.avsc FILE
#        kconsume -q -e JSON_TOPIC                 > out
#        kconsume -q -e --registry URL AVRO_TOPIC  > out
#      each under `/usr/bin/time -f '%e %M %U %S'` (wall, peak RSS, CPU).
#   3. Checks before believing a timing: every consume of the Avro topic
#      writes the input file back byte for byte (the Avro datum decoded to
#      the same JSON), and so does every consume of the JSON topic.
#   4. Prints every run, then medians: records/s and CPU seconds (user+sys)
#      of each, and the ratios Avro/JSON of CPU time against the goal of
#      issue 18: encoding and decoding add at most 50 % (ratio <= 1.5),
#      PASS/MISS.
#
# The broker and the registry run on the same machine and compete for CPU;
# CPU time of the tool is what the goal judges, wall time is printed too.
#
# Options (each also settable as VAR=VALUE):
#   -n, --records N   RECORDS (default 1000000)
#   -r, --runs R      RUNS (default 3)
# Environment:
#   KPIPE_BROKERS     the broker (default 127.0.0.1:24092: tests/kafka/broker.sh start)
#   KPIPE_REGISTRY    the registry (default http://127.0.0.1:24081/apis/ccompat/v7:
#                     tests/registry/registry.sh start)
#   KPIPE_BENCH_DIR   scratch dir (default build/bench)
#   KPRODUCE, KCONSUME  the binaries (default build/)
#   RUN_TIMEOUT       seconds before one run is killed (default 600)
# Exit status: 0 when every run succeeded and every check agreed (whatever
# PASS/MISS says), 1 otherwise, 2 on bad usage or a missing prerequisite.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
die() { echo "schema_bench.sh: $*" >&2; exit 2; }

N=${N:-1000000}
RUNS=${RUNS:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
while (($#)); do
  case $1 in
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
    -n|--records) (($# >= 2)) || die "$1 needs a value"; N=$2; shift ;;
    -r|--runs) (($# >= 2)) || die "$1 needs a value"; RUNS=$2; shift ;;
    N=*) N=${1#*=} ;;
    RUNS=*) RUNS=${1#*=} ;;
    RUN_TIMEOUT=*) RUN_TIMEOUT=${1#*=} ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"

BROKERS=${KPIPE_BROKERS:-127.0.0.1:24092}
REGISTRY=${KPIPE_REGISTRY:-http://127.0.0.1:24081/apis/ccompat/v7}
DIR=${KPIPE_BENCH_DIR:-$REPO/build/bench}
KPRODUCE=${KPRODUCE:-$REPO/build/kproduce}
KCONSUME=${KCONSUME:-$REPO/build/kconsume}
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing: apt-get install -y time"
[[ -x $KPRODUCE && -x $KCONSUME ]] || die "no $KPRODUCE / $KCONSUME; build them first"
timeout 20 "$KCONSUME" -L -b "$BROKERS" >/dev/null 2>&1 || die "broker $BROKERS does not answer (tests/kafka/broker.sh start)"
curl -sf "$REGISTRY/subjects" >/dev/null || die "registry $REGISTRY does not answer (tests/registry/registry.sh start)"

LOG=$DIR/schema-logs
mkdir -p "$LOG"
source "$HERE/lib.sh"
export KPIPE_BROKERS=$BROKERS
unset KPIPE_REGISTRY  # the plain runs must not see it; the Avro runs name it

DATA=$DIR/schema-$N.jsonl
SCHEMA=$DIR/schema-bench.avsc
cat >"$SCHEMA" <<'EOF'
{"type":"record","name":"Visit","namespace":"bench","fields":[
 {"name":"ts","type":"long"},{"name":"user","type":"string"},{"name":"page","type":"string"},
 {"name":"country","type":"string"},{"name":"device","type":"string"},{"name":"ms","type":"int"},
 {"name":"amount","type":"double"},{"name":"score","type":"double"},{"name":"ok","type":"boolean"},
 {"name":"ref","type":["null","string"],"default":null}]}
EOF
if [[ -s $DATA ]] && [[ $(wc -l <"$DATA") -eq $N ]]; then
  echo "data: reusing $DATA"
else
  echo "data: writing $N records to $DATA"
  python3 - "$N" "$DATA" <<'EOF'
import json, random, sys
n, path = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(42)
countries, devices = ["NL", "ES", "DE", "FR", "US", "BR"], ["ios", "android", "web"]
with open(path, "w") as f:
    for i in range(n):
        r = {"ts": 1732441200000 + i * 7, "user": f"u{rnd.randrange(100000):05d}",
             "page": f"/p/{rnd.randrange(5000)}", "country": rnd.choice(countries),
             "device": rnd.choice(devices), "ms": rnd.randrange(20000),
             # never integral: 5.0 would come back from Avro as 5, the same number
             "amount": rnd.randrange(100000) / 100 + 0.005, "score": (rnd.randrange(999999) + 1) / 1e6,
             "ok": rnd.random() < 0.9,
             "ref": None if rnd.random() < 0.5 else f"https://ref.example/{rnd.randrange(1000)}"}
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
EOF
fi
BYTES=$(wc -c <"$DATA")
cat "$DATA" >/dev/null
echo "data: $N records, $BYTES bytes; broker $BROKERS, registry $REGISTRY"

declare -A cpu wall
bad=0
runid=$(date +%s)-$$
for r in $(seq 1 "$RUNS"); do
  jt=schema-bench-json-$runid-$r
  at=schema-bench-avro-$runid-$r
  for kind in json avro; do
    t=$jt
    extra=()
    [[ $kind == avro ]] && { t=$at; extra=(--registry "$REGISTRY" --value-format avro --schema "$SCHEMA"); }
    "$REPO/build/kadmin" topic create "$t" -p 1 >/dev/null 2>&1 || true
    timed /dev/null "produce-$kind-$r" "$KPRODUCE" -q -t "$t" "${extra[@]}" "$DATA"
    if ((T_RC)); then echo "run $r: kproduce $kind FAILED ($T_RC)"; show_err "produce-$kind-$r"; bad=1; continue; fi
    read -r w rss u s <<<"$T_MEAS"
    cpu[produce-$kind]+="$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}') "
    wall[produce-$kind]+="$w "
    printf 'run %d  kproduce %-4s  wall %6.2f s  cpu %6.2f s  rss %6d KiB\n' "$r" "$kind" "$w" "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$rss"
  done
  for kind in json avro; do
    t=$jt
    extra=()
    [[ $kind == avro ]] && { t=$at; extra=(--registry "$REGISTRY"); }
    out=$LOG/consume-$kind.out
    timed "$out" "consume-$kind-$r" "$KCONSUME" -q -e "${extra[@]}" "$t"
    if ((T_RC)); then echo "run $r: kconsume $kind FAILED ($T_RC)"; show_err "consume-$kind-$r"; bad=1; continue; fi
    if ! cmp -s "$out" "$DATA"; then
      echo "run $r: kconsume $kind did not write the input back"; bad=1; continue
    fi
    read -r w rss u s <<<"$T_MEAS"
    cpu[consume-$kind]+="$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}') "
    wall[consume-$kind]+="$w "
    printf 'run %d  kconsume %-4s  wall %6.2f s  cpu %6.2f s  rss %6d KiB  (output = input)\n' "$r" "$kind" "$w" "$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')" "$rss"
  done
  "$REPO/build/kadmin" topic delete "$jt" "$at" >/dev/null 2>&1 || true
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "nan"; exit} if(NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo
printf '%-10s %-5s %10s %12s %10s\n' step form "cpu s" "records/s" "wall s"
for step in produce consume; do
  for kind in json avro; do
    c=$(median <<<"${cpu[$step-$kind]:-}")
    w=$(median <<<"${wall[$step-$kind]:-}")
    printf '%-10s %-5s %10s %12s %10s\n' "$step" "$kind" "$c" "$(awk -v n="$N" -v c="$c" 'BEGIN{printf "%.0f", n/c}')" "$w"
  done
done
echo
for step in produce consume; do
  a=$(median <<<"${cpu[$step-avro]:-}")
  j=$(median <<<"${cpu[$step-json]:-}")
  awk -v a="$a" -v j="$j" -v s="$step" 'BEGIN{r=a/j; printf "k%s Avro / JSON, CPU time: %.2f (goal <= 1.5: %s)\n", s, r, r <= 1.5 ? "PASS" : "MISS"}'
done
exit "$bad"
