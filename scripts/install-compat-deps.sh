#!/usr/bin/env bash
# Prepares everything the client compatibility matrix (npm run compat,
# compat-tests/run.ts) needs outside the npm tree. Idempotent: each step is
# skipped when its cached result matches its inputs (a hash of the sources or
# the pinned versions), so a second run takes about a second.
#
#   scripts/install-compat-deps.sh              # everything
#   scripts/install-compat-deps.sh --quick      # what `npm run compat -- --quick` uses (no node-rdkafka, no venv)
#   scripts/install-compat-deps.sh --no-node-rdkafka
#
# Cache: ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/compat (outside git)
#   java/        compat-tests/java/{CompatClient,ToolRunner}.java compiled against the Kafka 3.9.0 jars
#   venv/        python3 (the first on PATH) -m venv + compat-tests/python/requirements.txt
#                (confluent-kafka with a current bundled librdkafka, aiokafka)
#   go/mod, go/build   Go module and build caches; go/bin/{franz,sarama}
#   node-rdkafka/      npm install of node-rdkafka (compiles its bundled librdkafka, minutes)
# Debian packages: kcat python3-confluent-kafka python3-kafka python3-snappy python3-lz4
#   python3-zstandard (kafka-python's codecs), and for node-rdkafka's build g++ make libssl-dev
#   zlib1g-dev libzstd-dev libsasl2-dev.
# Kafka 3.9.0 jars: scripts/install-test-deps.sh --jars-only.
#
# Exits non-zero when a step that was asked for fails, except node-rdkafka:
# when it cannot build, the reason is left in node-rdkafka/FAILED and the
# runner marks that client unavailable.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd)"
CACHE="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}"
C="$CACHE/compat"
NODE_RDKAFKA_VERSION=3.6.1

QUICK=0
NODE_RDKAFKA=1
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1; NODE_RDKAFKA=0 ;;
    --no-node-rdkafka) NODE_RDKAFKA=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "install-compat-deps: unknown argument: $a" >&2; exit 2 ;;
  esac
done

log() { echo "install-compat-deps: $*"; }
mkdir -p "$C"

hash_of() { cat "$@" | sha256sum | cut -c1-16; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
APT_UPDATED=0
apt_install() {
  [ "$#" -gt 0 ] || return 0
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ------------------------------------------------------------ Debian packages
pkgs=(kcat python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard)
[ "$NODE_RDKAFKA" -eq 1 ] && pkgs+=(g++ make libssl-dev zlib1g-dev libzstd-dev libsasl2-dev)
missing=()
for p in "${pkgs[@]}"; do pkg_installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; else log "present: Debian packages"; fi

# ------------------------------------------------------------ Kafka jars + Java client program
bash "$SCRIPT_DIR/install-test-deps.sh" --jars-only | sed 's/^/  /'
LIBS="$CACHE/kafka-3.9.0/libs"
JSRC=("$REPO/compat-tests/java/CompatClient.java" "$REPO/compat-tests/java/ToolRunner.java")
JH="$(hash_of "${JSRC[@]}")"
if [ -f "$C/java/.hash" ] && [ "$(cat "$C/java/.hash")" = "$JH" ] && [ -f "$C/java/CompatClient.class" ] && [ -f "$C/java/ToolRunner.class" ]; then
  log "present: compiled CompatClient, ToolRunner"
else
  rm -rf "$C/java" && mkdir -p "$C/java"
  javac -nowarn -d "$C/java" -cp "$LIBS/*" "${JSRC[@]}" 2>&1 | grep -v '^Note:' || true
  [ -f "$C/java/CompatClient.class" ] && [ -f "$C/java/ToolRunner.class" ] || { echo "install-compat-deps: javac failed" >&2; exit 1; }
  echo "$JH" > "$C/java/.hash"
  log "compiled: CompatClient, ToolRunner"
fi

# ------------------------------------------------------------ Go programs (franz-go, sarama)
if ! command -v go >/dev/null 2>&1; then
  echo "install-compat-deps: go not found (the Go clients need Go >= the version in compat-tests/go/go.mod)" >&2
  exit 1
fi
GODIR="$REPO/compat-tests/go"
GH="$(cd "$GODIR" && hash_of go.mod go.sum $(find . -name '*.go' | sort))-$(go env GOVERSION)"
# --quick runs franz-go only: sarama is built by a full install
GOPROGS=(franz sarama)
[ "$QUICK" -eq 1 ] && GOPROGS=(franz)
go_ok=1
for g in "${GOPROGS[@]}"; do
  [ -x "$C/go/bin/$g" ] && [ -f "$C/go/bin/.$g.hash" ] && [ "$(cat "$C/go/bin/.$g.hash")" = "$GH" ] || go_ok=0
done
if [ "$go_ok" -eq 1 ]; then
  log "present: Go programs (${GOPROGS[*]})"
else
  t0=$(date +%s)
  mkdir -p "$C/go/bin"
  (
    cd "$GODIR"
    export GOMODCACHE="$C/go/mod" GOCACHE="$C/go/build" GOFLAGS=-modcacherw GOTOOLCHAIN=local
    go build -trimpath -o "$C/go/bin/" $(printf './%s ' "${GOPROGS[@]}")
  )
  for g in "${GOPROGS[@]}"; do echo "$GH" > "$C/go/bin/.$g.hash"; done
  log "built: Go programs (${GOPROGS[*]}) in $(( $(date +%s) - t0 ))s"
fi

# ------------------------------------------------------------ venv (confluent-kafka current, aiokafka)
if [ "$QUICK" -eq 0 ]; then
  REQ="$REPO/compat-tests/python/requirements.txt"
  PY="$(command -v python3)"
  VH="$(hash_of "$REQ")-$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
  if [ -f "$C/venv/.hash" ] && [ "$(cat "$C/venv/.hash")" = "$VH" ] && [ -x "$C/venv/bin/python" ]; then
    log "present: venv"
  else
    t0=$(date +%s)
    rm -rf "$C/venv"
    "$PY" -m venv "$C/venv"
    "$C/venv/bin/pip" install -q --disable-pip-version-check -r "$REQ"
    echo "$VH" > "$C/venv/.hash"
    log "created: venv ($("$C/venv/bin/python" -c 'import confluent_kafka, aiokafka; print("confluent-kafka", getattr(confluent_kafka, "__version__", None) or confluent_kafka.version()[0], "librdkafka", confluent_kafka.libversion()[0], "aiokafka", aiokafka.__version__)')) in $(( $(date +%s) - t0 ))s"
  fi
fi

# ------------------------------------------------------------ node-rdkafka
if [ "$NODE_RDKAFKA" -eq 1 ]; then
  ND="$C/node-rdkafka"
  NH="$NODE_RDKAFKA_VERSION-$(node -v)"
  if [ -f "$ND/.hash" ] && [ "$(cat "$ND/.hash")" = "$NH" ] && [ -f "$ND/node_modules/node-rdkafka/build/Release/node-librdkafka.node" ]; then
    log "present: node-rdkafka"
  else
    t0=$(date +%s)
    log "building node-rdkafka $NODE_RDKAFKA_VERSION (compiles librdkafka; minutes on 2 cores)"
    rm -rf "$ND" && mkdir -p "$ND"
    echo '{"name":"compat-node-rdkafka","private":true}' > "$ND/package.json"
    if (cd "$ND" && npm install --no-audit --no-fund --loglevel=error "node-rdkafka@$NODE_RDKAFKA_VERSION" >"$ND/build.log" 2>&1) \
      && node -e "require('$ND/node_modules/node-rdkafka')" >/dev/null 2>&1; then
      echo "$NH" > "$ND/.hash"
      log "built: node-rdkafka in $(( $(date +%s) - t0 ))s"
    else
      tail -30 "$ND/build.log" > "$ND/FAILED" || true
      log "node-rdkafka did not build (see $ND/build.log); the runner marks it unavailable"
    fi
  fi
fi

log "done"
