"""`image_index`: a multi-platform OCI image index, by one `ImageWriterIndex` action."""

load(":helpers.bzl", "merge_dicts", "new_args")
load(":outputs.bzl", "FORMATS", "write_output")
load(":platforms.bzl", "platform_string")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":settings.bzl", "STAMP_ATTRS", "placeholders", "stamp_enabled", "unstamped")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")
load(":transitions.bzl", "platforms_split")

_DOC = """An OCI image index: several images, one per platform, under one digest.

Either list images built for their platforms in `images`, or give one `image` and the
`platforms` to build it for: a split transition builds `image` (and everything it depends on:
layers, binaries) once per platform, each with that platform's constraints.

```starlark
platform(
    name = "linux_arm64",
    constraint_values = ["@platforms//os:linux", "@platforms//cpu:aarch64"],
)

image_index(
    name = "app_multiarch",
    image = ":app",
    platforms = [":linux_amd64", ":linux_arm64"],
    tag = "example.com/app:latest",
)
```

The index lists its images sorted by platform, whatever the order here. Outputs: the OCI
layout directory `<name>` (default), output group `oci_archive` (`<name>.oci.tar`),
output group `metadata` (`<name>.metadata.json` and `<name>.index.json`, the index blob).
"""

_ATTRS = {
    "annotations": attr.string_dict(
        doc = "Index annotations. Stampable.",
    ),
    "image": attr.label(
        doc = "An `image` target to build once per label in `platforms` (a split transition).",
        cfg = platforms_split,
        providers = [ImageManifestInfo],
    ),
    "images": attr.label_list(
        doc = "`image` targets, each built for its own platform; no two for one platform.",
        providers = [ImageManifestInfo],
    ),
    "platforms": attr.label_list(
        doc = "`platform` targets to build `image` for; each needs an os and a cpu constraint.",
    ),
    "tag": attr.string(
        doc = """`repository[:tag]` naming the index in its outputs (the layout's
`org.opencontainers.image.ref.name`). Stampable.""",
    ),
    "_allowlist_function_transition": attr.label(
        doc = "Lets `image` use a Starlark transition (required by Bazel 4.2.3).",
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
}

def _image_index_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    if ctx.attr.platforms and not ctx.attr.image:
        fail("platforms: given without image")
    if ctx.attr.image and not ctx.attr.platforms:
        fail("image: given without platforms to build it for")
    candidates = [(t[ImageManifestInfo], "images[%s]" % t.label) for t in ctx.attr.images]
    if ctx.attr.image:
        split = ctx.split_attr.image
        for key in sorted(split.keys()):
            candidates.append((split[key][ImageManifestInfo], "image %s for %s" % (split[key].label, key)))
    manifests = []
    owners = {}
    for info, what in candidates:
        p = platform_string(info.platform)
        if p in owners:
            fail("two images for %s: %s and %s" % (p, owners[p], what))
        owners[p] = what
        manifests.append(info)
    if not manifests:
        fail("images: give images, or image and platforms")

    stamp = stamp_enabled(ctx)
    stamp_files = []
    if stamp and [v for v in [ctx.attr.tag] + ctx.attr.annotations.values() if placeholders(v)]:
        stamp_files = [ctx.info_file, ctx.version_file]

    metadata = ctx.actions.declare_file(ctx.label.name + ".metadata.json")
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    args = new_args(ctx, "index")
    for m in manifests:
        args.add("--image", m.metadata)
    for k, v in sorted(ctx.attr.annotations.items()):
        args.add("--annotation", "%s=%s" % (k, v if stamp else unstamped(v)))
    for f in stamp_files:
        args.add("--stamp-file", f)
    args.add("--output", metadata)
    args.add("--index-out", index)
    ctx.actions.run(
        mnemonic = "ImageWriterIndex",
        progress_message = "Writing image index for %s" % ctx.label,
        executable = toolchain.files_to_run,
        arguments = [args],
        inputs = [m.metadata for m in manifests] + stamp_files,
        outputs = [metadata, index],
    )

    info = ImageIndexInfo(index = index, manifests = manifests, metadata = metadata)
    tag = ctx.attr.tag if stamp else unstamped(ctx.attr.tag)
    tag_stamp_files = stamp_files if placeholders(ctx.attr.tag) else []
    layout = ctx.actions.declare_directory(ctx.label.name)
    oci_archive = ctx.actions.declare_file(ctx.label.name + ".oci.tar")
    for out, format in [(layout, FORMATS.layout), (oci_archive, FORMATS.oci_archive)]:
        write_output(ctx, toolchain, out, format, manifests, index_metadata = metadata, tag = tag, stamp_files = tag_stamp_files)
    return [
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(
            metadata = depset([metadata, index]),
            oci_archive = depset([oci_archive]),
        ),
        info,
    ]

image_index = rule(
    implementation = _image_index_impl,
    doc = _DOC,
    attrs = merge_dicts(_ATTRS, STAMP_ATTRS),
    toolchains = [TOOLCHAIN_TYPE],
)
