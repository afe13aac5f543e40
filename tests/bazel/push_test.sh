#!/usr/bin/env bash
# tests/bazel/push_test.sh: image_push, imagewriter_pull and image_reproducibility_test's
# failure, with the real Bazel against a loopback registry (the distribution registry, started
# here on 127.0.0.1 and stopped by its PID on exit).
#
#   push_test.sh WORKSPACE OUTPUT_BASE [BAZEL_FLAGS...]
#
# WORKSPACE is a tests/bazel directory that OUTPUT_BASE has built (run.sh calls this last, on
# its copy A, with its flags). Steps:
#   1. bazel run --stamp //push:push_app -- --tag extra: the repository and a tag come from the
#      workspace status; stdout names every tag with the digest the build computed; crane
#      agrees; `imagewriter pull` gets back the manifest, config and layer byte for byte.
#   2. bazel run --stamp //push:push_multi: a two-platform index, pulled back byte-identical to
#      the index's layout; crane validate --remote passes.
#   3. imagewriter_pull: the index pushed with the CLI to pull/base, then pulled shallow by the
#      WORKSPACE's imagewriter_pull repositories (--repo_env gives them the registry and the
#      digest); images built on them pass image_test (layers fetched by the output actions),
#      and pushing them to the same registry mounts the base layers, downloaded by nobody.
#   4. //repro:leaky_reproducibility_test fails, naming the leaked mode and mtime.
#   5. imagewriter_pull fails on a digest that is not one (`latest`), and on one the registry
#      lacks.
# Needs bazel, registry and crane (PATH or $(go env GOPATH)/bin), curl. A missing tool is a
# failure, not a skip.
set -euo pipefail

ws=${1:?usage: push_test.sh WORKSPACE OUTPUT_BASE [BAZEL_FLAGS...]}
ob=${2:?usage: push_test.sh WORKSPACE OUTPUT_BASE [BAZEL_FLAGS...]}
shift 2
flags=("$@")

export PATH=$PATH:/usr/local/go/bin
PATH=$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin
BAZEL=${BAZEL:-bazel}
for tool in "$BAZEL" registry crane curl sha256sum cmp; do
  command -v "$tool" >/dev/null || {
    echo "push_test.sh: $tool is not on PATH (registry and crane: see tests/bazel/README.md)" >&2
    exit 1
  }
done

failures=0
pass() { echo "PASS: $*" >&2; }
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
step() { echo "=== push_test.sh ($(($(date +%s) - t_start)) s): $*" >&2; }
bz() { (cd "$ws" && "$BAZEL" --output_base="$ob" "$@"); }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

t_start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/push_test.XXXXXX")
registry_sh=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/registry.sh
cleanup() {
  bash "$registry_sh" stop "$work/registry" || true
  rm -rf "$work"
}
trap cleanup EXIT

# A fresh registry: plain HTTP on a free loopback port.
read -r addr registry_pid < <(bash "$registry_sh" start "$work/registry")
[[ -n $addr ]] || exit 1
echo "push_test.sh: registry at $addr (pid $registry_pid)" >&2

tag=stamped-$$
status=$work/status.sh
printf '#!/bin/sh\necho STABLE_IMAGEWRITER_TEST_REGISTRY %s\necho STABLE_IMAGEWRITER_TEST_TAG %s\n' "$addr" "$tag" >"$status"
chmod +x "$status"
stamp=(--stamp --workspace_status_command="$status")

step "build //push:app and //push:multi with their metadata"
bz build "${flags[@]}" "${stamp[@]}" --output_groups=+metadata //push:app //push:multi >"$work/build.log" 2>&1 || {
  tail -30 "$work/build.log" >&2
  exit 1
}
bin=$(bz info "${flags[@]}" bazel-bin 2>/dev/null)
testlogs=$(bz info "${flags[@]}" bazel-testlogs 2>/dev/null)
iw=$ob/external/imagewriter_host_toolchain/imagewriter
app_digest=$(sha "$bin/push/app.manifest.json")
multi_digest=$(sha "$bin/push/multi.index.json")
layer_digest=$(sha "$bin/push/app_layer.tar.gz")
# From here on every command passes the same flags, so that Bazel keeps its analysis.
repo_env=(--repo_env=IMAGEWRITER_TEST_REGISTRY="$addr" --repo_env=IMAGEWRITER_TEST_BASE_DIGEST="$multi_digest")
all=("${flags[@]}" "${stamp[@]}" "${repo_env[@]}")

step "bazel run --stamp //push:push_app -- --tag extra"
if bz run "${all[@]}" //push:push_app -- --tag extra >"$work/push_app.out" 2>"$work/push_app.log"; then
  want=$(printf '%s\n' "$addr/push/app:$tag@$app_digest" "$addr/push/app:fixed@$app_digest" "$addr/push/app:extra@$app_digest" | LC_ALL=C sort)
  got=$(LC_ALL=C sort "$work/push_app.out")
  if [[ $got == "$want" ]]; then
    pass "image_push printed the stamped, fixed and extra tags with the built manifest's digest $app_digest"
  else
    fail "image_push printed:"$'\n'"$got"$'\n'"want:"$'\n'"$want"
  fi
  for t in "$tag" fixed extra; do
    d=$(crane digest "$addr/push/app:$t" 2>&1) || true
    [[ $d == "$app_digest" ]] || fail "crane digest $addr/push/app:$t: $d, want $app_digest"
  done
  pass "crane digest: the three tags point at $app_digest"
  if "$iw" pull "$addr/push/app:$tag" -o "$work/pulled-app" >"$work/pull-app.out" 2>"$work/pull-app.log" &&
    [[ $(cat "$work/pull-app.out") == "$addr/push/app@$app_digest" ]]; then
    same=1
    for pair in "app.manifest.json:$app_digest" "app.config.json:$(sha "$bin/push/app.config.json")" \
      "app_layer.tar.gz:$layer_digest"; do
      file=${pair%%:*} digest=${pair#*:}
      cmp -s "$bin/push/$file" "$work/pulled-app/blobs/sha256/${digest#sha256:}" || {
        fail "pulled back: the blob of $file differs from the build's"
        same=
      }
    done
    [[ -z $same ]] || pass "imagewriter pull: manifest, config and layer byte-identical to the build's"
  else
    fail "imagewriter pull $addr/push/app:$tag: $(cat "$work/pull-app.out" "$work/pull-app.log")"
  fi
else
  fail "bazel run //push:push_app failed:"
  tail -30 "$work/push_app.log" >&2
fi

step "bazel run --stamp //push:push_multi"
if bz run "${all[@]}" //push:push_multi >"$work/push_multi.out" 2>"$work/push_multi.log"; then
  if [[ $(cat "$work/push_multi.out") == "$addr/push/multi:v1@$multi_digest" ]]; then
    pass "image_push of the index printed $addr/push/multi:v1@$multi_digest"
  else
    fail "image_push of the index printed '$(cat "$work/push_multi.out")', want $addr/push/multi:v1@$multi_digest"
  fi
  if crane validate --remote "$addr/push/multi:v1" >"$work/validate.log" 2>&1; then
    pass "crane validate --remote $addr/push/multi:v1"
  else
    fail "crane validate --remote: $(cat "$work/validate.log")"
  fi
  if "$iw" pull "$addr/push/multi@$multi_digest" -o "$work/pulled-multi" >/dev/null 2>"$work/pull-multi.log" &&
    diff -r "$bin/push/multi/blobs" "$work/pulled-multi/blobs" >&2; then
    pass "imagewriter pull: every blob of the index byte-identical to //push:multi's layout"
  else
    fail "the pulled index differs from //push:multi's layout: $(cat "$work/pull-multi.log")"
  fi
else
  fail "bazel run //push:push_multi failed:"
  tail -30 "$work/push_multi.log" >&2
fi

step "imagewriter_pull: the index pushed with the CLI, pulled shallow by the WORKSPACE"
pushed=$("$iw" push "$bin/push/multi" "$addr/pull/base:v1" 2>"$work/push-base.log") || true
if [[ $pushed == "$addr/pull/base:v1@$multi_digest" ]]; then
  # Only the metadata: no output action runs, so nothing but the push reads base layers.
  if bz build "${all[@]}" --output_groups=metadata //push:on_pulled //push:on_pulled_index >"$work/pulled-build.log" 2>&1; then
    missing=1
    for dir in imagewriter_test_pulled/layout imagewriter_test_pulled_platforms/linux_amd64 \
      imagewriter_test_pulled_platforms/linux_arm64; do
      if [[ ! -f $ob/external/$dir/index.json ]]; then
        fail "imagewriter_pull: no layout at external/$dir"
        missing=
      elif [[ -e $ob/external/$dir/blobs/sha256/${layer_digest#sha256:} ]]; then
        fail "imagewriter_pull: the shallow layout external/$dir holds the layer blob"
        missing=
      fi
    done
    [[ -z $missing ]] || pass "imagewriter_pull: three shallow layouts (the index; linux/amd64 and linux/arm64), no layer downloaded"
    if grep -qF "$addr/pull/base@$multi_digest" "$ob/external/imagewriter_test_pulled/digests.txt"; then
      pass "imagewriter_pull: digests.txt pins $addr/pull/base@$multi_digest"
    else
      fail "imagewriter_pull: digests.txt: $(cat "$ob/external/imagewriter_test_pulled/digests.txt")"
    fi
    derived_digest=$(sha "$bin/push/on_pulled_index.index.json")
    if bz run "${all[@]}" //push:push_on_pulled >"$work/push_derived.out" 2>"$work/push_derived.log"; then
      if [[ $(cat "$work/push_derived.out") == "$addr/push/derived:v1@$derived_digest" ]]; then
        pass "image_push of an index on pulled bases printed $addr/push/derived:v1@$derived_digest"
      else
        fail "image_push on pulled bases printed '$(cat "$work/push_derived.out")', want $addr/push/derived:v1@$derived_digest"
      fi
      if grep -q "^mounted $layer_digest .* from pull/base" "$work/push_derived.log" &&
        ! grep -q "^pushed $layer_digest" "$work/push_derived.log"; then
        pass "the base layer $layer_digest was mounted from pull/base, not uploaded"
      else
        fail "the base layer was not mounted:"
        cat "$work/push_derived.log" >&2
      fi
    else
      fail "bazel run //push:push_on_pulled failed:"
      tail -30 "$work/push_derived.log" >&2
    fi
    if bz test "${all[@]}" //push:on_pulled_test //push:on_pulled_index_amd64_test //push:on_pulled_index_arm64_test \
      >"$work/pulled-test.log" 2>&1; then
      pass "image_test on pulled bases: the image and both platforms of the index hold the base's and their own files"
    else
      fail "image_test on pulled bases failed:"
      tail -40 "$work/pulled-test.log" >&2
    fi
  else
    fail "building on the pulled bases failed:"
    tail -30 "$work/pulled-build.log" >&2
  fi
else
  fail "imagewriter push of //push:multi to $addr/pull/base:v1 printed '$pushed', want $addr/pull/base:v1@$multi_digest"
  cat "$work/push-base.log" >&2
fi

step "//repro:leaky_reproducibility_test fails, and says why"
set +e
bz test "${all[@]}" //repro:leaky_reproducibility_test >"$work/leaky.log" 2>&1
code=$?
set -e
log=$testlogs/repro/leaky_reproducibility_test/test.log
if [[ $code -ne 3 ]]; then
  fail "bazel test //repro:leaky_reproducibility_test: exit status $code, want 3 (a test failed)"
  tail -30 "$work/leaky.log" >&2
elif grep -q "NOT reproducible (exit status 1): //repro:leak_layer" "$log" &&
  grep -q "leak/sub/file.txt: mode: 0555 → 0500" "$log" &&
  grep -q "leak/sub/file.txt: mtime: .* → 1970-01-01T00:00:00Z" "$log" &&
  grep -q "matches the build: layer-0-base_layer" "$log"; then
  pass "leaky_reproducibility_test fails on //repro:leak_layer (mode 0555 → 0500, mtime → 1970), and base_layer passes"
else
  fail "leaky_reproducibility_test failed without the expected explanation:"
  cat "$log" >&2
fi

step "imagewriter_pull refuses a digest that is not one, and fails on one the registry lacks"
zero=sha256:$(printf '%064d' 0)
for pair in "latest|digest: \"latest\" is not a digest" "$zero|resolve $zero: not found"; do
  bad=${pair%%|*} want=${pair#*|}
  if bz build "${flags[@]}" "${stamp[@]}" --repo_env=IMAGEWRITER_TEST_REGISTRY="$addr" \
    --repo_env=IMAGEWRITER_TEST_BASE_DIGEST="$bad" --output_groups=metadata //push:on_pulled >"$work/bad.log" 2>&1; then
    fail "imagewriter_pull with digest $bad: the build succeeded"
  elif grep -q "Error in fail: imagewriter_pull imagewriter_test_pulled: " "$work/bad.log" &&
    grep -qF -- "$want" "$work/bad.log"; then
    pass "imagewriter_pull with digest $bad: fails with '$want'"
  else
    fail "imagewriter_pull with digest $bad: no '$want' in:"
    tail -20 "$work/bad.log" >&2
  fi
done

echo "push_test.sh: $(($(date +%s) - t_start)) s" >&2
if ((failures)); then
  echo "push_test.sh: $failures failures" >&2
  exit 1
fi
echo "push_test.sh: ok" >&2
