#!/usr/bin/env bash
# Installs what StreamHouse's tests, compat tests and benchmarks need outside
# the npm tree. Idempotent: installs only what is missing and says what it did.
#
#   scripts/install-test-deps.sh              # everything
#   scripts/install-test-deps.sh --apt-only   # Debian packages only
#   scripts/install-test-deps.sh --jars-only  # Kafka 3.9.0 jars only
#   scripts/install-test-deps.sh --minio-only # MinIO only
#
# Debian packages: etcd-server kcat python3-confluent-kafka python3-kafka buildah debootstrap nftables iproute2
#   (plus a JDK and Maven when java/mvn are missing).
# Apache Kafka 3.9.0 jars (kafka_2.13 + kafka-tools, runtime scope, which also
#   brings kafka-clients and the slf4j-reload4j binding) from Maven Central into
#   ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/kafka-3.9.0/libs
#   (outside git; a marker file .complete is written only after a full copy).
# MinIO (the S3 server of the MinIO tests and the S3 benchmark), built from
#   source with `go install github.com/minio/minio@$MINIO_VERSION` (Go module
#   proxy) into ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/minio/minio, only
#   when that binary is missing. It takes a while (minutes, on 2 cores). If it
#   cannot be built (no go, proxy unreachable, ...) the script warns, writes
#   the reason to minio/BUILD-FAILED (the MinIO tests then skip, saying why)
#   and goes on.
#
# Exits non-zero on any other failure.
set -euo pipefail

KAFKA_VERSION=3.9.0
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c  # what @latest resolved to (MinIO tags are RELEASE.*, not semver)
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}"
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
MARKER="$KAFKA_HOME/.complete"
MINIO_DIR="$CACHE/minio"
MINIO_BIN="$MINIO_DIR/minio"
MINIO_FAILED="$MINIO_DIR/BUILD-FAILED"

DO_APT=1
DO_JARS=1
DO_MINIO=1
for a in "$@"; do
  case "$a" in
    --apt-only) DO_JARS=0; DO_MINIO=0 ;;
    --jars-only) DO_APT=0; DO_MINIO=0 ;;
    --minio-only) DO_APT=0; DO_JARS=0 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
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

# ---------------------------------------------------------------- MinIO ----
minio_failed() {
  # $1: why. A warning, not an error: the MinIO tests skip with this reason.
  mkdir -p "$MINIO_DIR"
  echo "$1" > "$MINIO_FAILED"
  echo "install-test-deps: WARNING: MinIO not built: $1 (recorded in $MINIO_FAILED)" >&2
}
if [ "$DO_MINIO" -eq 1 ]; then
  if [ -x "$MINIO_BIN" ]; then
    log "present: MinIO in $MINIO_BIN ($(go version -m "$MINIO_BIN" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'))"
  elif ! command -v go >/dev/null 2>&1; then
    minio_failed "go not found on PATH (needed for go install github.com/minio/minio@$MINIO_VERSION)"
  else
    mkdir -p "$MINIO_DIR"
    gobin="$(mktemp -d "$MINIO_DIR/.gobin.tmp.XXXXXX")"
    build_log="$MINIO_DIR/build.log"
    log "building MinIO: go install github.com/minio/minio@$MINIO_VERSION ($(go version | cut -d' ' -f3); several minutes; log in $build_log)"
    t0=$(date +%s)
    if nice -n 10 env GOBIN="$gobin" go install "github.com/minio/minio@$MINIO_VERSION" >"$build_log" 2>&1 \
        && [ -x "$gobin/minio" ]; then
      mv "$gobin/minio" "$MINIO_BIN"
      rm -rf "$gobin" "$MINIO_FAILED"
      log "installed: MinIO $MINIO_VERSION in $MINIO_BIN in $(( $(date +%s) - t0 ))s"
    else
      rm -rf "$gobin"
      tail -n 20 "$build_log" >&2
      minio_failed "go install github.com/minio/minio@$MINIO_VERSION failed after $(( $(date +%s) - t0 ))s with $(go version | cut -d' ' -f3): $(grep -v -e '^go: downloading' -e '^[[:space:]]*$' "$build_log" | head -n 2 | tr -s '\t\n ' '   ' | cut -c1-300)"
    fi
  fi
fi

log "done"
