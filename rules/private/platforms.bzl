"""The OCI platform (os, architecture, variant) of the target platform, from its constraints.

Only constraint values that both Bazel 4.2.3's embedded `@platforms` and `@platforms` 1.0 (Bazel
7+) define are named, so that loading this file never fails on either.
"""

# constraint value name in @platforms//os -> OCI os.
_OS = {
    "freebsd": "freebsd",
    "linux": "linux",
    "openbsd": "openbsd",
    "osx": "darwin",
    "windows": "windows",
}

# constraint value name in @platforms//cpu -> (OCI architecture, variant). Checked in this order.
_CPU = [
    ("x86_64", "amd64", ""),
    ("aarch64", "arm64", ""),
    ("arm64", "arm64", ""),
    ("armv7", "arm", "v7"),
    ("arm", "arm", ""),
    ("x86_32", "386", ""),
    ("i386", "386", ""),
    ("ppc", "ppc64le", ""),
    ("s390x", "s390x", ""),
    ("riscv64", "riscv64", ""),
    ("mips64", "mips64", ""),
]

def _os_attr(name):
    return ("_os_" + name, attr.label(
        doc = "The constraint value @platforms//os:%s, checked against the target platform." % name,
        default = Label("@platforms//os:" + name),
    ))

def _cpu_attr(name):
    return ("_cpu_" + name, attr.label(
        doc = "The constraint value @platforms//cpu:%s, checked against the target platform." % name,
        default = Label("@platforms//cpu:" + name),
    ))

PLATFORM_ATTRS = dict(
    [_os_attr(name) for name in _OS] + [_cpu_attr(name) for name, _, _ in _CPU],
)

PLATFORM_OVERRIDE_ATTRS = {
    "architecture": attr.string(
        doc = """The image's architecture (OCI/Go spelling: `amd64`, `arm64`, `arm`, ...). Empty
(default): from the target platform's `@platforms//cpu` constraint.""",
    ),
    "os": attr.string(
        doc = """The image's os (`linux`, `windows`, ...). Empty (default): from the target
platform's `@platforms//os` constraint.""",
    ),
    "variant": attr.string(
        doc = """The image's architecture variant (`v7`, `v8`). Empty (default): from the target
platform (`@platforms//cpu:armv7` gives `v7`; others none), unless `architecture` is set, which
then means no variant.""",
    ),
}

def _has(ctx, attr_name):
    return ctx.target_platform_has_constraint(getattr(ctx.attr, attr_name)[platform_common.ConstraintValueInfo])

def _platform_label(ctx):
    fragment = getattr(ctx.fragments, "platform", None)
    return str(getattr(fragment, "platform", "the target platform"))

def target_platform(ctx):
    """The OCI platform to build for: the override attributes, else the target platform's.

    The rule must declare `PLATFORM_ATTRS` and `PLATFORM_OVERRIDE_ATTRS`, a toolchain (so that
    the target platform is resolved) and `fragments = ["platform"]`.

    Args:
      ctx: the rule context.

    Returns:
      struct(os, architecture, variant), `variant` "" when there is none.
    """
    os = ctx.attr.os
    if not os:
        for name, oci in _OS.items():
            if _has(ctx, "_os_" + name):
                os = oci
                break
    architecture = ctx.attr.architecture
    variant = ctx.attr.variant
    if not architecture:
        for name, arch, var in _CPU:
            if _has(ctx, "_cpu_" + name):
                architecture = arch
                variant = variant or var
                break
    missing = []
    if not os:
        missing.append("@platforms//os constraint (one of %s)" % ", ".join(_OS.keys()))
    if not architecture:
        missing.append("@platforms//cpu constraint (one of %s)" % ", ".join([c[0] for c in _CPU]))
    if missing:
        fail("the target platform %s has no %s: build with --platforms=<a platform that has them>, or set the os and architecture attributes" % (
            _platform_label(ctx),
            " and no ".join(missing),
        ))
    return struct(os = os, architecture = architecture, variant = variant)

def platform_string(p):
    """Spells a platform as imagewriter does.

    Args:
      p: struct(os, architecture, variant).

    Returns:
      "os/architecture" or "os/architecture/variant".
    """
    s = p.os + "/" + p.architecture
    if p.variant:
        s += "/" + p.variant
    return s
