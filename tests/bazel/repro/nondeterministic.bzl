"""A test-only layer rule whose layer is not reproducible, for image_reproducibility_test."""

load("@rules_imagewriter//rules:defs.bzl", "ImageLayerInfo", "TOOLCHAIN_TYPE")

_TREE = """\
set -eu
mkdir -p "$1/sub"
echo leak >"$1/sub/file.txt"
"""

def _nondeterministic_layer_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    tree = ctx.actions.declare_directory(ctx.label.name + ".tree")
    ctx.actions.run_shell(
        mnemonic = "NondeterministicTree",
        command = _TREE,
        arguments = [tree.path],
        outputs = [tree],
    )

    # preserveMode and preserveMtime take modes and mtimes from disk: the sandbox's, the
    # umask's and the clock's. image_layer never asks for them; this rule does, on purpose.
    spec = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    ctx.actions.write(spec, json.encode({"entries": [{
        "followSymlinks": True,
        "path": "/leak",
        "preserveMode": True,
        "preserveMtime": True,
        "source": tree.path,
        "type": "tree",
    }]}))
    blob = ctx.actions.declare_file(ctx.label.name + ".tar.gz")
    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    args = ctx.actions.args()
    args.add_all(["layer", "--quiet", "--spec", spec, "--base-dir", ".", "--output", blob, "--metadata", metadata])
    ctx.actions.run(
        mnemonic = "ImageWriterLayer",
        executable = toolchain.files_to_run,
        arguments = [args],
        inputs = [spec, tree],
        outputs = [blob, metadata],
    )
    return [
        DefaultInfo(files = depset([blob, metadata])),
        ImageLayerInfo(blob = blob, metadata = metadata, created_by = ""),
    ]

nondeterministic_layer = rule(
    implementation = _nondeterministic_layer_impl,
    doc = """An `ImageWriterLayer` action over a tree artifact with `preserveMode` and
`preserveMtime`: its bytes depend on when and under which umask the tree was written.""",
    toolchains = [TOOLCHAIN_TYPE],
)
