#!/usr/bin/env bash
# tests/bazel/perf.sh: what a one-layer change costs next to a 1 GiB layer.
#
#   bash tests/bazel/perf.sh [SIZE_MIB]      (default 1024)
#
# Builds, in a throw-away workspace outside the repository, an image with one SIZE_MIB layer
# (random bytes, generated here, reached through a new_local_repository) and one small layer;
# then changes only the small layer's source and times the rebuild of the image's metadata
# (layer + image actions) and of its OCI layout, against `sha256sum` of the big blob once.
# Also reports whether the layout's big blob is a hard link of the layer blob. Prints figures;
# asserts nothing about time (machines differ), only that no blob was copied.
#
# Knobs: BAZEL, BAZEL_TEST_ROOT (default /tmp/rules_imagewriter-bazel), KEEP=1, BAZEL_FLAGS
# (more build flags, e.g. --strategy=ImageWriterOutput=linux-sandbox to see the copy that
# sandbox forces: the hard-link check then fails).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
export PATH=$PATH:/usr/local/go/bin
BAZEL=${BAZEL:-bazel}
size=${1:-1024}

root=${BAZEL_TEST_ROOT:-/tmp/rules_imagewriter-bazel}
mkdir -p "$root"
work=$(mktemp -d "$root/perf.XXXXXX")
ws=$work/ws
ob=$work/ob
cleanup() {
  if [[ -z ${KEEP:-} ]]; then
    "$BAZEL" --output_base="$ob" shutdown >/dev/null 2>&1 || true
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  else
    echo "perf: kept $work" >&2
  fi
}
trap cleanup EXIT

mkdir -p "$ws" "$work/bigdata"
echo "perf: generating $size MiB of random bytes" >&2
head -c "$((size * 1024 * 1024))" /dev/urandom >"$work/bigdata/big.bin"
echo 'exports_files(["big.bin"])' >"$work/bigdata/BUILD.bazel"
cp "$here/.bazelrc" "$ws/.bazelrc"
cat >"$ws/WORKSPACE" <<EOF
workspace(name = "perf")

local_repository(name = "rules_cc", path = "$here/third_party/rules_cc")

local_repository(name = "rules_java", path = "$here/third_party/rules_java")

local_repository(name = "remote_coverage_tools", path = "$here/third_party/remote_coverage_tools")

local_repository(name = "rules_imagewriter", path = "$repo")

new_local_repository(name = "bigdata", path = "$work/bigdata", build_file = "$work/bigdata/BUILD.bazel")

load("@rules_imagewriter//rules:repositories.bzl", "rules_imagewriter_dependencies", "rules_imagewriter_register_toolchains")

rules_imagewriter_dependencies()

rules_imagewriter_register_toolchains()
EOF
echo "small 0" >"$ws/small.txt"
cat >"$ws/BUILD.bazel" <<'EOF'
load("@rules_imagewriter//rules:defs.bzl", "image", "image_layer")

image_layer(
    name = "big",
    srcs = {"@bigdata//:big.bin": "/data/big.bin"},
)

image_layer(
    name = "small",
    srcs = {"small.txt": "/small.txt"},
)

image(
    name = "image",
    layers = [":big", ":small"],
)
EOF

read -r -a extra <<<"${BAZEL_FLAGS:-}"
bz() { (cd "$ws" && "$BAZEL" --output_base="$ob" "$@"); }
secs() { python3 -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2" 2>/dev/null ||
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }
now() { date +%s.%N; }
processes() { grep -E '^INFO: [0-9]+ process' "$1" | tail -1 | sed 's/^INFO: //'; }

t0=$(now)
bz build --symlink_prefix=/ "${extra[@]}" //:image >"$work/cold.log" 2>&1 || {
  tail -30 "$work/cold.log" >&2
  exit 1
}
t1=$(now)
echo "cold build (server start, imagewriter build, hashing and compressing $size MiB): $(secs "$t0" "$t1") s" >&2
bin=$(bz info --symlink_prefix=/ bazel-bin 2>/dev/null)

t0=$(now)
sha256sum "$bin/big.tar.gz" >/dev/null
t1=$(now)
hash=$(secs "$t0" "$t1")
echo "sha256sum of the big layer blob ($(stat -c %s "$bin/big.tar.gz") bytes), once: $hash s" >&2

for i in 1 2 3; do
  echo "small $i" >"$ws/small.txt"
  t0=$(now)
  bz build --symlink_prefix=/ "${extra[@]}" --output_groups=metadata //:image >"$work/meta-$i.log" 2>&1
  t1=$(now)
  echo "small layer changed, rebuild of the image metadata (layer + image actions): $(secs "$t0" "$t1") s ($(processes "$work/meta-$i.log"))" >&2
done
for i in 4 5 6; do
  echo "small $i" >"$ws/small.txt"
  t0=$(now)
  bz build --symlink_prefix=/ "${extra[@]}" //:image >"$work/layout-$i.log" 2>&1
  t1=$(now)
  echo "small layer changed, rebuild of the OCI layout (layer + image + output actions): $(secs "$t0" "$t1") s ($(processes "$work/layout-$i.log"))" >&2
done

digest=$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$bin/big.layer.json" | grep -o '[0-9a-f]\{64\}')
if [[ $(stat -c %i "$bin/big.tar.gz") == $(stat -c %i "$bin/image/blobs/sha256/$digest") ]]; then
  echo "layout blob ${digest:0:12}… is a hard link of big.tar.gz (inode $(stat -c %i "$bin/big.tar.gz"), $(stat -c %h "$bin/big.tar.gz") links)" >&2
else
  echo "perf: FAIL: the layout holds a copy of the big blob, not a hard link" >&2
  exit 1
fi
