#!/usr/bin/env bash
# tests/bazel/run.sh: build and test the tests/bazel workspace with the real Bazel (Debian's
# 4.2.3, WORKSPACE mode, offline), then shut its server down.
#
#   bash tests/bazel/run.sh [extra bazel flags for build and test...]
#
# The Bazel server and its outputs live under a dedicated output base, one per checkout, in
# $BAZEL_TEST_ROOT (default /tmp/rules_imagewriter-bazel), so a run never touches the user's
# own Bazel state; the server (about 1 GB) is shut down on exit, pass or fail.
#
# Knobs:
#   BAZEL              the bazel command (default: bazel on PATH)
#   BAZEL_TEST_ROOT    where output bases live (default /tmp/rules_imagewriter-bazel)
#   BAZEL_OUTPUT_BASE  this run's output base (default: $BAZEL_TEST_ROOT/<hash of checkout>)
#   BAZEL_DISK_CACHE   if set, --disk_cache=$BAZEL_DISK_CACHE (shared across checkouts)
#   KEEP_SERVER=1      leave the server running (for a quick warm re-run)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cd "$here"

# The host toolchain's repository rule runs `go`; find the usual one even from a bare shell.
export PATH=$PATH:/usr/local/go/bin

BAZEL=${BAZEL:-bazel}
command -v "$BAZEL" >/dev/null || {
  echo "tests/bazel: no bazel on PATH (apt-get install bazel-bootstrap)" >&2
  exit 1
}
command -v go >/dev/null || {
  echo "tests/bazel: no go on PATH: the host toolchain builds imagewriter with it" >&2
  exit 1
}

root=${BAZEL_TEST_ROOT:-/tmp/rules_imagewriter-bazel}
key=$(printf '%s' "$here" | sha256sum | cut -c1-16)
output_base=${BAZEL_OUTPUT_BASE:-$root/$key}
mkdir -p "$output_base"

startup=(--output_base="$output_base")
flags=(--symlink_prefix=/)
[[ -n ${BAZEL_DISK_CACHE:-} ]] && flags+=(--disk_cache="$BAZEL_DISK_CACHE")
flags+=("$@")

shutdown() {
  [[ -n ${KEEP_SERVER:-} ]] || "$BAZEL" "${startup[@]}" shutdown >/dev/null 2>&1 || true
}
trap shutdown EXIT

echo "tests/bazel: $("$BAZEL" --version 2>/dev/null || echo bazel), output base $output_base" >&2
"$BAZEL" "${startup[@]}" build "${flags[@]}" //...
"$BAZEL" "${startup[@]}" test "${flags[@]}" //...
echo "tests/bazel: ok" >&2
