#!/usr/bin/env bash
# Installs what kpipe needs to build, test and benchmark on Debian 12:
# the libraries (Debian packages), a JDK and Maven for the test broker
# (tests/kafka/broker.sh fetches Kafka itself from Maven Central), and the
# peers the tests and benchmarks compare against (kcat, jq, Miller,
# python3-confluent-kafka as an independent Kafka client), systemd's
# library and tools for the service support (sd_notify, systemd-analyze),
# and for the tests of the install and the unit templates man-db (man -l,
# and the man pages that systemd-analyze verify looks up) and procps;
# libjq-dev for kjq (jq 1.6's own library, so that programs mean what jq says);
# openssl for the test broker's throwaway CA (its SASL_SSL listener);
# libpcre2-dev for the patterns of --validate's JSON Schemas, and
# json-schema-test-suite, the official tests --validate's checker must pass;
# libcurl for the schema registry's REST API, libprotobuf and libprotoc
# for Protobuf payloads and .proto schemas; libjemalloc-dev, the tools'
# allocator (librdkafka frees each fetched message on the tool's thread);
# curl and python3-venv for the
# schema tests (tests/registry: a registry's readiness, confluent-kafka's
# serializers from PyPI in a virtualenv).
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  librdkafka-dev libsimdjson-dev librocksdb-dev libcli11-dev libfmt-dev catch2 libjq-dev libpcre2-dev libcurl4-openssl-dev
  libprotobuf-dev libprotoc-dev libjemalloc-dev
  libsystemd-dev systemd man-db procps
  default-jdk-headless maven
  kcat jq miller python3 python3-confluent-kafka time groff-base openssl json-schema-test-suite
  curl python3-venv
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
