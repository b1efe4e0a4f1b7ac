#!/usr/bin/env bash
# A real schema registry for kpipe's tests: Apicurio Registry, from Maven
# Central, with in-memory storage; its Confluent-compatible API is at
# http://127.0.0.1:PORT/apis/ccompat/v7.
#
# Usage: tests/registry/registry.sh start|stop|status
#   start   Starts the registry unless it runs, and returns once
#           GET /apis/ccompat/v7/subjects answers 200. The LAST line of stdout
#           is the registry's URL (the ccompat base). Idempotent.
#   stop    SIGTERM, SIGKILL after 20 s. Exits 0 when already stopped.
#   status  Prints "running" (exit 0) or "stopped" (exit 1).
#
# Environment:
#   KPIPE_REGISTRY_DIR      state dir (default: <repo>/build/registry): the
#                           unpacked distribution, the log, the pid
#   KPIPE_REGISTRY_PORT     HTTP port (default 24081)
#   KPIPE_REGISTRY_TIMEOUT  seconds start waits for readiness (default 120)
#
# Needs mvn (once, to fetch the ~110 MB distribution into ~/.m2), java 17
# and curl. Storage is in memory: every start begins empty.
set -euo pipefail

APICURIO_VERSION=3.0.9

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DIR=${KPIPE_REGISTRY_DIR:-$REPO/build/registry}
PORT=${KPIPE_REGISTRY_PORT:-24081}
TIMEOUT=${KPIPE_REGISTRY_TIMEOUT:-120}
URL=http://127.0.0.1:$PORT/apis/ccompat/v7
APP=$DIR/app
PIDFILE=$DIR/registry.pid
LOG=$DIR/registry.log
JAR=$APP/apicurio-registry-app-$APICURIO_VERSION-runner.jar

JAVA=java
if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then JAVA=$JAVA_HOME/bin/java; fi

die() { echo "registry.sh: $*" >&2; exit 1; }

registry_pid() {
  local pid
  [[ -f $PIDFILE ]] || return 1
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  grep -qs $'^State:\t[^Z]' "/proc/$pid/status" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$JAR" || return 1
  echo "$pid"
}

fetch_app() {
  [[ -f $JAR ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (needed once to fetch Apicurio Registry $APICURIO_VERSION)"
  local artifact=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all attempt
  local tgz=${MAVEN_REPO:-$HOME/.m2/repository}/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz
  mkdir -p "$DIR"
  for attempt in 1 2 3; do
    if [[ -s $tgz ]] || mvn -q -B dependency:get -Dartifact="$artifact" -Dtransitive=false \
        -Dmaven.wagon.http.retryHandler.count=3 >"$DIR/maven.log" 2>&1; then
      rm -rf "$APP.tmp"
      mkdir -p "$APP.tmp"
      tar -xzf "$tgz" -C "$APP.tmp"
      rm -rf "$APP"
      mv "$APP.tmp" "$APP"
      [[ -f $JAR ]] || die "the distribution has no $(basename "$JAR")"
      return 0
    fi
    tail -n 20 "$DIR/maven.log" >&2
    echo "registry.sh: maven attempt $attempt failed" >&2
    sleep $((attempt * 5))
  done
  die "could not fetch Apicurio Registry $APICURIO_VERSION"
}

ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/subjects" 2>/dev/null) == 200 ]]; }

start() {
  if registry_pid >/dev/null && ready; then
    echo "$URL"
    return 0
  fi
  fetch_app
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "port $PORT is taken by another program"
  # A small heap: the tests register a few dozen schemas.
  nohup "$JAVA" -Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
    -jar "$JAR" >"$LOG" 2>&1 &
  local pid=$! waited=0
  echo "$pid" >"$PIDFILE"
  until ready; do
    # (Not registry_pid: right after the fork the child may not be java yet.)
    if ! grep -qs $'^State:\t[^Z]' "/proc/$pid/status"; then
      tail -n 40 "$LOG" >&2 || true
      die "the registry exited while starting"
    fi
    if ((waited >= TIMEOUT)); then
      tail -n 40 "$LOG" >&2 || true
      die "not ready after ${TIMEOUT}s"
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "registry.sh: ready in ${waited}s" >&2
  echo "$URL"
}

stop() {
  local pid
  pid=$(registry_pid) || { rm -f "$PIDFILE"; return 0; }
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    registry_pid >/dev/null || { rm -f "$PIDFILE"; return 0; }
    sleep 1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if registry_pid >/dev/null; then echo running; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
