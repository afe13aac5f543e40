#!/usr/bin/env bash
# fuzz.sh: run every Fuzz* target in the module briefly, one at a time.
#
#   scripts/fuzz.sh [DIR...]      DIRs to search (default: the whole module)
#   FUZZTIME=10s                  time per target (go test -fuzztime)
#   FUZZMINIMIZETIME=2s           cap on minimizing each new input, so a
#                                 target never runs long past FUZZTIME
#
# `go test -fuzz` accepts one package and one target per run, so the targets
# are found with grep (func FuzzX(f *testing.F) in *_test.go) and run one by
# one; new fuzz tests are picked up without editing anything. A failing input
# is written by go test to the package's testdata/fuzz/FuzzX/ and fails this
# script.
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
(($#)) || set -- .

# "dir<TAB>FuzzName" for every target, sorted so the order is stable.
mapfile -t targets < <(
  find "$@" -path ./.git -prune -o -path '*/testdata' -prune -o -name 'bazel-*' -prune -o \
    -type f -name '*_test.go' -print0 |
  xargs -0 -r grep -HoE '^func Fuzz[A-Za-z0-9_]*\(' |
  sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1\t\2#' |
  LC_ALL=C sort -u
)

if ((${#targets[@]} == 0)); then
  echo "fuzz: no Fuzz* targets found"
  exit 0
fi

echo "fuzz: ${#targets[@]} target(s), ${fuzztime} each"
failed=()
for t in "${targets[@]}"; do
  dir=${t%%$'\t'*} name=${t#*$'\t'}
  [[ $dir == ./* || $dir == /* ]] || dir=./$dir
  echo "=== fuzz $dir $name"
  if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime="${FUZZMINIMIZETIME:-2s}" "$dir"; then
    failed+=("$dir $name")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED:"; printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz: ok"
