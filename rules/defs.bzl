"""rules_imagewriter: reproducible OCI images from Bazel, written by one Go program.

This is the file users load for rules and providers:

```starlark
load("@rules_imagewriter//rules:defs.bzl", "ImageLayerInfo", "ImageManifestInfo")
```

Setup lives elsewhere: `MODULE.bazel` users need only `bazel_dep(name = "rules_imagewriter")`
(the default toolchain builds `imagewriter` from source with rules_go); WORKSPACE users call
the macros in `repositories.bzl`.

Every action runs `imagewriter`, found through the toolchain type
`@rules_imagewriter//rules:toolchain_type`; `imagewriter_toolchain` declares a binary as one.
"""

load(
    "//rules/private:providers.bzl",
    _ImageIndexInfo = "ImageIndexInfo",
    _ImageLayerInfo = "ImageLayerInfo",
    _ImageManifestInfo = "ImageManifestInfo",
)
load(
    "//rules/private:toolchain.bzl",
    _TOOLCHAIN_TYPE = "TOOLCHAIN_TYPE",
    _imagewriter_toolchain = "imagewriter_toolchain",
)

ImageIndexInfo = _ImageIndexInfo
ImageLayerInfo = _ImageLayerInfo
ImageManifestInfo = _ImageManifestInfo

TOOLCHAIN_TYPE = _TOOLCHAIN_TYPE

imagewriter_toolchain = _imagewriter_toolchain
