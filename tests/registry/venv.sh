#!/usr/bin/env bash
# The test virtualenv of the schema tests: confluent-kafka's serializers
# (Avro, Protobuf, JSON Schema) from PyPI, the independent client that
# tests/registry/test_schemas.py checks kpipe against. Debian's
# python3-confluent-kafka (1.7) lacks fastavro, which Debian 12 does not
# package. Made once in DIR/venv (KPIPE_REGISTRY_DIR, default
# <repo>/build/registry); prints the interpreter's path on its last line.
set -euo pipefail
CONFLUENT_KAFKA_VERSION=2.16.2
EXTRAS=avro,json,protobuf,schemaregistry
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DIR=${KPIPE_REGISTRY_DIR:-$REPO/build/registry}
VENV=$DIR/venv
STAMP=$VENV/.confluent-kafka-$CONFLUENT_KAFKA_VERSION-${EXTRAS//,/-}
if [[ ! -f $STAMP ]]; then
  rm -rf "$VENV"
  mkdir -p "$DIR"
  /usr/bin/python3 -m venv "$VENV"
  for attempt in 1 2 3; do
    if "$VENV/bin/pip" install -q --disable-pip-version-check \
        "confluent-kafka[$EXTRAS]==$CONFLUENT_KAFKA_VERSION" >"$DIR/pip.log" 2>&1; then
      touch "$STAMP"
      break
    fi
    tail -n 20 "$DIR/pip.log" >&2
    echo "venv.sh: pip attempt $attempt failed" >&2
    sleep $((attempt * 5))
  done
  [[ -f $STAMP ]] || { echo "venv.sh: could not install confluent-kafka $CONFLUENT_KAFKA_VERSION" >&2; exit 1; }
fi
echo "$VENV/bin/python"
