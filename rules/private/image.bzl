"""`image`: one single-platform image, by one `ImageWriterImage` action and one action per
output form."""

load(":helpers.bzl", "merge_dicts", "new_args")
load(":outputs.bzl", "FORMATS", "write_output")
load(":platforms.bzl", "PLATFORM_ATTRS", "PLATFORM_OVERRIDE_ATTRS", "platform_string", "target_platform")
load(":providers.bzl", "ImageIndexInfo", "ImageLayerInfo", "ImageManifestInfo")
load(":settings.bzl", "STAMP_ATTRS", "placeholders", "stamp_enabled", "unstamped")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")

_DOC = """A single-platform OCI image: a base (optional), layers, and config.

The platform (os, architecture, variant) is the target platform's, from its `@platforms//os`
and `@platforms//cpu` constraints, unless the `os`/`architecture`/`variant` attributes say
otherwise; an `image_index` builds one `image` for several platforms.

```starlark
image(
    name = "app",
    base = ":distroless_base",          # an image target, or an OCI layout dir / archive file
    layers = [":app_layer"],
    entrypoint = ["/usr/bin/app"],
    env = {"APP_MODE": "production"},
    user = "65532:65532",
    labels = {"org.opencontainers.image.source": "https://example.com/app"},
    tag = "example.com/app:latest",
)
```

Outputs: the OCI image layout directory `<name>` (default); output groups `oci_archive`
(`<name>.oci.tar`) and `docker_archive` (`<name>.docker.tar`, for `docker load`), built only
when asked for (`bazel build :app --output_groups=+docker_archive`); `<name>.metadata.json`,
`<name>.manifest.json` and `<name>.config.json` (the manifest and config blobs) in the output
group `metadata`.

Stamping (`stamp`): `labels`, `annotations`, `author`, `created` and `tag` may hold `{KEY}`
placeholders of workspace status keys. Stamped builds replace them; unstamped builds replace
each with `unstamped`, and a `created` that holds one means the epoch.
"""

_ATTRS = {
    "annotations": attr.string_dict(
        doc = "Manifest annotations. Stampable.",
    ),
    "author": attr.string(
        doc = "The config's `author`. Stampable.",
    ),
    "base": attr.label(
        doc = """The image to build on: an `image` target (its config and layers are inherited), an
`image_index` target (the manifest for this image's platform is used), or one file: an OCI
image layout directory, an OCI archive or a Docker archive (e.g. pulled by a repository
rule). Its platform must match this image's.""",
        allow_files = True,
    ),
    "base_ref": attr.string(
        doc = """For a layout or archive `base` holding several images: the one to use, by its
`org.opencontainers.image.ref.name` (or Docker `RepoTags` entry).""",
    ),
    "cmd": attr.string_list(
        doc = "The config's `Cmd`. Setting `entrypoint` without `cmd` clears the base's `Cmd`, as in a Dockerfile.",
    ),
    "created": attr.string(
        doc = """The config's `created` time: RFC 3339 or `@SECONDS`. Empty (default): the Unix
epoch. Stampable: `@{BUILD_TIMESTAMP}` is the build's time under `--stamp`, the epoch otherwise.""",
    ),
    "entrypoint": attr.string_list(
        doc = "The config's `Entrypoint`.",
    ),
    "env": attr.string_dict(
        doc = """Environment variables, merged over the base's by name (`{"PATH": "/usr/bin"}`).
Values are literal: no `$VAR` expansion.""",
    ),
    "exposed_ports": attr.string_list(
        doc = "`ExposedPorts`: `[\"8080/tcp\", \"53/udp\"]` (a bare port is tcp).",
    ),
    "labels": attr.string_dict(
        doc = "Config labels, merged over the base's. Stampable.",
    ),
    "layers": attr.label_list(
        doc = "`image_layer` targets, lowest first, added on top of the base's layers.",
        providers = [ImageLayerInfo],
    ),
    "stop_signal": attr.string(
        doc = "The config's `StopSignal`, e.g. `SIGTERM`.",
    ),
    "tag": attr.string(
        doc = """`repository[:tag]` naming the image in its outputs: the layout's
`org.opencontainers.image.ref.name` is the tag, the Docker archive's `RepoTags` the whole name.
Stampable (`example.com/app:{STABLE_GIT_COMMIT}`).""",
    ),
    "user": attr.string(
        doc = "The config's `User` (`name`, `uid`, `uid:gid`).",
    ),
    "volumes": attr.string_list(
        doc = "The config's `Volumes`: `[\"/data\"]`.",
    ),
    "workdir": attr.string(
        doc = "The config's `WorkingDir`.",
    ),
}

def _base(ctx, platform):
    """The base: struct(manifest = ImageManifestInfo or None, file = File or None)."""
    target = ctx.attr.base
    if not target:
        return struct(manifest = None, file = None)
    if ImageManifestInfo in target:
        return struct(manifest = target[ImageManifestInfo], file = None)
    if ImageIndexInfo in target:
        want = platform_string(platform)
        for m in target[ImageIndexInfo].manifests:
            if platform_string(m.platform) == want:
                return struct(manifest = m, file = None)
        fail("base: %s is an index with no image for %s (it has %s)" % (
            target.label,
            want,
            ", ".join([platform_string(m.platform) for m in target[ImageIndexInfo].manifests]),
        ))
    if ImageLayerInfo in target:
        fail("base: %s is an image_layer, not an image: put it in layers" % target.label)
    files = target[DefaultInfo].files.to_list()
    if len(files) != 1:
        fail("base: %s is not an image: it is neither an image target nor one file (an OCI layout directory, OCI archive or Docker archive); it has %d files" % (target.label, len(files)))
    return struct(manifest = None, file = files[0])

def _stampable(value, stamp):
    return value if stamp else unstamped(value)

def _image_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    platform = target_platform(ctx)
    base = _base(ctx, platform)
    if base.manifest and platform_string(base.manifest.platform) != platform_string(platform):
        fail("base: %s is %s, this image is %s" % (ctx.attr.base.label, platform_string(base.manifest.platform), platform_string(platform)))
    if ctx.attr.base_ref and not base.file:
        fail("base_ref: only for a base that is a layout directory or archive")

    stamp = stamp_enabled(ctx)
    stampable = [ctx.attr.author, ctx.attr.created, ctx.attr.tag] + ctx.attr.labels.values() + ctx.attr.annotations.values()
    stamp_files = []
    if stamp and [s for s in stampable if placeholders(s)]:
        stamp_files = [ctx.info_file, ctx.version_file]

    layers = [layer[ImageLayerInfo] for layer in ctx.attr.layers]
    config = {}
    if ctx.attr.user:
        config["user"] = ctx.attr.user
    if ctx.attr.env:
        config["env"] = ["%s=%s" % (k, v) for k, v in ctx.attr.env.items()]
    if ctx.attr.entrypoint:
        config["entrypoint"] = ctx.attr.entrypoint
    if ctx.attr.cmd:
        config["cmd"] = ctx.attr.cmd
    if ctx.attr.workdir:
        config["workingDir"] = ctx.attr.workdir
    if ctx.attr.labels:
        config["labels"] = {k: _stampable(v, stamp) for k, v in ctx.attr.labels.items()}
    if ctx.attr.exposed_ports:
        config["exposedPorts"] = ctx.attr.exposed_ports
    if ctx.attr.volumes:
        config["volumes"] = ctx.attr.volumes
    if ctx.attr.stop_signal:
        config["stopSignal"] = ctx.attr.stop_signal
    request = {"platform": platform_string(platform)}
    if config:
        request["config"] = config
    if ctx.attr.author:
        request["author"] = _stampable(ctx.attr.author, stamp)
    if ctx.attr.created and (stamp or not placeholders(ctx.attr.created)):
        request["created"] = ctx.attr.created
    if ctx.attr.annotations:
        request["annotations"] = {k: _stampable(v, stamp) for k, v in ctx.attr.annotations.items()}
    if [layer for layer in layers if layer.created_by]:
        request["createdBy"] = [layer.created_by for layer in layers]
    request_file = ctx.actions.declare_file(ctx.label.name + ".request.json")
    ctx.actions.write(request_file, json.encode(request))

    metadata = ctx.actions.declare_file(ctx.label.name + ".metadata.json")
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config_file = ctx.actions.declare_file(ctx.label.name + ".config.json")
    args = new_args(ctx, "image")
    args.add("--request", request_file)
    inputs = [request_file] + stamp_files
    for layer in layers:
        args.add("--layer", layer.metadata)
        inputs.append(layer.metadata)
    all_layers = []
    base_blobs = []
    if base.manifest:
        args.add("--base-image", base.manifest.metadata)
        inputs.append(base.manifest.metadata)
        all_layers = list(base.manifest.all_layers)
        base_blobs.append(base.manifest.base_blobs)
    elif base.file:
        args.add("--base-layout", base.file.path)
        if ctx.attr.base_ref:
            args.add("--base-ref", ctx.attr.base_ref)
        inputs.append(base.file)
        base_blobs.append(depset([base.file]))
    for f in stamp_files:
        args.add("--stamp-file", f)
    args.add("--output", metadata)
    args.add("--manifest-out", manifest)
    args.add("--config-out", config_file)
    ctx.actions.run(
        mnemonic = "ImageWriterImage",
        progress_message = "Writing image config and manifest for %s%s" % (
            ctx.label,
            " (base = %s)" % ctx.attr.base.label if base.file else "",
        ),
        executable = toolchain.files_to_run,
        arguments = [args],
        inputs = inputs,
        outputs = [metadata, manifest, config_file],
    )

    info = ImageManifestInfo(
        all_layers = all_layers + layers,
        base_blobs = depset(transitive = base_blobs),
        config = config_file,
        layers = layers,
        manifest = manifest,
        metadata = metadata,
        platform = platform,
    )

    tag = _stampable(ctx.attr.tag, stamp)
    tag_stamp_files = stamp_files if placeholders(ctx.attr.tag) else []
    layout = ctx.actions.declare_directory(ctx.label.name)
    oci_archive = ctx.actions.declare_file(ctx.label.name + ".oci.tar")
    docker_archive = ctx.actions.declare_file(ctx.label.name + ".docker.tar")
    for out, format in [(layout, FORMATS.layout), (oci_archive, FORMATS.oci_archive), (docker_archive, FORMATS.docker_archive)]:
        write_output(ctx, toolchain, out, format, [info], tag = tag, stamp_files = tag_stamp_files)

    return [
        DefaultInfo(files = depset([layout])),
        OutputGroupInfo(
            docker_archive = depset([docker_archive]),
            metadata = depset([metadata, manifest, config_file]),
            oci_archive = depset([oci_archive]),
        ),
        info,
    ]

image = rule(
    implementation = _image_impl,
    doc = _DOC,
    attrs = merge_dicts(_ATTRS, PLATFORM_OVERRIDE_ATTRS, PLATFORM_ATTRS, STAMP_ATTRS),
    fragments = ["platform"],
    toolchains = [TOOLCHAIN_TYPE],
)
