#!/usr/bin/env bash
# push.sh: time `imagewriter push` against `crane push` of the same OCI
# layout to a loopback distribution registry, in one run, and report wall
# time, the ratio and peak memory (RSS).
#
#   bench/push.sh IMAGEWRITER [WORK_DIR]
#
# The image is 3 uncompressed layers of incompressible data, SIZE_MIB in all
# (default 1024), built once with `imagewriter build`. Every timed push goes
# to a fresh registry (its own state directory, started before and stopped
# by PID after), so no blob is already there. Runs alternate between the two
# tools. Times come from /usr/bin/time -v (wall clock, the client's user+sys
# CPU time and maximum resident set size) when it is installed; otherwise wall time from bash and peak RSS
# from /proc/PID/status (VmHWM), sampled.
#
# The registry runs on the same machine and disk, so wall times move with
# whatever else the machine does; the client's CPU time is steadier. Compare
# the min and the mean, and run it on a quiet machine.
#
# Knobs (environment): RUNS=3 SIZE_MIB=1024 BENCH_KEEP=1 (keep WORK_DIR).
set -euo pipefail
export PATH=$(PATH=/usr/local/go/bin:$PATH go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH
usage() { echo "usage: $0 IMAGEWRITER [WORK_DIR]" >&2; exit 2; }
(($# >= 1 && $# <= 2)) || usage
iw=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x $iw ]] || { echo "push.sh: $1 is not an executable" >&2; exit 1; }
runs=${RUNS:-3} size_mib=${SIZE_MIB:-1024}
for tool in registry crane curl; do
  command -v "$tool" >/dev/null || { echo "push.sh: $tool not found; run make deps" >&2; exit 1; }
done
if [[ -n ${2:-} ]]; then work=$2; mkdir -p "$work"; else work=$(mktemp -d "${TMPDIR:-/tmp}/bench-push.XXXXXX"); fi
work=$(cd "$work" && pwd)
registry_sh=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/registry.sh
regdir=
cleanup() {
  [[ -z $regdir ]] || bash "$registry_sh" stop "$regdir" || true
  [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# The image: 3 layers of SIZE_MIB/3 MiB each, compression none, so the
# layer blobs are as large as the data.
img=$work/image
if [[ ! -f $img/layout/index.json ]]; then
  mkdir -p "$img"
  per=$((size_mib / 3))
  layers=
  for i in 1 2 3; do
    head -c "$((per * 1024 * 1024))" /dev/urandom > "$img/data$i"
    layers+="${layers:+,}{\"entries\":[{\"type\":\"file\",\"path\":\"/data$i\",\"source\":\"data$i\"}]}"
  done
  printf '{"compression":{"algorithm":"none"},"layers":[%s]}' "$layers" > "$img/spec.json"
  "$iw" build -f "$img/spec.json" -o "$img/layout" >/dev/null
  rm -f "$img"/data?
fi
total=$(du -sb "$img/layout/blobs" | cut -f1)
cat "$img"/layout/blobs/sha256/* > /dev/null # warm the page cache for both tools
sync

# start_registry DIR: a fresh registry on 127.0.0.1 (scripts/registry.sh); sets host.
start_registry() {
  rm -rf "$1"
  regdir=$1
  read -r host _ < <(bash "$registry_sh" start "$1")
  [[ -n $host ]] || exit 1
}
# stop_registry DIR: stops it by PID, removes its blobs and flushes them, so
# that one run's disk writeback does not slow the next.
stop_registry() { bash "$registry_sh" stop "$1"; regdir=; rm -rf "$1"; sync; }

# measure NAME CMD...: runs CMD, appends "NAME wall_s rss_kib" to results.
results=$work/results.txt; : > "$results"
measure() {
  local name=$1; shift
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$work/time.txt" "$@" > "$work/out.txt" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2, p, ":"); s=0; for (i=1; i<=n; i++) s=s*60+p[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$work/time.txt")
    echo "$name $wall $rss $cpu" >> "$results"
  else
    local start end peak=0 pid
    start=$(date +%s.%N)
    "$@" > "$work/out.txt" 2> "$work/err.txt" & pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0); ((v > peak)) && peak=$v
      sleep 0.05
    done
    wait "$pid" || { cat "$work/err.txt" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$name $(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}') $peak -" >> "$results"
  fi
}

echo "=== push of a $(awk -v t="$total" 'BEGIN{printf "%.0f", t/1048576}') MiB, 3-layer image to a fresh loopback registry; $runs runs each, alternating"
for r in $(seq "$runs"); do
  for tool in imagewriter crane; do
    st=$work/reg-$tool-$r
    start_registry "$st"
    case $tool in
      imagewriter) measure imagewriter "$iw" push "$img/layout" "$host/bench:v1" --progress none ;;
      crane) measure crane crane push --insecure "$img/layout" "$host/bench:v1" ;;
    esac
    # The pushed image must be whole.
    crane validate --fast --remote "$host/bench:v1" --insecure > /dev/null
    stop_registry "$st"
    tail -1 "$results" | awk '{printf "  run %s %-12s %7.2f s  client CPU %5s s  peak RSS %6.1f MiB\n", r, $1, $2, $4, $3/1024}' r="$r"
  done
done

echo
awk -v total="$total" '
  { n[$1]++; s[$1]+=$2; c[$1]+=$4; if (!($1 in mn) || $2 < mn[$1]) mn[$1]=$2; if ($3 > rss[$1]) rss[$1]=$3 }
  END {
    printf "%-12s %9s %9s %9s %14s %14s\n", "tool", "mean(s)", "min(s)", "MB/s", "client CPU(s)", "peak RSS(MiB)"
    for (t in n) printf "%-12s %9.2f %9.2f %9.0f %14.2f %14.1f\n", t, s[t]/n[t], mn[t], total/1e6/(s[t]/n[t]), c[t]/n[t], rss[t]/1024
    if (n["crane"] && n["imagewriter"]) {
      printf "imagewriter / crane: mean time %.2fx, min time %.2fx", (s["imagewriter"]/n["imagewriter"])/(s["crane"]/n["crane"]), mn["imagewriter"]/mn["crane"]
      if (c["crane"] > 0) printf ", client CPU %.2fx", c["imagewriter"]/c["crane"]
      printf "  (below 1: imagewriter is faster)\n"
    }
  }' "$results"
