#!/usr/bin/env bash
# Real single-node Apache Kafka broker (KRaft, broker+controller in one JVM)
# for kpipe's integration tests, assembled from Maven Central.
#
# Usage: tests/kafka/broker.sh start|stop|status
#   start   Starts the broker unless it runs, and returns only once it answers
#           metadata and accepts a produce. The LAST line of stdout is the
#           bootstrap address (e.g. 127.0.0.1:24092). Idempotent.
#   stop    SIGTERM, SIGKILL after 30 s. Exits 0 when already stopped.
#   status  Prints "running" (exit 0) or "stopped" (exit 1).
#
# Environment:
#   KPIPE_BROKER_DIR      state dir (default: <repo>/build/kafka): libs, data, logs
#   KPIPE_BROKER_PORT     PLAINTEXT port (default 24092); controller uses port+1
#   KPIPE_BROKER_TIMEOUT  seconds start waits for readiness (default 120)
#   KPIPE_BROKER_GC       the JVM's collector flags (default
#                         "-XX:+UseG1GC -XX:MaxGCPauseMillis=20", as Kafka's own scripts)
#   KPIPE_BROKER_JVM_OPTS more JVM flags, e.g. a GC log
#   KPIPE_BROKER_SECURE=1 also a SASL_SSL listener on port+2 (SCRAM-SHA-512
#                         and PLAIN over TLS, a throwaway CA made with openssl in
#                         DIR/tls, its certificate DIR/tls/ca.pem) and KRaft's
#                         StandardAuthorizer: users alice and bob (passwords
#                         alice-secret, bob-secret) get nothing an ACL does not
#                         grant; PLAINTEXT stays open to everything (User:ANONYMOUS
#                         is a super user), for the tests' own admin client.
#
# Readiness is probed with kcat when installed (no JVM start per probe),
# otherwise with Kafka's own console producer from the same libs.
set -euo pipefail

# The one place the Kafka version lives; the pom receives it via -D.
KAFKA_VERSION=3.9.1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DIR=${KPIPE_BROKER_DIR:-$REPO/build/kafka}
PORT=${KPIPE_BROKER_PORT:-24092}
CPORT=$((PORT + 1))
TIMEOUT=${KPIPE_BROKER_TIMEOUT:-120}
ADDR=127.0.0.1:$PORT

LIBS=$DIR/libs
DATA=$DIR/data
LOGS=$DIR/logs
PROPS=$DIR/server.properties
PIDFILE=$DIR/broker.pid
ADDRFILE=$DIR/broker.addr
READY_TOPIC=__kpipe_ready

JAVA=java
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; fi

die() { echo "broker.sh: $*" >&2; exit 1; }

# Every JVM gets the same quiet log config, so tool warnings land in the file too.
run_java() {
  "$JAVA" -Dlog4j.configuration="file:$HERE/log4j.properties" \
    -Dkafka.logs.dir="$LOGS" -cp "$LIBS/*" "$@"
}

# Pid of our broker if it is alive (not a zombie, and really our kafka.Kafka
# with our config, so a recycled pid is not mistaken for it).
broker_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  grep -qs $'^State:\t[^Z]' "/proc/$pid/status" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS" || return 1
  echo "$pid"
}

# The pid of the JVM started as `$1`: the exec chain (subshell, setsid,
# nohup, java) takes a moment, and under job control setsid forks, so that
# `$1` exits and the JVM has a pid of its own. Fails when no JVM with our
# config runs after 10 s.
resolve_pid() {
  local pid=$1 i p
  ours() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $PROPS"; }
  for ((i = 0; i < 100; i++)); do
    if ours "$pid"; then
      echo "$pid"
      return 0
    fi
    if [[ ! -d /proc/$pid ]] || grep -qs $'^State:\tZ' "/proc/$pid/status"; then
      for p in /proc/[0-9]*; do
        p=${p#/proc/}
        if ours "$p"; then
          echo "$p"
          return 0
        fi
      done
    fi
    sleep 0.1
  done
  return 1
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

log_tail() {
  echo "---- $LOGS/server.log (tail) ----" >&2
  tail -n 60 "$LOGS/server.log" >&2 2>/dev/null || true
  echo "---- $LOGS/kafka.out (tail) ----" >&2
  tail -n 30 "$LOGS/kafka.out" >&2 2>/dev/null || true
}

# Resolve the broker jars once per Kafka version; ~/.m2 makes reruns cheap.
fetch_libs() {
  local stamp=$LIBS/.kafka-$KAFKA_VERSION attempt
  [[ -f $stamp ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Kafka $KAFKA_VERSION)"
  echo "broker.sh: fetching Kafka $KAFKA_VERSION jars with Maven" >&2
  for attempt in 1 2 3; do
    rm -rf "$LIBS.tmp"
    # Retries cover flaky downloads on a cold cache (CI).
    if mvn -q -B -f "$HERE/pom.xml" \
        -Dkafka.version="$KAFKA_VERSION" -Dlibs.dir="$LIBS.tmp" \
        -Dbuild.dir="$DIR/mvn-target" \
        -Dmaven.wagon.http.retryHandler.count=3 \
        dependency:copy-dependencies >"$LOGS/maven.log" 2>&1; then
      rm -rf "$LIBS"
      mv "$LIBS.tmp" "$LIBS"
      touch "$stamp"
      return 0
    fi
    tail -n 40 "$LOGS/maven.log" >&2
    echo "broker.sh: maven attempt $attempt failed" >&2
    sleep $((attempt * 5))
  done
  die "could not fetch Kafka $KAFKA_VERSION jars"
}

# A CA and a broker certificate for 127.0.0.1 and localhost, made once.
make_tls() {
  local tls=$DIR/tls
  [[ -s $tls/broker.pem ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (KPIPE_BROKER_SECURE needs it)"
  mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kpipe test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$tls/san.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 30 -extfile "$tls/san.ext" -out "$tls/broker.crt" 2>/dev/null
  # Kafka's PEM key store: the PKCS#8 key, then the certificate chain.
  cat "$tls/broker.key" "$tls/broker.crt" "$tls/ca.pem" > "$tls/broker.pem"
}

secure_props() {
  local sport=$((PORT + 2)) tls=$DIR/tls
  cat <<SECURE
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT,SASL_SSL://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$sport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_bob="bob-secret";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$tls/broker.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
SECURE
}

write_props() {
  local listeners="listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [[ ${KPIPE_BROKER_SECURE:-0} == 1 ]]; then
    make_tls
    listeners=$(secure_props)
  fi
  cat >"$PROPS" <<EOF
# Generated by tests/kafka/broker.sh on each start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
auto.create.topics.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# One node: internal topics must not ask for more replicas than exist.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
# Tests join groups constantly; do not wait 3 s for more members.
group.initial.rebalance.delay.ms=0
# Small box (2 cores, <=1 GiB heap): fewer threads, small cleaner buffer.
num.network.threads=2
num.io.threads=4
log.cleaner.dedupe.buffer.size=16777216
log.cleaner.backoff.ms=1000
EOF
}

# Format storage once; the cluster id is kept so a reformat (after data loss)
# reuses it and restarts never need a JVM for it.
format_storage() {
  local id
  [[ -f $DATA/meta.properties ]] && return 0
  if [[ -s $DIR/cluster.id ]]; then
    id=$(<"$DIR/cluster.id")
  else
    id=$(run_java kafka.tools.StorageTool random-uuid | tail -n 1)
    [[ -n $id ]] || die "StorageTool random-uuid printed nothing"
    echo "$id" >"$DIR/cluster.id"
  fi
  local scram=()
  # SCRAM credentials live in the metadata log: written at format time.
  if [[ ${KPIPE_BROKER_SECURE:-0} == 1 ]]; then
    scram=(--add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]'
           --add-scram 'SCRAM-SHA-512=[name=bob,password=bob-secret]')
  fi
  run_java kafka.tools.StorageTool format -t "$id" -c "$PROPS" "${scram[@]}" >&2
}

# One readiness probe: metadata answers and a produce (acks=all) succeeds.
probe() {
  local addr=$1 token
  token="ready-$$-$RANDOM"
  if command -v kcat >/dev/null; then
    kcat -b "$addr" -L -m 5 >/dev/null 2>&1 || return 1
    printf '%s\n' "$token" |
      kcat -b "$addr" -P -t "$READY_TOPIC" -X message.timeout.ms=15000 \
        -X request.required.acks=all >/dev/null 2>&1 || return 1
    kcat -b "$addr" -C -t "$READY_TOPIC" -o -1 -c 1 -e -q -m 10 2>/dev/null |
      grep -qxF "$token"
  else
    # No kcat: Kafka's console producer (one JVM, ~2 s). With --sync a
    # failed metadata lookup or produce makes it exit non-zero.
    printf '%s\n' "$token" |
      run_java kafka.tools.ConsoleProducer --bootstrap-server "$addr" \
        --topic "$READY_TOPIC" --sync --request-required-acks all \
        --producer-property max.block.ms=10000 \
        --producer-property delivery.timeout.ms=15000 \
        --producer-property request.timeout.ms=5000 >/dev/null 2>&1
  fi
}

# Wait until the broker logs its start line (after byte offset $2 of the log),
# then until a probe succeeds; fail early if the JVM dies.
wait_ready() {
  local addr=$1 offset=${2:-0} deadline=$((SECONDS + TIMEOUT))
  until tail -c +"$((offset + 1))" "$LOGS/server.log" 2>/dev/null |
      grep -q 'Kafka Server started'; do
    broker_pid >/dev/null || { log_tail; die "broker exited during startup"; }
    ((SECONDS < deadline)) || { log_tail; die "broker did not start within ${TIMEOUT}s"; }
    sleep 0.5
  done
  until probe "$addr"; do
    broker_pid >/dev/null || { log_tail; die "broker exited during startup"; }
    ((SECONDS < deadline)) || { log_tail; die "broker not ready within ${TIMEOUT}s"; }
    sleep 1
  done
}

lock() {
  mkdir -p "$DIR"
  # Serialize concurrent start/stop (e.g. parallel test runners).
  exec 9>"$DIR/.lock"
  flock -w 600 9 || die "timed out waiting for $DIR/.lock"
}

cmd_start() {
  local pid offset
  lock
  if broker_pid >/dev/null; then
    ADDR=$(<"$ADDRFILE")
    wait_ready "$ADDR"
    echo "$ADDR"
    return 0
  fi
  rm -f "$PIDFILE"
  for p in "$PORT" "$CPORT"; do
    port_in_use "$p" && die "port $p on 127.0.0.1 is taken by another process (set KPIPE_BROKER_PORT)"
  done
  # A port in the ephemeral range can be taken by any client's outgoing
  # connection between this check and the broker's bind.
  local lo hi
  if read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null \
     && [ "$PORT" -ge "$lo" ] && [ "$PORT" -le "$hi" ]; then
    echo "broker.sh: warning: port $PORT is in the ephemeral range $lo-$hi; the bind may fail" >&2
  fi
  mkdir -p "$LOGS" "$DATA"
  fetch_libs
  write_props
  format_storage
  offset=$(stat -c %s "$LOGS/server.log" 2>/dev/null || echo 0)
  # setsid+nohup: the broker outlives this script and the caller's session;
  # fd 9 (the lock) is closed so the broker does not hold it.
  (
    cd "$DIR"
    # KPIPE_BROKER_GC: the collector's flags (default Kafka's own choice, G1
    # with a 20 ms pause target). KPIPE_BROKER_JVM_OPTS: more JVM flags (a GC
    # log: -Xlog:gc:file=gc.log). Both are split at spaces.
    # shellcheck disable=SC2086
    exec setsid nohup "$JAVA" -Xms256m -Xmx768m ${KPIPE_BROKER_GC:--XX:+UseG1GC -XX:MaxGCPauseMillis=20} ${KPIPE_BROKER_JVM_OPTS:-} \
      -Djava.awt.headless=true \
      -Dlog4j.configuration="file:$HERE/log4j.properties" -Dkafka.logs.dir="$LOGS" \
      -cp "$LIBS/*" kafka.Kafka "$PROPS" \
      >>"$LOGS/kafka.out" 2>&1 </dev/null 9>&-
  ) &
  pid=$(resolve_pid $!) || { log_tail; die "broker exited during startup"; }
  echo "$pid" >"$PIDFILE"
  echo "$ADDR" >"$ADDRFILE"
  echo "broker.sh: started Kafka $KAFKA_VERSION (pid $pid), waiting for readiness" >&2
  wait_ready "$ADDR" "$offset"
  echo "$ADDR"
}

cmd_stop() {
  local pid i
  lock
  if ! pid=$(broker_pid); then
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    broker_pid >/dev/null || break
    sleep 0.5
  done
  if broker_pid >/dev/null; then
    echo "broker.sh: broker did not stop in 30s, sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do
      broker_pid >/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$PIDFILE"
}

cmd_status() {
  if broker_pid >/dev/null; then
    echo running
  else
    echo stopped
    return 1
  fi
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
