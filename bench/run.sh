#!/usr/bin/env bash
# run.sh: time imagewriter against its peers on the same corpora, in one run,
# with hyperfine, and print a table of means and ratios.
#
#   bench/run.sh IMAGEWRITER CORPUS_DIR...
#
# IMAGEWRITER is the path of a built imagewriter binary; pass "none" (or a
# path that does not exist) to time only the peers. Build corpora with
# bench/corpus.sh. Knobs (environment):
#   RUNS=3 WARMUP=1        hyperfine --runs / --warmup
#   BENCH_WORK=DIR         where outputs go (default: a temp dir, removed at exit)
#   BENCH_KEEP=1           keep BENCH_WORK
#
# For each corpus, every command turns the directory (or a tar of it made
# beforehand) into one layer-like file:
#   tar | gzip -6           GNU tar, normalized (sorted, mtime 0, owner 0), piped to gzip -6 -n
#   tar | zstd -3 -T2       the same, piped to zstd
#   tar                     the same, uncompressed, to a file
#   tar + crane append      the tar above, then `crane append` of it onto the
#                           empty base into an image tarball (crane gzips the layer)
#   zstd -3 -T2 (tar)       compression only, of the tar made beforehand
#   sha256sum (tar)         hashing only, of the tar made beforehand
#   imagewriter gzip|zstd|none
#                           imagewriter layer --spec SPEC --compression C --output OUT,
#                           with SPEC {"entries":[{"type":"tree","path":"/corpus","source":DIR}]}
# Times are wall-clock means; "vs tar|gzip" is the mean divided by the mean
# of `tar | gzip -6` on the same corpus; MB/s is the uncompressed tar size
# over the mean.
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
usage() { echo "usage: $0 IMAGEWRITER|none CORPUS_DIR..." >&2; exit 2; }
(($# >= 2)) || usage
iw=$1; shift
runs=${RUNS:-3} warmup=${WARMUP:-1}

for tool in hyperfine tar gzip zstd sha256sum crane jq; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found; run make deps" >&2; exit 1; }
done

if [[ -n ${BENCH_WORK:-} ]]; then
  work=$BENCH_WORK; mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
fi
work=$(cd "$work" && pwd)
[[ -n ${BENCH_KEEP:-} ]] || trap 'rm -rf "$work"' EXIT

# The imagewriter rows run only if the binary can build a layer of a tiny
# tree with each compression.
iw_ok=()
if [[ $iw != none && -x $iw ]]; then
  iw=$(cd "$(dirname "$iw")" && pwd)/$(basename "$iw")
  mkdir -p "$work/probe/tree"; echo probe > "$work/probe/tree/file"
  printf '{"entries":[{"type":"tree","path":"/probe","source":"%s"}]}' "$work/probe/tree" > "$work/probe/spec.json"
  for c in gzip zstd none; do
    if "$iw" layer --spec "$work/probe/spec.json" --compression "$c" --output "$work/probe/out.$c" >"$work/probe/log.$c" 2>&1; then
      iw_ok+=("$c")
    else
      echo "bench: skipping imagewriter $c: the probe failed:" >&2; sed 's/^/  /' "$work/probe/log.$c" >&2
    fi
  done
  rm -rf "$work/probe"
else
  echo "bench: no imagewriter binary ($iw): timing the peers only" >&2
fi

TAR=(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner)
q() { printf '%q' "$1"; }
summary=()

for corpus in "$@"; do
  [[ -d $corpus ]] || { echo "bench: $corpus: not a directory (build it with bench/corpus.sh)" >&2; exit 1; }
  corpus=$(cd "$corpus" && pwd)
  name=$(basename "$corpus")
  w=$work/$name; rm -rf "$w"; mkdir -p "$w"
  tarcmd="${TAR[*]} -cf - -C $(q "$corpus") ."
  "${TAR[@]}" -cf "$w/pre.tar" -C "$corpus" .
  tarsize=$(stat -c %s "$w/pre.tar")
  nfiles=$(find "$corpus" -type f | wc -l)
  printf '{"entries":[{"type":"tree","path":"/corpus","source":%s}]}' "$(jq -Rn --arg s "$corpus" '$s')" > "$w/spec.json"

  # name<TAB>output file<TAB>command
  cmds=(
    "tar | gzip -6"$'\t'"$w/tar.tar.gz"$'\t'"$tarcmd | gzip -6 -n > $(q "$w/tar.tar.gz")"
    "tar | zstd -3 -T2"$'\t'"$w/tar.tar.zst"$'\t'"$tarcmd | zstd -q -3 -T2 > $(q "$w/tar.tar.zst")"
    "tar"$'\t'"$w/tar.tar"$'\t'"$tarcmd > $(q "$w/tar.tar")"
    "tar + crane append"$'\t'"$w/crane.tar"$'\t'"$tarcmd > $(q "$w/crane-layer.tar") && crane append -f $(q "$w/crane-layer.tar") -t bench.local/corpus:latest -o $(q "$w/crane.tar") 2>/dev/null"
    "zstd -3 -T2 (tar)"$'\t'"$w/pre.tar.zst"$'\t'"zstd -q -3 -T2 -f $(q "$w/pre.tar") -o $(q "$w/pre.tar.zst")"
    "sha256sum (tar)"$'\t'"-"$'\t'"sha256sum $(q "$w/pre.tar") > /dev/null"
  )
  for c in "${iw_ok[@]}"; do
    ext=${c/none/tar}; ext=${ext/gzip/tar.gz}; ext=${ext/zstd/tar.zst}
    cmds+=("imagewriter $c"$'\t'"$w/iw.$ext"$'\t'"$(q "$iw") layer --spec $(q "$w/spec.json") --compression $c --output $(q "$w/iw.$ext")")
  done

  args=()
  for c in "${cmds[@]}"; do
    IFS=$'\t' read -r n _ cmd <<<"$c"
    args+=(-n "$n" "set -o pipefail; $cmd")
  done
  echo
  echo "=== corpus $name: $nfiles files, tar $((tarsize / 1000000)) MB; hyperfine --runs $runs --warmup $warmup"
  hyperfine --shell=bash --style=basic --runs "$runs" --warmup "$warmup" --export-json "$w/hyperfine.json" "${args[@]}"

  # The table: name, mean, stddev, ratio to tar|gzip, throughput, output size.
  base=$(jq -r '.results[] | select(.command == "tar | gzip -6") | .mean' "$w/hyperfine.json")
  table=$(printf '%-22s %9s %8s %12s %8s %10s\n' command "mean(s)" "±(s)" "vs tar|gzip" "MB/s" "out(MB)"
    for c in "${cmds[@]}"; do
      IFS=$'\t' read -r n out _ <<<"$c"
      read -r mean sd < <(jq -r --arg n "$n" '.results[] | select(.command == $n) | "\(.mean) \(.stddev // 0)"' "$w/hyperfine.json")
      size=-; [[ $out != - && -f $out ]] && size=$(awk -v s="$(stat -c %s "$out")" 'BEGIN{printf "%.1f", s/1e6}')
      awk -v n="$n" -v m="$mean" -v sd="$sd" -v b="$base" -v t="$tarsize" -v sz="$size" \
        'BEGIN{printf "%-22s %9.3f %8.3f %11.2fx %8.0f %10s\n", n, m, sd, m/b, t/1e6/m, sz}'
    done)
  summary+=("=== $name: $nfiles files, uncompressed tar $(awk -v t="$tarsize" 'BEGIN{printf "%.1f", t/1e6}') MB, $runs runs"$'\n'"$table")
done

echo
echo "################ summary ################"
for s in "${summary[@]}"; do echo "$s"; echo; done
