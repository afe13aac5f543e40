#!/usr/bin/env bash
# example.sh: build the imagewriter CLI and the example layer with it.
#
#   scripts/example.sh      writes bin/imagewriter and out/example-layer.tar.gz
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
cd "$(dirname "$0")/.."

spec=examples/layer/spec.json
if [[ ! -f $spec ]]; then
  echo "example: $spec is missing (the example workspace under examples/layer/ has not been written yet)" >&2
  exit 1
fi

mkdir -p bin out
echo "+ go build -trimpath -o bin/imagewriter ./tools/imagewriter"
go build -trimpath -o bin/imagewriter ./tools/imagewriter
echo "+ bin/imagewriter layer --spec $spec --output out/example-layer.tar.gz"
bin/imagewriter layer --spec "$spec" --output out/example-layer.tar.gz
ls -l out/example-layer.tar.gz
