"""The `imagewriter` toolchain: the one program every rules_imagewriter action runs.

Two kinds of `imagewriter_toolchain` target exist, both registered against
`@rules_imagewriter//rules:toolchain_type`:

- built from source by rules_go (`//rules:default_toolchain`, registered by MODULE.bazel);
- built on the host by the `imagewriter_host_toolchain` repository rule (`repositories.bzl`),
  for WORKSPACE users and for Bazel versions rules_go no longer supports.

Rules reach the binary through `ctx.toolchains[TOOLCHAIN_TYPE]`, never through an attribute,
so that the choice is the user's and is made once.
"""

# The label of the toolchain type, resolved against this repository whatever name the user
# gave it. Rules list it in `toolchains = [TOOLCHAIN_TYPE]`.
TOOLCHAIN_TYPE = str(Label("//rules:toolchain_type"))

_DOC = """Declares an `imagewriter` binary as a toolchain.

Use it with a `toolchain()` whose `toolchain_type` is `@rules_imagewriter//rules:toolchain_type`.
The binary runs on the execution platform; the images it writes are for any target platform,
so the `toolchain()` needs `exec_compatible_with` only.

It returns `platform_common.ToolchainInfo` with these fields:

- `imagewriter`: File, the executable.
- `files_to_run`: FilesToRunProvider of the executable; pass it as `executable` to
  `ctx.actions.run` so that any runfiles travel with it.
"""

_ATTRS = {
    "imagewriter": attr.label(
        doc = "The `imagewriter` executable: a `go_binary`, or a prebuilt file.",
        mandatory = True,
        executable = True,
        allow_files = True,
        cfg = "exec",
    ),
}

def _imagewriter_toolchain_impl(ctx):
    files_to_run = ctx.attr.imagewriter[DefaultInfo].files_to_run
    if files_to_run == None or files_to_run.executable == None:
        fail("imagewriter: %s is not executable" % ctx.attr.imagewriter.label)
    return [
        platform_common.ToolchainInfo(
            imagewriter = files_to_run.executable,
            files_to_run = files_to_run,
        ),
        DefaultInfo(files = depset([files_to_run.executable])),
    ]

imagewriter_toolchain = rule(
    implementation = _imagewriter_toolchain_impl,
    doc = _DOC,
    attrs = _ATTRS,
)
