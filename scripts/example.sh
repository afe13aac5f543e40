#!/usr/bin/env bash
# example.sh: build the example image, examples/hello (what `make example` runs).
# It needs only Go (/usr/local/go or on PATH).
#
#   1. bin/imagewriter                        the CLI, from this checkout
#   2. examples/hello/build/linux_*/hello     the example program, static, for
#                                             linux/amd64 and linux/arm64
#   3. examples/hello/build/base              the base image (base.json), a layout
#   4. $OUT/hello                             the image (image.json): an OCI layout
#                                             with an index of both platforms
#      $OUT/hello-linux-amd64.oci.tar         linux/amd64 as an OCI archive
#      $OUT/hello-linux-amd64.docker.tar      linux/amd64 as a docker archive
#
# Then it prints the digests. Env: OUT (default out/example); IMAGEWRITER, a
# prebuilt imagewriter to use instead of step 1 (tests/integration sets it).
#
# The hello binary is built with flags that make it byte-identical on every
# machine with the same Go version (tests/integration checks this): no cgo, no
# paths, no VCS stamp, no build ID, and the default GOAMD64/GOARM64 levels
# whatever the environment says.
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
cd "$(dirname "$0")/.."

OUT=${OUT:-out/example}
ex=examples/hello
run() { echo "+ $*" >&2; "$@"; }

iw=${IMAGEWRITER:-}
if [[ -z $iw ]]; then
  mkdir -p bin
  run go build -trimpath -o bin/imagewriter ./tools/imagewriter
  iw=bin/imagewriter
fi

for arch in amd64 arm64; do
  run env -u GOFLAGS -u GOEXPERIMENT CGO_ENABLED=0 GOOS=linux GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 \
    go build -trimpath -buildvcs=false -ldflags=-buildid= -o "$ex/build/linux_$arch/hello" "./$ex/cmd/hello"
done

mkdir -p "$OUT"
run "$iw" build -f "$ex/base.json" -o "$ex/build/base"
run "$iw" build -f "$ex/image.json" -o "$OUT/hello"
run "$iw" build -f "$ex/image.json" -o "$OUT/hello-linux-amd64.oci.tar" --platform linux/amd64 --format oci-archive
run "$iw" build -f "$ex/image.json" -o "$OUT/hello-linux-amd64.docker.tar" --platform linux/amd64 --format docker-archive

echo
echo "Digests: the CLI printed each output's top digest (index or manifest) and"
echo "platform manifests above; the archives' own sha256:"
sha256sum "$OUT/hello-linux-amd64.oci.tar" "$OUT/hello-linux-amd64.docker.tar" | sed 's/^/  sha256:/'
echo "Run it:  podman load -i $OUT/hello-linux-amd64.docker.tar && podman run --rm example.com/hello:v1"
