"""`imagewriter_pull`: a base image from a registry, pinned by digest, pulled at fetch time.

The one place rules_imagewriter touches the network on its own: a repository rule, which runs
`imagewriter pull` when Bazel fetches the repository (once; the result is cached in the
repository cache and keyed on the digest), and never again at build time. A shallow pull (the
default) fetches the index, manifests and configs only; see `_DOC`.
"""

_DOC = """Pulls an image or an index from a registry, pinned by digest, into an OCI layout the
`base` attribute of `image` takes.

```starlark
load("@rules_imagewriter//rules:repositories.bzl", "imagewriter_pull")

imagewriter_pull(
    name = "distroless_base",
    image = "gcr.io/distroless/base-debian12",
    digest = "sha256:…",                   # required: the index's (or the manifest's) digest
    platforms = ["linux/amd64", "linux/arm64"],   # optional: only these images
)
```

```starlark
image(
    name = "app",
    base = "@distroless_base",              # the same as "@distroless_base//:image"
    layers = [":app_layer"],
)
```

At fetch time it runs `imagewriter pull IMAGE@DIGEST -o DIR --shallow [--platform P]` with
an `imagewriter` built on the host (`imagewriter` attribute). The repository holds:

- `:image` (and `:<name>`, so that `@<name>` works): the base to give to `image`. Without
  `platforms`, the layout of whatever `digest` names: an index (each `image` then takes its
  own platform's manifest out of it) or one manifest. With one platform, that platform's
  layout. With several, an `alias` that picks the layout of the target platform's os and cpu.
- `:<os>_<arch>[_<variant>]` for each of `platforms` (`:linux_amd64`, `:linux_arm_v7`): that
  platform's layout alone.
- `:layout`, or `<os>_<arch>[_<variant>]/` directories: the OCI layouts themselves, and
  `digests.txt`: the pinned reference of each layout (`HOST/REPO@sha256:…`, one per line).

Shallow (default): no layer is downloaded at fetch time. `image` computes its config and
manifest from the base's descriptors alone, and `image_push` to the same registry mounts the
base layers from their repository without downloading them. Outputs that must hold the base
layers (the `image` target's layout and archives, `image_load`) download them, verified, in
their `imagewriter output` action, from the registry recorded in the layout: that action then
needs the network. Set `shallow = False` to download every layer here instead and keep
every build action offline (and remote-execution friendly).

Credentials come from the same files as for `imagewriter pull` (`$REGISTRY_AUTH_FILE`,
`$DOCKER_CONFIG/config.json`, `~/.docker/config.json` and their helpers); loopback registries
are spoken to over plain HTTP, others over HTTPS unless `$IMAGEWRITER_INSECURE_REGISTRIES`
lists them (docs/registry.md).
"""

_ATTRS = {
    "digest": attr.string(
        doc = """The digest of what to pull, `sha256:` and 64 hex digits (or `sha512:` and 128):
an index's or a manifest's. Required: a tag alone is not a pin.""",
        mandatory = True,
    ),
    "image": attr.string(
        doc = """`HOST/REPOSITORY` (e.g. `gcr.io/distroless/base-debian12`, `docker.io/library/debian`).
A `:TAG` may follow for readers and becomes the layout's `ref.name`; the digest alone decides
what is pulled. No `@sha256:…` here: use `digest`.""",
        mandatory = True,
    ),
    "imagewriter": attr.label(
        doc = """The `imagewriter` binary run at fetch time, a file built on the host (WORKSPACE
default `@imagewriter_host_toolchain//:imagewriter`, from `rules_imagewriter_register_toolchains`).""",
        mandatory = True,
        allow_single_file = True,
    ),
    "platforms": attr.string_list(
        doc = """Platforms to take out of an index, `os/arch[/variant]` (`linux/amd64`,
`linux/arm/v7`). Empty (default): everything `digest` names.""",
    ),
    "shallow": attr.bool(
        doc = """Pull only the index, manifests and configs (default). False: every layer too, at
fetch time, so that no build action needs the network.""",
        default = True,
    ),
    "target_name": attr.string(
        doc = """The name of the alias to `:image`, so that `@<name>` names it. Empty (default): the
repository's name. The module extension sets it to the apparent name.""",
    ),
}

# os and architecture/variant in OCI spelling -> @platforms constraint, for the alias that
# picks a platform's layout. Only values both Bazel 4.2.3's embedded @platforms and
# @platforms 1.0 define (see platforms.bzl, which maps the other way).
_OS_CONSTRAINTS = {
    "darwin": "@platforms//os:osx",
    "freebsd": "@platforms//os:freebsd",
    "linux": "@platforms//os:linux",
    "openbsd": "@platforms//os:openbsd",
    "windows": "@platforms//os:windows",
}

_CPU_CONSTRAINTS = {
    "386": "@platforms//cpu:x86_32",
    "amd64": "@platforms//cpu:x86_64",
    "arm": "@platforms//cpu:arm",
    "arm/v7": "@platforms//cpu:armv7",
    "arm64": "@platforms//cpu:aarch64",
    "arm64/v8": "@platforms//cpu:aarch64",
    "mips64": "@platforms//cpu:mips64",
    "ppc64le": "@platforms//cpu:ppc",
    "riscv64": "@platforms//cpu:riscv64",
    "s390x": "@platforms//cpu:s390x",
}

_HEX = "0123456789abcdef"

def _fail(rctx, msg):
    fail("imagewriter_pull %s: %s" % (rctx.name, msg))

def check_digest(digest):
    """Says what is wrong with a pinning digest.

    Args:
      digest: the `digest` attribute.

    Returns:
      None when `digest` is `sha256:` and 64 lowercase hex digits or `sha512:` and 128; else
      what is wrong, for an error message.
    """
    lengths = {"sha256": 64, "sha512": 128}
    algorithm, sep, encoded = digest.partition(":")
    if not sep or algorithm not in lengths:
        return "%r is not a digest: want sha256:<64 hex digits> (a tag is not a pin)" % digest
    if len(encoded) != lengths[algorithm] or [c for c in encoded.elems() if c not in _HEX]:
        return "%r: want %s: and %d lowercase hex digits" % (digest, algorithm, lengths[algorithm])
    return None

def check_image(image):
    """Says what is wrong with an image reference without a digest.

    Args:
      image: the `image` attribute.

    Returns:
      None when `image` looks like HOST/REPOSITORY[:TAG]; else what is wrong.
    """
    name = image[len("docker://"):] if image.startswith("docker://") else image
    if not name:
        return "empty"
    if "@" in name:
        return "%r holds a digest: give it in `digest`, and `image` without it" % image
    if "/" not in name:
        return "%r has no registry host: write HOST/REPOSITORY (docker.io/library/%s)" % (image, name)
    return None

def check_platform(platform):
    """Parses an `os/arch[/variant]` platform.

    Args:
      platform: one of `platforms`.

    Returns:
      (parts, problem): the list [os, arch] or [os, arch, variant] and None, or None and what
      is wrong.
    """
    parts = platform.split("/")
    if len(parts) not in (2, 3) or [p for p in parts if not p]:
        return None, "%r is not os/arch[/variant] (linux/amd64, linux/arm/v7)" % platform
    return parts, None

def _pull(rctx, imagewriter, ref, out, platform):
    args = [imagewriter, "pull", ref, "-o", out, "--progress", "plain"]
    if rctx.attr.shallow:
        args.append("--shallow")
    if platform:
        args.extend(["--platform", platform])
    rctx.report_progress("Pulling %s%s" % (ref, " for " + platform if platform else ""))
    result = rctx.execute(args, quiet = True, timeout = 3600)
    if result.return_code != 0:
        _fail(rctx, "%s: exit status %d\n%s" % (" ".join([str(a) for a in args[1:]]), result.return_code, result.stderr))
    pinned = result.stdout.strip()
    if "@" not in pinned:
        _fail(rctx, "imagewriter pull printed %r, not a pinned reference" % result.stdout)
    return pinned

_BUILD_HEAD = """\
# Generated by imagewriter_pull ({rule_file}) for {ref}. Do not edit.
package(default_visibility = ["//visibility:public"])

exports_files({dirs})
"""

_ONE = """
alias(
    name = {name},
    actual = {actual},
)
"""

_SETTING = """
config_setting(
    name = {name},
    constraint_values = {constraints},
    visibility = ["//visibility:private"],
)
"""

_SELECT = """
alias(
    name = "image",
    actual = select(
        {branches},
        no_match_error = {error},
    ),
)
"""

def _imagewriter_pull_impl(rctx):
    problem = check_digest(rctx.attr.digest)
    if problem:
        _fail(rctx, "digest: " + problem)
    problem = check_image(rctx.attr.image)
    if problem:
        _fail(rctx, "image: " + problem)
    parsed = []
    for p in rctx.attr.platforms:
        parts, problem = check_platform(p)
        if problem:
            _fail(rctx, "platforms: " + problem)
        parsed.append(parts)
    imagewriter = rctx.path(rctx.attr.imagewriter)
    ref = rctx.attr.image + "@" + rctx.attr.digest

    rule_file = str(Label("//rules/private:pull.bzl"))
    if rule_file.startswith("//"):
        rule_file = "@" + rule_file
    target_name = rctx.attr.target_name or rctx.name
    pinned = []
    build = []
    if not parsed:
        pinned.append(_pull(rctx, imagewriter, ref, "layout", ""))
        build.append(_BUILD_HEAD.format(rule_file = rule_file, ref = ref, dirs = repr(["layout"])))
        build.append(_ONE.format(name = repr("image"), actual = repr(":layout")))
    else:
        dirs = ["_".join(parts) for parts in parsed]
        if len(dirs) != len({d: True for d in dirs}):
            _fail(rctx, "platforms: %r names a platform twice" % rctx.attr.platforms)
        build.append(_BUILD_HEAD.format(rule_file = rule_file, ref = ref, dirs = repr(dirs)))
        branches = {}
        claimed = {}  # (os, cpu) constraints -> platform, so that no two branches match at once
        for i, parts in enumerate(parsed):
            platform = "/".join(parts)
            pinned.append(_pull(rctx, imagewriter, ref, dirs[i], platform))
            os = _OS_CONSTRAINTS.get(parts[0])
            cpu = _CPU_CONSTRAINTS.get("/".join(parts[1:])) or _CPU_CONSTRAINTS.get(parts[1])
            if len(parsed) > 1 and os and cpu:
                if (os, cpu) in claimed:
                    _fail(rctx, "platforms: %s and %s have the same constraints (%s, %s): keep one" % (claimed[(os, cpu)], platform, os, cpu))
                claimed[(os, cpu)] = platform
                setting = "is_" + dirs[i]
                build.append(_SETTING.format(name = repr(setting), constraints = repr([os, cpu])))
                branches[":" + setting] = ":" + dirs[i]
        if len(parsed) == 1:
            build.append(_ONE.format(name = repr("image"), actual = repr(":" + dirs[0])))
        else:
            build.append(_SELECT.format(
                branches = repr(branches),
                error = repr("@%s has no image for the target platform; it has %s" % (
                    target_name,
                    ", ".join(rctx.attr.platforms),
                )),
            ))
    if target_name not in ["image", "layout"] + ["_".join(parts) for parts in parsed]:
        build.append(_ONE.format(name = repr(target_name), actual = repr(":image")))

    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name, executable = False)
    rctx.file("BUILD.bazel", "".join(build), executable = False)
    rctx.file("digests.txt", "".join([p + "\n" for p in pinned]), executable = False)

imagewriter_pull = repository_rule(
    implementation = _imagewriter_pull_impl,
    doc = _DOC,
    attrs = _ATTRS,
)
