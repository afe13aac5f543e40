"""`test_registry`: the loopback registry push_test.sh started, for the WORKSPACE to pull from.

push_test.sh passes `--repo_env=IMAGEWRITER_TEST_REGISTRY=127.0.0.1:PORT` and
`--repo_env=IMAGEWRITER_TEST_BASE_DIGEST=sha256:…` (the index it pushed there with the CLI);
`@<name>//:registry.bzl` holds them as `REGISTRY` and `BASE_DIGEST`. Without them (every other
bazel command of run.sh) the values are placeholders, and the `imagewriter_pull` repositories
declared with them are never fetched: only targets tagged `manual` use them.
"""

_PLACEHOLDER_REGISTRY = "127.0.0.1:9"
_PLACEHOLDER_DIGEST = "sha256:" + "0" * 64

def _test_registry_impl(rctx):
    registry = rctx.os.environ.get("IMAGEWRITER_TEST_REGISTRY", "") or _PLACEHOLDER_REGISTRY
    digest = rctx.os.environ.get("IMAGEWRITER_TEST_BASE_DIGEST", "") or _PLACEHOLDER_DIGEST
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name, executable = False)
    rctx.file("BUILD.bazel", "", executable = False)
    rctx.file("registry.bzl", "REGISTRY = %r\nBASE_DIGEST = %r\n" % (registry, digest), executable = False)

test_registry = repository_rule(
    implementation = _test_registry_impl,
    doc = "Writes `registry.bzl` with the registry address and base digest from the environment.",
    environ = [
        "IMAGEWRITER_TEST_BASE_DIGEST",
        "IMAGEWRITER_TEST_REGISTRY",
    ],
)
