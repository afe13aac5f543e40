"""rules_imagewriter: reproducible OCI images from Bazel, written by one Go program.

This is the file users load for rules and providers:

```starlark
load(
    "@rules_imagewriter//rules:defs.bzl",
    "image",
    "image_index",
    "image_layer",
    "image_load",
    "image_test",
)
```

- `image_layer`: files, binaries (with their runfiles), tree artifacts, symlinks, tars and
  whiteouts → one layer blob and its metadata (one `ImageWriterLayer` action).
- `image`: a single-platform image over an optional base (one `ImageWriterImage` action),
  written as an OCI layout directory, and on request an OCI archive or a Docker archive (one
  `ImageWriterOutput` action each).
- `image_index`: a multi-platform index, from images or from one `image` built for several
  `platforms` by a split transition (one `ImageWriterIndex` action).
- `image_load`: `bazel run` loads an image into docker or podman.
- `image_test`: `imagewriter verify`, then expectations on files and config.
- `image_push`: `bazel run` pushes an image or index to a registry (stampable repository and
  tags); base images come from `imagewriter_pull` (repositories.bzl) or the `pull` module
  extension (extensions.bzl).
- `image_reproducibility_test`: re-runs an image's layer actions twice under changed conditions
  (`imagewriter rebuild-check`) and fails on any difference.

docs/bazel.md documents every attribute, with setup for MODULE.bazel and WORKSPACE. Setup
lives elsewhere: `MODULE.bazel` users need only `bazel_dep(name = "rules_imagewriter")` (the
default toolchain builds `imagewriter` from source with rules_go); WORKSPACE users call the
macros in `repositories.bzl`.

Every action runs `imagewriter`, found through the toolchain type
`@rules_imagewriter//rules:toolchain_type`; `imagewriter_toolchain` declares a binary as one.
Repository-wide defaults are build settings: `--@rules_imagewriter//rules:compression=zstd`,
`--@rules_imagewriter//rules:compression_level=N`.
"""

load("//rules/private:image.bzl", _image = "image")
load("//rules/private:image_test.bzl", _image_test = "image_test")
load("//rules/private:index.bzl", _image_index = "image_index")
load("//rules/private:layer.bzl", _image_layer = "image_layer")
load("//rules/private:load.bzl", _image_load = "image_load")
load(
    "//rules/private:providers.bzl",
    _ImageIndexInfo = "ImageIndexInfo",
    _ImageLayerInfo = "ImageLayerInfo",
    _ImageManifestInfo = "ImageManifestInfo",
)
load("//rules/private:push.bzl", _image_push = "image_push")
load("//rules/private:reproducibility_test.bzl", _image_reproducibility_test = "image_reproducibility_test")
load(
    "//rules/private:toolchain.bzl",
    _TOOLCHAIN_TYPE = "TOOLCHAIN_TYPE",
    _imagewriter_toolchain = "imagewriter_toolchain",
)

image_layer = _image_layer
image = _image
image_index = _image_index
image_load = _image_load
image_test = _image_test

ImageIndexInfo = _ImageIndexInfo
ImageLayerInfo = _ImageLayerInfo
ImageManifestInfo = _ImageManifestInfo

TOOLCHAIN_TYPE = _TOOLCHAIN_TYPE

imagewriter_toolchain = _imagewriter_toolchain

# Registries and reproducibility (docs/bazel-registry.md).
image_push = _image_push
image_reproducibility_test = _image_reproducibility_test
