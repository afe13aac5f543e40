"""Setup for WORKSPACE users (Bazel 4.2.3 and later without bzlmod).

```starlark
local_repository(name = "rules_imagewriter", path = "...")  # or http_archive

load("@rules_imagewriter//rules:repositories.bzl", "rules_imagewriter_dependencies", "rules_imagewriter_register_toolchains")

rules_imagewriter_dependencies()

rules_imagewriter_register_toolchains()
```

The toolchain is `imagewriter` built with the host's `go` (1.26 or later on PATH, or at
`/usr/local/go/bin/go`) from this repository's source, by `imagewriter_host_toolchain` (two
repository rules: `@<name>_sources` lists the sources, `@<name>` builds and holds the
toolchain). MODULE.bazel users need none of this: the module registers a toolchain built
with rules_go.
"""

load(
    "//rules/private:host_build.bzl",
    _imagewriter_host_toolchain = "imagewriter_host_toolchain",
)
load("//rules/private:pull.bzl", _imagewriter_pull = "imagewriter_pull")

imagewriter_host_toolchain = _imagewriter_host_toolchain

def rules_imagewriter_dependencies():
    """Declares the external repositories rules_imagewriter needs in WORKSPACE mode.

    Today that is none beyond what Bazel bundles (`@bazel_tools`, `@platforms`); call it anyway,
    so that future dependencies arrive without editing the WORKSPACE.
    """

def rules_imagewriter_register_toolchains(name = "imagewriter_host_toolchain", register = True, **kwargs):
    """Builds `imagewriter` on the host and registers it as the toolchain.

    Args:
      name: name of the repository holding the binary and the toolchain.
      register: whether to call `register_toolchains("@<name>//:toolchain")`; pass False to
        register it yourself, e.g. after toolchains that should win.
      **kwargs: passed to `imagewriter_host_toolchain` (`go`, `go_mod`, `package`, `watch`).
    """
    _imagewriter_host_toolchain(name = name, **kwargs)
    if register:
        native.register_toolchains("@%s//:toolchain" % name)

def imagewriter_pull(name, image, digest, platforms = [], shallow = True, imagewriter = "@imagewriter_host_toolchain//:imagewriter", **kwargs):
    """A base image from a registry, pinned by digest, as an OCI layout for `image`'s `base`.

    See `rules/private/pull.bzl` and docs/bazel-registry.md. Call it after
    `rules_imagewriter_register_toolchains()`, whose `imagewriter` it runs at fetch time.

    Args:
      name: the repository's name; `@<name>` is the base to give to `image`.
      image: `HOST/REPOSITORY`, without a digest.
      digest: `sha256:...` of the index or manifest to pull (required).
      platforms: `os/arch[/variant]` to take out of an index; empty: everything.
      shallow: fetch no layers (default); False downloads them all at fetch time.
      imagewriter: label of the host-built `imagewriter` binary (the default is the one
        `rules_imagewriter_register_toolchains()` builds under its default name).
      **kwargs: other attributes of the repository rule.
    """
    _imagewriter_pull(
        name = name,
        image = image,
        digest = digest,
        platforms = platforms,
        shallow = shallow,
        imagewriter = imagewriter,
        **kwargs
    )
