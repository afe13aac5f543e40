"""Module extensions of rules_imagewriter, for MODULE.bazel (Bazel 7 and later).

`pull`: base images from a registry, pinned by digest, pulled shallow at fetch time; each is
a repository whose `@<name>` is the `base` of an `image` (docs/bazel-registry.md).

```starlark
bazel_dep(name = "rules_imagewriter", version = "…")

pull = use_extension("@rules_imagewriter//rules:extensions.bzl", "pull")
pull.pull(
    name = "distroless_base",
    image = "gcr.io/distroless/base-debian12",
    digest = "sha256:…",
    platforms = ["linux/amd64", "linux/arm64"],
)
use_repo(pull, "distroless_base")
```

The pull runs `imagewriter` at fetch time, before any action, so it cannot be the toolchain's
rules_go binary: the extension builds one with the host's `go` (`imagewriter_host_toolchain`,
as WORKSPACE setups do) in the repository `@rules_imagewriter_pull_tool`, once, when any
module uses `pull`. That needs Go (go.mod's version or later) on the host's PATH, or at
`$GOROOT/bin/go` or `/usr/local/go/bin/go`.

WORKSPACE users call `imagewriter_pull` from `repositories.bzl` instead; this file is for
MODULE.bazel only (it uses `module_extension`, which Bazel 4.2.3 lacks).
"""

load("//rules/private:host_build.bzl", "imagewriter_host_toolchain")
load("//rules/private:pull.bzl", "check_digest", "check_image", "check_platform", "imagewriter_pull")

# The host-built imagewriter the pulls run; also `<_TOOL>_sources`.
_TOOL = "rules_imagewriter_pull_tool"

_pull = tag_class(
    doc = "One base image, pinned by digest: a repository named `name`.",
    attrs = {
        "digest": attr.string(
            doc = "`sha256:…` of the index or manifest to pull. Required: a tag is not a pin.",
            mandatory = True,
        ),
        "image": attr.string(
            doc = "`HOST/REPOSITORY` (`gcr.io/distroless/base-debian12`), without a digest.",
            mandatory = True,
        ),
        "name": attr.string(
            doc = "The repository's name; `@<name>` is the base to give to `image`.",
            mandatory = True,
        ),
        "platforms": attr.string_list(
            doc = """`os/arch[/variant]` to take out of an index, each its own layout; `@<name>`
then picks the target platform's. Empty: everything `digest` names.""",
        ),
        "shallow": attr.bool(
            doc = """Fetch only the index, manifests and configs (default). False: the layers too,
so that no build action needs the network.""",
            default = True,
        ),
    },
)

def _pull_impl(mctx):
    seen = {}  # name -> (attributes, module) of its first declaration
    root_deps = []
    root_dev_deps = []
    for mod in mctx.modules:
        for tag in mod.tags.pull:
            where = "pull.pull(name = %r) in module %s" % (tag.name, mod.name)
            if tag.name in [_TOOL, _TOOL + "_sources"]:
                fail("%s: the name %s is the extension's own" % (where, tag.name))
            for problem in [check_digest(tag.digest), check_image(tag.image)]:
                if problem:
                    fail("%s: %s" % (where, problem))
            for p in tag.platforms:
                _, problem = check_platform(p)
                if problem:
                    fail("%s: platforms: %s" % (where, problem))
            attrs = (tag.image, tag.digest, tuple(tag.platforms), tag.shallow)
            if tag.name in seen:
                if seen[tag.name][0] != attrs:
                    fail("%s: %s declares the name too, as %r; here it is %r" % (where, seen[tag.name][1], seen[tag.name][0], attrs))
                continue
            seen[tag.name] = (attrs, "module " + mod.name)
            imagewriter_pull(
                name = tag.name,
                image = tag.image,
                digest = tag.digest,
                platforms = tag.platforms,
                shallow = tag.shallow,
                imagewriter = "@%s//:imagewriter" % _TOOL,
                target_name = tag.name,
            )
            if mod.is_root:
                if hasattr(mctx, "is_dev_dependency") and mctx.is_dev_dependency(tag):
                    root_dev_deps.append(tag.name)
                else:
                    root_deps.append(tag.name)
    if seen:
        imagewriter_host_toolchain(name = _TOOL)
    if hasattr(mctx, "extension_metadata"):
        return mctx.extension_metadata(
            root_module_direct_deps = root_deps,
            root_module_direct_dev_deps = root_dev_deps,
        )
    return None

pull = module_extension(
    implementation = _pull_impl,
    doc = """Base images pulled from registries, pinned by digest (`pull.pull(name, image,
digest, platforms)`); see this file's docstring.""",
    tag_classes = {"pull": _pull},
)
