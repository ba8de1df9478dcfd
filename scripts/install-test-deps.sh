#!/usr/bin/env bash
# Installs what StreamHouse's tests, compat tests and benchmarks need outside
# the npm tree. Idempotent: installs only what is missing and says what it did.
#
#   scripts/install-test-deps.sh              # everything
#   scripts/install-test-deps.sh --apt-only   # Debian packages only
#   scripts/install-test-deps.sh --jars-only  # Kafka 3.9.0 jars only
#
# Debian packages: etcd-server kcat python3-confluent-kafka python3-kafka buildah debootstrap nftables iproute2
#   (plus a JDK and Maven when java/mvn are missing).
# Apache Kafka 3.9.0 jars (kafka_2.13 + kafka-tools, runtime scope, which also
#   brings kafka-clients and the slf4j-reload4j binding) from Maven Central into
#   ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/kafka-3.9.0/libs
#   (outside git; a marker file .complete is written only after a full copy).
#
# Exits non-zero on any failure.
set -euo pipefail

KAFKA_VERSION=3.9.0
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}"
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
MARKER="$KAFKA_HOME/.complete"

DO_APT=1
DO_JARS=1
for a in "$@"; do
  case "$a" in
    --apt-only) DO_JARS=0 ;;
    --jars-only) DO_APT=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install-test-deps: unknown argument: $a" >&2; exit 2 ;;
  esac
done

log() { echo "install-test-deps: $*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-test-deps: not root and no sudo; cannot apt-get install" >&2
  fi
fi

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

APT_UPDATED=0
apt_install() {
  # $@: packages (only the missing ones are passed in)
  [ "$#" -gt 0 ] || return 0
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------- Debian ---
if [ "$DO_APT" -eq 1 ]; then
  missing=()
  for p in etcd-server kcat python3-confluent-kafka python3-kafka buildah debootstrap nftables iproute2; do
    if pkg_installed "$p"; then log "present: $p"; else missing+=("$p"); fi
  done
  apt_install "${missing[@]}"
  # The etcd-server package ships /usr/bin/etcd and enables a system service
  # that is of no use to the tests (they run their own etcd on free ports).
  # In a container without systemd it is not running anyway.
  for b in etcd kcat buildah; do
    command -v "$b" >/dev/null 2>&1 || { echo "install-test-deps: $b missing after install" >&2; exit 1; }
  done
  /usr/bin/python3 -c 'import confluent_kafka, kafka' \
    || { echo "install-test-deps: /usr/bin/python3 cannot import confluent_kafka/kafka" >&2; exit 1; }
fi

# ---------------------------------------------------------------- Kafka jars
if [ "$DO_JARS" -eq 1 ]; then
  if [ -f "$MARKER" ] && [ -d "$LIBS" ] && ls "$LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
    log "present: Kafka $KAFKA_VERSION jars in $LIBS ($(ls "$LIBS" | wc -l) files)"
  else
    # java + mvn (present on this machine kind; installed from Debian otherwise)
    need=()
    command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null 2>&1 || need+=(maven)
    apt_install "${need[@]}"

    mkdir -p "$KAFKA_HOME"
    tmp="$(mktemp -d "$KAFKA_HOME/.libs.tmp.XXXXXX")"
    m2="$KAFKA_HOME/.m2-repo"
    trap 'rm -rf "$tmp"' EXIT
    log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION + kafka-tools:$KAFKA_VERSION from Maven Central"
    t0=$(date +%s)
    if ! mvn -q -B -f "$SCRIPT_DIR/kafka/pom.xml" \
        -Dmaven.repo.local="$m2" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.mvn.log" 2>&1; then
      cat "$tmp.mvn.log" >&2
      rm -f "$tmp.mvn.log"
      echo "install-test-deps: maven failed to fetch the Kafka jars" >&2
      exit 1
    fi
    rm -f "$tmp.mvn.log"
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] && [ -f "$tmp/kafka-clients-$KAFKA_VERSION.jar" ] \
      && [ -f "$tmp/kafka-tools-$KAFKA_VERSION.jar" ] \
      || { echo "install-test-deps: expected Kafka jars missing from maven output" >&2; exit 1; }
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    trap - EXIT
    # The jars are copied out; the private maven repo is only a download cache.
    rm -rf "$m2"
    date -u +%Y-%m-%dT%H:%M:%SZ > "$MARKER"
    log "installed: Kafka $KAFKA_VERSION jars in $LIBS ($(ls "$LIBS" | wc -l) files, $(du -sh "$LIBS" | cut -f1)) in $(( $(date +%s) - t0 ))s"
  fi
fi

log "done"
