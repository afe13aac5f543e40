#!/usr/bin/env bash
# corpus.sh: build the benchmark corpora, deterministically, under DIR.
#
#   bench/corpus.sh DIR [NAME...]     NAMEs: gotool small tiny (default: gotool small)
#
#   gotool  the files of $(go env GOROOT)/bin and $(go env GOROOT)/pkg/tool
#           (~85 MB in 10 large binaries; identical for one Go release)
#   small   20000 small text files, 300 MiB in all, made by bench/gencorpus from
#           slices of $(go env GOROOT)/src/**/*.go with seed 1
#   tiny    the same generator, 200 files and 2 MiB: for checking the scripts
#
# Each corpus lands in DIR/NAME (written to DIR/NAME.tmp, then renamed) with
# modes set explicitly and every mtime 2020-01-01T00:00:00Z. DIR/NAME.stamp
# records what it was made from; a corpus whose stamp matches is kept as is.
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: $0 DIR [gotool|small|tiny...]}; shift
(($#)) || set -- gotool small
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)

# fix_times DIR: every mtime (symlinks included) to the corpus epoch.
fix_times() { find "$1" -depth -exec touch -h -d 2020-01-01T00:00:00Z {} +; }

build() { # build NAME STAMP COMMAND...: make DIR/NAME with COMMAND (which fills $tmp)
  local name=$1 stamp=$2; shift 2
  local out=$dir/$name tmp=$dir/$name.tmp
  if [[ -d $out && -f $out.stamp && $(cat "$out.stamp") == "$stamp" ]]; then
    echo "corpus: $out is up to date ($(du -sh "$out" | cut -f1))"
    return
  fi
  rm -rf "$out" "$out.stamp" "$tmp"
  echo "corpus: building $out"
  tmp=$tmp "$@"
  fix_times "$tmp"
  mv "$tmp" "$out"
  echo "$stamp" > "$out.stamp"
  echo "corpus: $out: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
}

gotool() {
  mkdir -p "$tmp/bin" "$tmp/pkg"
  cp -R --no-preserve=ownership,timestamps "$goroot/bin/." "$tmp/bin/"
  cp -R --no-preserve=ownership,timestamps "$goroot/pkg/tool" "$tmp/pkg/tool"
  find "$tmp" -type d -exec chmod 0755 {} +
  find "$tmp" -type f -exec chmod 0755 {} +
}

generated() { # generated FILES BYTES
  go run "$here/gencorpus" -out "$tmp" -files "$1" -bytes "$2" -seed 1 -src "$goroot/src"
}

for name in "$@"; do
  case $name in
    gotool) build gotool "gotool $gover $goroot" gotool ;;
    small)  build small "gencorpus files=20000 bytes=314572800 seed=1 $gover" generated 20000 314572800 ;;
    tiny)   build tiny "gencorpus files=200 bytes=2097152 seed=1 $gover" generated 200 2097152 ;;
    *) echo "corpus: unknown corpus $name (want gotool, small or tiny)" >&2; exit 2 ;;
  esac
done
