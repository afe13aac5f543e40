#!/usr/bin/env bash
# install-deps.sh: install, idempotently, everything the test suite needs on a
# fresh Debian machine with Go at /usr/local/go. Sources: Debian's packages and
# the Go module proxy only. Prints one "name version" line per tool at the end.
#
#   SKIP_APT=1  skip the Debian half      SKIP_GO=1  skip the go-install half
#
# Third-party checkers (nobody here wrote them): umoci, skopeo, crane, regctl,
# podman+runc, the distribution registry. Build tooling: bazel-bootstrap
# (Debian's Bazel 4.2.3), buildifier, gazelle. Benchmark peers: hyperfine, zstd.
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH
GOBIN=${GOBIN:-$(go env GOPATH)/bin}
export GOBIN PATH=$GOBIN:$PATH
mkdir -p "$GOBIN"

CRANE_V=v0.22.1
REGCTL_V=v0.11.7
REGISTRY_V=v3.1.2
UMOCI_V=v0.6.0
GAZELLE_V=v0.53.0
BUILDIFIER_V=v0.0.0-20260904073137-eaa4d125b423

log() { echo "[install-deps] $*" >&2; }

if [[ -z ${SKIP_APT:-} ]]; then
  pkgs=()
  for p in bazel-bootstrap skopeo podman runc uidmap jq curl zstd gzip tar python3 hyperfine make git apache2-utils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || pkgs+=("$p")
  done
  if ((${#pkgs[@]})); then
    log "apt-get install ${pkgs[*]}"
    sudo=(); ((EUID == 0)) || sudo=(sudo)   # CI runs as root; people may not
    for _ in $(seq 120); do fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1 || break; sleep 2; done
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
fi

# have BIN VERSION CMD...: BIN exists and CMD's output mentions VERSION.
have() { local b=$1 v=$2; shift 2; [[ -x $GOBIN/$b ]] && "$@" 2>/dev/null | grep -q -- "${v#v}"; }

if [[ -z ${SKIP_GO:-} ]]; then
  have crane "$CRANE_V" "$GOBIN/crane" version ||
    { log "go install crane@$CRANE_V"; go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_V"; }
  have regctl "$REGCTL_V" "$GOBIN/regctl" version ||
    { log "go install regctl@$REGCTL_V"; go install "github.com/regclient/regclient/cmd/regctl@$REGCTL_V"; }
  have registry "$REGISTRY_V" "$GOBIN/registry" --version ||
    { log "go install registry@$REGISTRY_V (slow)"; go install "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_V"; }
  # umoci refuses `go install` (replace directives): build the module source as main module.
  if ! have umoci "${UMOCI_V#v}" "$GOBIN/umoci" --version; then
    log "build umoci $UMOCI_V from module source"
    src=$(go mod download -json "github.com/opencontainers/umoci@$UMOCI_V" | jq -r .Dir)
    tmp=$(mktemp -d); cp -r "$src/." "$tmp/"; chmod -R u+w "$tmp"
    (cd "$tmp" && go build -o "$GOBIN/umoci" ./cmd/umoci)
    rm -rf "$tmp"
  fi
  [[ -x $GOBIN/buildifier ]] ||
    { log "go install buildifier"; go install "github.com/bazelbuild/buildtools/buildifier@$BUILDIFIER_V"; }
  [[ -x $GOBIN/gazelle ]] ||
    { log "go install gazelle@$GAZELLE_V"; go install "github.com/bazelbuild/bazel-gazelle/cmd/gazelle@$GAZELLE_V"; }
fi

v() { printf '%-12s %s\n' "$1" "$( ("${@:2}" 2>&1 || true) | head -n1)"; }
v go        go version
v bazel     sh -c 'command -v bazel'
v crane     crane version
v regctl    sh -c "regctl version | awk '/VCSTag/{print \$2}'"
v registry  registry --version
v umoci     umoci --version
v skopeo    skopeo --version
v podman    podman --version
v runc      runc --version
v buildifier sh -c 'command -v buildifier'
v gazelle   sh -c 'command -v gazelle'
