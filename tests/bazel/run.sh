#!/usr/bin/env bash
# tests/bazel/run.sh: the real-Bazel tests of rules_imagewriter (Debian's Bazel 4.2.3,
# WORKSPACE mode, offline). README.md beside this file lists what each step proves.
#
#   bash tests/bazel/run.sh
#
# The checkout is copied twice, to two paths of different lengths (A and B), each built with
# its own output base and server; both share one fresh --disk_cache.
#
#   A  bazel build //... && bazel test //...; then, on A's outputs: umoci unpack of the app
#      image, each platform's binary in the index, `imagewriter build` gives the same layouts,
#      hard-linked blobs, image_test's failure messages, bad input, image_load into a
#      throw-away podman store and podman run.
#   B  bazel build //...: every action served by the disk cache, and every output byte-equal
#      to A's; then one source file changed: only its layer and the actions above it re-run.
#   A  last, a --stamp build: placeholders filled from the workspace status.
#
# Knobs:
#   BAZEL            the bazel command (default: bazel on PATH)
#   BAZEL_TEST_ROOT  where the copies, output bases and the cache live (default
#                    /tmp/rules_imagewriter-bazel); each run uses a fresh directory in it
#   KEEP=1           keep that directory (and leave the servers running) for a look
# Needs: bazel, go (PATH or /usr/local/go/bin), umoci and podman with runc (PATH or
# $(go env GOPATH)/bin). A missing checker is a failure, not a skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
export PATH=$PATH:/usr/local/go/bin
PATH=$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin

BAZEL=${BAZEL:-bazel}
for tool in "$BAZEL" go umoci podman runc awk od; do
  command -v "$tool" >/dev/null || {
    echo "tests/bazel: $tool is not on PATH (see tests/bazel/README.md)" >&2
    exit 1
  }
done

root=${BAZEL_TEST_ROOT:-/tmp/rules_imagewriter-bazel}
mkdir -p "$root"
work=$(mktemp -d "$root/run.XXXXXX")
a=$work/a/rules_imagewriter
b=$work/copy-b/somewhere/else/rules_imagewriter
cache=$work/disk-cache
started=()

failures=0
pass() { echo "PASS: $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
step() { echo "=== $*" >&2; }

cleanup() {
  local ob
  if [[ -z ${KEEP:-} ]]; then
    for ob in "${started[@]}"; do
      "$BAZEL" --output_base="$ob" shutdown >/dev/null 2>&1 || true
    done
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  else
    echo "tests/bazel: kept $work" >&2
  fi
}
trap cleanup EXIT

# copy DEST: the checkout without .git and build outputs.
copy() {
  mkdir -p "$1"
  tar -C "$repo" --exclude=./.git --exclude=./out --exclude=./bin --exclude='./bazel-*' \
    --exclude='./tests/bazel/bazel-*' -cf - . | tar -C "$1" -xf -
}

# bz COPY ARGS...: bazel in COPY's tests/bazel with COPY's output base.
bz() {
  local copy=$1
  shift
  (cd "$copy/tests/bazel" && "$BAZEL" --output_base="$copy.ob" "$@")
}

common=(--symlink_prefix=/ --disk_cache="$cache")

# processes LOG: the "INFO: N processes: ..." line of a bazel log.
processes() { grep -E '^INFO: [0-9]+ process' "$1" | tail -1; }

# executed EXECLOG: "MNEMONIC COUNT" for every spawn that ran (no cache hit), sorted.
executed() {
  awk '/"mnemonic":/ { m = $2; gsub(/[",]/, "", m) }
       /"remoteCacheHit": false/ { n[m]++ }
       END { for (k in n) print k, n[k] }' "$1" | LC_ALL=C sort
}

# must_fail NAME PATTERN ARGS...: bazel build ARGS in A fails, and its output has PATTERN.
must_fail() {
  local name=$1 pattern=$2 log
  shift 2
  log=$work/fail-$name.log
  if bz "$a" build "${common[@]}" "$@" >"$log" 2>&1; then
    fail "bad input $name: the build succeeded"
  elif grep -qF -- "$pattern" "$log"; then
    pass "bad input $name: $(grep -F -- "$pattern" "$log" | head -1 | cut -c1-200)"
  else
    fail "bad input $name: no '$pattern' in the output:"
    tail -20 "$log" >&2
  fi
}

echo "tests/bazel: $("$BAZEL" --version 2>/dev/null || echo bazel), work directory $work" >&2
copy "$a"
copy "$b"
started+=("$a.ob" "$b.ob")

step "A: bazel build //... (cold, empty disk cache)"
t0=$(date +%s)
bz "$a" build "${common[@]}" --execution_log_json_file="$work/a-build.json" //... 2>&1 | tee "$work/a-build.log" >&2
t1=$(date +%s)
echo "A cold build: $((t1 - t0)) s; $(processes "$work/a-build.log")" >&2

step "A: bazel test //..."
bz "$a" test "${common[@]}" //... 2>&1 | tee "$work/a-test.log" >&2
pass "bazel test //... ($(grep -cE 'PASSED' "$work/a-test.log") tests passed)"

t0=$(date +%s)
bz "$a" build "${common[@]}" //... >"$work/a-warm.log" 2>&1
t1=$(date +%s)
echo "A warm no-op build: $((t1 - t0)) s; $(processes "$work/a-warm.log")" >&2

bin_a=$(bz "$a" info "${common[@]}" bazel-bin 2>/dev/null)
ob_a_ext=$a.ob/external
iw=$ob_a_ext/imagewriter_host_toolchain/imagewriter
[[ -x $iw ]] || {
  echo "tests/bazel: no imagewriter at $iw" >&2
  exit 1
}

step "umoci unpack of //app:app: the expected tree, the whiteout applied"
bundle=$work/umoci-bundle
if umoci unpack --rootless --image "$bin_a/app/app:latest" "$bundle" >"$work/umoci.log" 2>&1; then
  rootfs=$bundle/rootfs
  ok=1
  for f in etc/keep.conf etc/app/config.toml srv/hello.txt srv/static/a.txt srv/static/sub/b.txt \
    usr/bin/greet usr/bin/greet.runfiles/rules_imagewriter_tests/app/data/greeting.txt \
    share/doc/greeting.txt; do
    [[ -f $rootfs/$f ]] || {
      fail "umoci: $f missing"
      ok=
    }
  done
  [[ ! -e $rootfs/etc/old.conf ]] || {
    fail "umoci: etc/old.conf present (the whiteout was not applied)"
    ok=
  }
  [[ -d $rootfs/opt/legacy && ! -e $rootfs/opt/legacy/greeting.txt ]] || {
    fail "umoci: opt/legacy is not an empty directory (the opaque marker was not applied)"
    ok=
  }
  [[ $(readlink "$rootfs/usr/bin/hi") == greet ]] || {
    fail "umoci: usr/bin/hi is not a symlink to greet"
    ok=
  }
  [[ $(stat -c %a "$rootfs/etc/app/config.toml") == 600 && $(stat -c %a "$rootfs/tmp") == 1777 ]] || {
    fail "umoci: modes: config.toml $(stat -c %a "$rootfs/etc/app/config.toml"), tmp $(stat -c %a "$rootfs/tmp")"
    ok=
  }
  [[ $(cat "$rootfs/srv/hello.txt") == "hello from a Bazel-built image" ]] || {
    fail "umoci: srv/hello.txt has other content"
    ok=
  }
  [[ -n $ok ]] && pass "umoci unpack --rootless: $(find "$rootfs" | wc -l) paths, as expected"
else
  fail "umoci unpack failed:"
  cat "$work/umoci.log" >&2
fi

step "//multiarch:hello_index: each platform's layer holds that platform's binary"
for pair in amd64:62 arm64:183; do
  arch=${pair%%:*} machine=${pair#*:}
  dir=$work/unpack-$arch
  "$iw" unpack --platform "linux/$arch" "$bin_a/multiarch/hello_index" "$dir" >/dev/null
  # ELF e_machine: 62 is x86-64, 183 is AArch64.
  got=$(od -An -tu2 -j18 -N2 "$dir/hello" | tr -d ' ')
  if [[ $got == "$machine" ]]; then
    pass "linux/$arch image: /hello is an ELF for e_machine $got"
  else
    fail "linux/$arch image: /hello has e_machine $got, want $machine"
  fi
done

step "imagewriter build gives the same bytes as the rules"
"$iw" build -f "$a/tests/bazel/equivalence/spec.json" -o "$work/eq-build" >/dev/null
if diff -r "$work/eq-build" "$bin_a/equivalence/eq" >&2; then
  pass "//equivalence:eq == imagewriter build -f equivalence/spec.json ($(cut -c1-80 "$work/eq-build/index.json"))"
else
  fail "//equivalence:eq differs from imagewriter build"
fi
# The index: a spec whose per-platform sources are the binaries the rules built.
cat >"$work/index-spec.json" <<EOF
{
  "platforms": ["linux/amd64", "linux/arm64"],
  "config": {"entrypoint": ["/hello"]},
  "layers": [{"entries": [{"type": "file", "path": "/hello",
    "sources": {"linux/amd64": "unpack-amd64/hello", "linux/arm64": "unpack-arm64/hello"}}]}]
}
EOF
"$iw" build -f "$work/index-spec.json" --tag hello:multiarch -o "$work/index-build" >/dev/null
if diff -r "$work/index-build" "$bin_a/multiarch/hello_index" >&2; then
  pass "//multiarch:hello_index == imagewriter build of the same binaries ($(grep -o 'sha256:[0-9a-f]*' "$work/index-build/index.json" | head -1))"
else
  fail "//multiarch:hello_index differs from imagewriter build"
fi

step "layouts hard-link layer blobs (ImageWriterOutput runs in the processwrapper sandbox)"
digest=$(grep -o '"digest": *"sha256:[0-9a-f]*"' "$bin_a/app/app_files.layer.json" | grep -o '[0-9a-f]\{64\}')
inode_layer=$(stat -c %i "$bin_a/app/app_files.tar.gz")
inode_layout=$(stat -c %i "$bin_a/app/app/blobs/sha256/$digest")
if [[ $inode_layer == "$inode_layout" ]]; then
  pass "app/app/blobs/sha256/${digest:0:12}… is app_files.tar.gz (inode $inode_layer)"
else
  fail "app layout copied the layer blob: inode $inode_layout, the blob's $inode_layer"
fi
if find "$bin_a" -path '*/blobs/*' -type l | grep -q .; then
  fail "a layout holds symlinks: $(find "$bin_a" -path '*/blobs/*' -type l | head -3)"
else
  pass "no layout holds a symlink"
fi

step "image_test reports what differed"
if bz "$a" test "${common[@]}" //app:mismatch_test >"$work/mismatch.log" 2>&1; then
  fail "//app:mismatch_test passed"
else
  for want in 'expect_files["etc/old.conf"]: absent, want present' \
    'expect_files["srv/hello.txt"]: mode is 0644, want 0755' \
    'expect_files["srv/hello.txt"]: owner is 0:0, want 1:1' \
    'expect_config[/config/User]: is "1000:1000", want "root"'; do
    if grep -qF -- "$want" "$work/mismatch.log"; then
      pass "mismatch_test says: $want"
    else
      fail "mismatch_test does not say: $want"
    fi
  done
fi

step "bad input"
must_fail escape 'srcs: destination "/usr/../../etc/passwd" climbs out of the image root' //failing/escape:layer
must_fail duplicate 'two sources for one destination /etc/app.conf: srcs[//failing/duplicate:a.txt] and srcs[//failing/duplicate:b.txt]' //failing/duplicate:layer
must_fail compression 'compression: "brotli" is not one of gzip, zstd, none' //failing/compression:layer
must_fail compression_flag '@rules_imagewriter//rules:compression: "brotli" is not one of: gzip, zstd, none' \
  --@rules_imagewriter//rules:compression=brotli //failing/compression:default_layer
must_fail noplatform 'the target platform //failing/noplatform:bare has no @platforms//os constraint' \
  --platforms=//failing/noplatform:bare //failing/noplatform:image
must_fail base_layer 'base: //failing/base_layer:layer is an image_layer, not an image' //failing/base_layer:image
must_fail base_file 'Writing image config and manifest for //failing/base_file:image (base = //failing/base_file:notimage.txt) failed' //failing/base_file:image

step "bazel run //multiarch:hello_load into a throw-away podman store, then podman run"
store=$(mktemp -d /tmp/pmXXXX)
pflags=(--root "$store/root" --runroot "$store/run" --tmpdir "$store/tmp" --storage-driver vfs
  --cgroup-manager cgroupfs --runtime runc)
if bz "$a" run "${common[@]}" //multiarch:hello_load -- "${pflags[@]}" >"$work/load.log" 2>&1; then
  out=$(podman "${pflags[@]}" run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    localhost/hello:second 2>&1 || true)
  if [[ $out == "hello from linux/amd64" ]]; then
    pass "podman run localhost/hello:second: $out"
  else
    fail "podman run localhost/hello:second printed: $out"
  fi
else
  fail "bazel run //multiarch:hello_load failed:"
  tail -20 "$work/load.log" >&2
fi
podman "${pflags[@]}" system reset -f >/dev/null 2>&1 || true
rm -rf "$store"

step "B: bazel build //... in a second copy at another path, another output base, the same disk cache"
t0=$(date +%s)
bz "$b" build "${common[@]}" --execution_log_json_file="$work/b-build.json" //... 2>&1 | tee "$work/b-build.log" >&2
t1=$(date +%s)
line=$(processes "$work/b-build.log")
echo "B build from the disk cache: $((t1 - t0)) s; $line" >&2
ran=$(executed "$work/b-build.json")
if [[ -z $ran ]] && ! grep -qE 'linux-sandbox|processwrapper-sandbox|local' <<<"$line"; then
  pass "B: every action a cache hit ($line)"
else
  fail "B: actions executed instead of coming from the disk cache: ${ran:-see} ($line)"
fi

bin_b=$(bz "$b" info "${common[@]}" bazel-bin 2>/dev/null)
compared=0
differ=0
while IFS= read -r rel; do
  if ! diff -r "$bin_a/$rel" "$bin_b/$rel" >/dev/null; then
    fail "A and B differ in $rel"
    differ=$((differ + 1))
  fi
  compared=$((compared + 1))
done < <(cd "$bin_a" && find . \( -name '*.layer.json' -o -name '*.metadata.json' -o -name 'oci-layout' \
  -o -name '*.tar' -o -name '*.tar.gz' -o -name '*.tar.zst' \) -not -path './*.runfiles/*' |
  sed -e 's|/oci-layout$||' | LC_ALL=C sort)
if ((compared > 20 && differ == 0)); then
  pass "A and B: $compared layouts, archives, blobs and metadata files byte-identical"
else
  fail "A and B: only $compared outputs compared"
fi

step "B: a change to one layer's source re-runs that layer and the actions above it, nothing else"
echo "changed" >>"$b/tests/bazel/app/data/hello.txt"
bz "$b" build "${common[@]}" --execution_log_json_file="$work/b-change.json" //... >"$work/b-change.log" 2>&1
ran=$(executed "$work/b-change.json" | tr '\n' ' ')
want="ImageWriterImage 1 ImageWriterLayer 1 ImageWriterOutput 1 "
if [[ $ran == "$want" ]]; then
  pass "after editing app/data/hello.txt: executed $ran($(processes "$work/b-change.log"))"
else
  fail "after editing app/data/hello.txt: executed '$ran', want '$want'"
fi

step "A: stamping: --stamp fills {KEY} placeholders (last: it rewrites A's stamp outputs)"
status=$work/status.sh
printf '#!/bin/sh\necho STABLE_GIT_COMMIT c0ffee\necho BUILD_USER tester\n' >"$status"
chmod +x "$status"
bz "$a" build "${common[@]}" --stamp --workspace_status_command="$status" --output_groups=+metadata \
  //stamp:stamped //stamp:stamped_load >"$work/stamp.log" 2>&1 || {
  fail "stamped build failed"
  tail -20 "$work/stamp.log" >&2
}
for check in "stamped.config.json:\"org.example.commit\":\"c0ffee\"" \
  "stamped.manifest.json:\"org.example.built-by\":\"tester\"" \
  "stamped/index.json:\"org.opencontainers.image.ref.name\":\"c0ffee\"" \
  "stamped_load.tags.txt:stamped:c0ffee"; do
  file=${check%%:*} want=${check#*:}
  if grep -qF -- "$want" "$bin_a/stamp/$file"; then
    pass "--stamp: $file has $want"
  else
    fail "--stamp: $file lacks $want: $(cat "$bin_a/stamp/$file")"
  fi
done
if grep -q '"created":"1970-01-01T00:00:00Z"' "$bin_a/stamp/stamped.config.json"; then
  fail "--stamp: created is still the epoch"
else
  pass "--stamp: created is the build's time ($(grep -o '"created":"[^"]*"' "$bin_a/stamp/stamped.config.json" | head -1))"
fi

bash "$a/tests/bazel/push_test.sh" "$a/tests/bazel" "$a.ob" "${common[@]}" || fail "push_test.sh: image_push, imagewriter_pull, image_reproducibility_test against a loopback registry (its FAILs above)"

if ((failures)); then
  echo "tests/bazel: $failures failures" >&2
  exit 1
fi
echo "tests/bazel: ok" >&2
