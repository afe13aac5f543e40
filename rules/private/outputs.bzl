"""The `ImageWriterOutput` action: an image or an index as a layout directory or an archive."""

load(":helpers.bzl", "new_args")

# Output forms: imagewriter's --format value.
FORMATS = struct(
    docker_archive = "docker-archive",
    layout = "oci",
    oci_archive = "oci-archive",
)

_WHAT = {
    "docker-archive": "Docker archive",
    "oci": "OCI layout",
    "oci-archive": "OCI archive",
}

def write_output(ctx, toolchain, out, format, manifests, index_metadata = None, tag = "", stamp_files = []):
    """Registers one `imagewriter output` action.

    Layer blobs are hard-linked into a layout directory (and streamed into archives): the
    action reads only the metadata files and the blobs of imported bases.

    Args:
      ctx: the rule context.
      toolchain: the imagewriter toolchain.
      out: the output, a File (archives) or a directory (layouts, `declare_directory`).
      format: one of `FORMATS`.
      manifests: list of ImageManifestInfo: the image, or every image of the index.
      index_metadata: File, the index metadata when writing an index; None for an image.
      tag: "repository[:tag]" naming the output ("" for none); may hold `{KEY}` placeholders
        when `stamp_files` are given.
      stamp_files: the workspace status files to stamp `tag` from.
    """
    args = new_args(ctx, "output")
    inputs = []
    if index_metadata:
        args.add("--index", index_metadata)
        inputs.append(index_metadata)
    else:
        args.add("--image", manifests[0].metadata)
        inputs.append(manifests[0].metadata)
    seen = {}
    base_blobs = []
    for m in manifests:
        for layer in m.all_layers:
            if layer.metadata.path in seen:
                continue
            seen[layer.metadata.path] = True
            args.add("--layer", "%s=%s" % (layer.metadata.path, layer.blob.path))
            inputs.append(layer.metadata)
            inputs.append(layer.blob)
        base_blobs.append(m.base_blobs)
    bases = depset(transitive = base_blobs)
    args.add_all(bases, before_each = "--base-layout", expand_directories = False)
    args.add("--format", format)
    if tag:
        args.add("--tag", tag)
    for f in stamp_files:
        args.add("--stamp-file", f)
    args.add("--output", out.path)
    ctx.actions.run(
        mnemonic = "ImageWriterOutput",
        progress_message = "Writing %s %s for %s" % (_WHAT[format], out.short_path, ctx.label),
        executable = toolchain.files_to_run,
        arguments = [args],
        inputs = depset(inputs + stamp_files, transitive = [bases]),
        outputs = [out],
    )
