"""`host_go`: the host's `go` command as a label, for the test-only `go_hello` rule.

rules_go cannot run on Bazel 4.2.3, so the tests build their small Go binaries with the host's
Go. The repository holds `bin/go`, a symlink to the host's `go`; the `go` command finds its
GOROOT from its own (resolved) path.
"""

def _host_go_impl(rctx):
    go = rctx.which("go")
    if not go:
        go = rctx.path("/usr/local/go/bin/go")
        if not go.exists:
            fail("host_go: no go on PATH or at /usr/local/go/bin/go")
    rctx.symlink(go, "bin/go")
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name)
    rctx.file("BUILD.bazel", 'exports_files(["bin/go"], visibility = ["//visibility:public"])\n')

host_go = repository_rule(
    implementation = _host_go_impl,
    doc = "Exposes the host's `go` command as `@<name>//:bin/go`.",
    environ = ["PATH"],
    local = True,
)
