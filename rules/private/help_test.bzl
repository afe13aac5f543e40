"""A smoke test of the `imagewriter` toolchain: resolve it, run the binary in an action.

Private, for `tests/bazel/` and examples. It proves the toolchain plumbing end to end: the
toolchain resolves for the target, the binary runs in a (sandboxed) action, and a test rule
sees its output.
"""

load(":toolchain.bzl", "TOOLCHAIN_TYPE")

_DOC = """Runs `imagewriter --help` in an `ImageWriterHelp` action and tests its output.

The action fails when the binary does not run, or exits with a code other than 0 or 2 (the
CLI's code for usage). The test passes when the output contains `expect`."""

_ATTRS = {
    "expect": attr.string(
        doc = "Text the help output must contain (a fixed string, not a pattern).",
        default = "imagewriter",
    ),
}

# Runs "$1 --help" into "$2"; 0 and 2 (usage) are answers, anything else is a broken binary.
_RUN_HELP = """\
status=0
"$1" --help >"$2" 2>&1 || status=$?
case "$status" in
0 | 2) ;;
*) cat "$2" >&2; echo "imagewriter --help: exit status $status" >&2; exit 1 ;;
esac
"""

_TEST = """\
#!/bin/sh
set -eu
help='{help}'
if ! grep -qF -- '{expect}' "$help"; then
    echo "FAIL: $help does not contain '{expect}'; it says:" >&2
    cat "$help" >&2
    exit 1
fi
echo "PASS: imagewriter --help mentions '{expect}'"
"""

def _imagewriter_help_test_impl(ctx):
    if "'" in ctx.attr.expect:
        fail("expect: must not contain a single quote")
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    help = ctx.actions.declare_file(ctx.label.name + ".help.txt")
    ctx.actions.run_shell(
        mnemonic = "ImageWriterHelp",
        progress_message = "Running imagewriter --help for %s" % ctx.label,
        command = _RUN_HELP,
        arguments = [toolchain.imagewriter.path, help.path],
        tools = [toolchain.files_to_run],
        outputs = [help],
    )
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        output = script,
        content = _TEST.format(help = help.short_path, expect = ctx.attr.expect),
        is_executable = True,
    )
    return [DefaultInfo(
        executable = script,
        files = depset([help]),
        runfiles = ctx.runfiles(files = [help]),
    )]

imagewriter_help_test = rule(
    implementation = _imagewriter_help_test_impl,
    doc = _DOC,
    attrs = _ATTRS,
    test = True,
    toolchains = [TOOLCHAIN_TYPE],
)
