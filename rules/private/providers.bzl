"""Providers passed between rules_imagewriter's rules.

Providers carry files and small, analysis-time metadata only. Digests, sizes and media types
are known only after an action has run, so they live in the JSON files named below, which
downstream actions read; no rule reads them during analysis, and no downstream action reads a
blob when a metadata file says enough.

The JSON files are written by `imagewriter` and their shape is part of its CLI contract: each
carries a `schemaVersion`, and a reader rejects versions it does not know.
"""

ImageLayerInfo = provider(
    doc = """One filesystem layer, built by one `imagewriter layer` action.

A layer knows nothing of the images it ends up in: the same `ImageLayerInfo` may be used by
several images, and by images for several platforms.""",
    fields = {
        "blob": """File: the layer blob exactly as it goes into a registry or layout (a tar stream,
compressed as `metadata` says). Only actions that copy blobs (layouts, archives, pushes) read it.""",
        "created_by": """string: the history `created_by` an image records for this layer; the empty
string means imagewriter's default (`imagewriter`).""",
        "metadata": """File: the layer metadata JSON, the versioned contract between actions. It holds
the blob's descriptor (`mediaType`, `digest`, `size`), the `diffID` (sha256 of the uncompressed
tar), the uncompressed size, and the compression algorithm, level and implementation version.""",
    },
)

ImageManifestInfo = provider(
    doc = """One single-platform image: an OCI image manifest, its config and its layers.

The image's layers are the base image's layers (described in `metadata`, with blobs in
`base_blobs` when they are local) followed by `layers`, in manifest order.""",
    fields = {
        "all_layers": """list of ImageLayerInfo: every layer of the image whose blob a rule built:
the base images' built layers (when the base is an `image` target, recursively) followed by
`layers`, in manifest order. The layers of an imported base are in `base_blobs` instead.""",
        "base_blobs": """depset of File: the files holding an imported base image's blobs (an OCI
layout directory or an archive), needed only by actions that write every blob out. Empty when
no base in the chain was imported.""",
        "config": """File: the image config JSON, exactly the bytes of the config blob (its sha256 is
the ImageID).""",
        "layers": """list of ImageLayerInfo: the layers this build added on top of the base image, in
manifest order. A list, not a depset: order is meaning, and a layer may appear twice.""",
        "manifest": """File: the image manifest JSON, exactly the bytes of the manifest blob.""",
        "metadata": """File: the image metadata JSON that downstream actions read instead of blobs:
the manifest's descriptor (`mediaType`, `digest`, `size`, `platform`), the config's descriptor,
and one descriptor per layer, base layers included, each with its `diffID`.""",
        "platform": """struct(os, architecture, variant): the platform the image is for, as OCI
spells it (`linux`, `arm64`, `v8`), taken from the target platform's constraints at analysis
time. `variant` is the empty string when the platform has none.""",
    },
)

ImageIndexInfo = provider(
    doc = """An OCI image index: several images, usually one per platform, under one digest.""",
    fields = {
        "index": """File: the image index JSON, exactly the bytes of the index blob. Its manifests
are in a stable order (sorted by platform), never the order of the build's configurations.""",
        "manifests": """list of ImageManifestInfo: the images the index names, in the index's
order.""",
        "metadata": """File: the index metadata JSON: the index's descriptor (`mediaType`, `digest`,
`size`) and each manifest's descriptor with its platform.""",
    },
)
