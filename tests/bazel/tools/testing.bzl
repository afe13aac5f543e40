"""Test-only rules for tests/bazel: a Go binary for the target platform, a tree artifact."""

_GO_BUILD = """\
set -eu
go=$1
src=$2
out=$3
export GOCACHE="$PWD/_go_hello_cache" GOPATH="$PWD/_go_hello_path"
"$go" build -trimpath -buildvcs=false -ldflags=-buildid= -o "$out" "$src"
"""

def _go_hello_impl(ctx):
    goarch = None
    for cpu, arch in [("_x86_64", "amd64"), ("_aarch64", "arm64")]:
        if ctx.target_platform_has_constraint(getattr(ctx.attr, cpu)[platform_common.ConstraintValueInfo]):
            goarch = arch
    if not ctx.target_platform_has_constraint(ctx.attr._linux[platform_common.ConstraintValueInfo]) or not goarch:
        fail("go_hello builds for linux/amd64 and linux/arm64 only")
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.run_shell(
        mnemonic = "GoHello",
        progress_message = "Building %s for linux/%s with the host's go" % (ctx.label, goarch),
        command = _GO_BUILD,
        arguments = [ctx.file._go.path, ctx.file.src.path, out.path],
        inputs = [ctx.file.src, ctx.file._go],
        outputs = [out],
        env = {
            "CGO_ENABLED": "0",
            "GO111MODULE": "off",
            "GOARCH": goarch,
            "GOENV": "off",
            "GOFLAGS": "",
            "GOOS": "linux",
            "GOTOOLCHAIN": "local",
        },
    )
    return [DefaultInfo(files = depset([out]), executable = out)]

go_hello = rule(
    implementation = _go_hello_impl,
    doc = """Builds one `package main` Go file with the host's `go` (`@host_go`) for the target
platform (linux, x86_64 or aarch64), statically and reproducibly.""",
    attrs = {
        "src": attr.label(
            doc = "The Go source file.",
            allow_single_file = [".go"],
            mandatory = True,
        ),
        "_aarch64": attr.label(default = "@platforms//cpu:aarch64"),
        "_go": attr.label(default = "@host_go//:bin/go", allow_single_file = True),
        "_linux": attr.label(default = "@platforms//os:linux"),
        "_x86_64": attr.label(default = "@platforms//cpu:x86_64"),
    },
    executable = True,
    toolchains = ["@rules_imagewriter//rules:toolchain_type"],
)

_TREE = """\
set -eu
out=$1
shift
while [ $# -gt 0 ]; do
    mkdir -p "$(dirname "$out/$1")"
    printf '%s' "$2" >"$out/$1"
    shift 2
done
"""

def _tree_artifact_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = [out.path]
    for path, content in sorted(ctx.attr.files.items()):
        args.extend([path, content])
    ctx.actions.run_shell(
        mnemonic = "TreeArtifact",
        command = _TREE,
        arguments = args,
        outputs = [out],
    )
    return [DefaultInfo(files = depset([out]))]

tree_artifact = rule(
    implementation = _tree_artifact_impl,
    doc = "A directory output (`ctx.actions.declare_directory`) holding `files`.",
    attrs = {
        "files": attr.string_dict(
            doc = "Path inside the directory → content.",
        ),
    },
)
