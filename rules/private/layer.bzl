"""`image_layer`: one filesystem layer, built by one `ImageWriterLayer` action."""

load(":helpers.bzl", "check_octal_mode", "clean_path", "new_args", "parse_owner")
load(":providers.bzl", "ImageLayerInfo")
load(":settings.bzl", "ImageWriterSettingInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")

_DOC = """One OCI layer: files, directories, symlinks, tars and whiteouts, written by one
`imagewriter layer` action into a reproducible tar blob (gzip, zstd or none) and its metadata.

Every mtime is the Unix epoch and every owner 0:0 unless set; file modes are 0644, or 0755
when the file is executable; directories 0755. Nothing of the checkout (path, user, umask,
mtimes) reaches the blob.

```starlark
image_layer(
    name = "app_layer",
    srcs = {
        ":app": "/usr/bin/app",            # a binary (add include_runfiles = True for its runfiles)
        "config.toml": "/etc/app/config.toml",
        ":static_files": "/srv/static",    # a tree artifact (declare_directory) or a filegroup
    },
    symlinks = {"/usr/local/bin/app": "/usr/bin/app"},
    empty_dirs = ["/var/lib/app"],
    modes = {"/etc/app/config.toml": "0600"},
    owners = {"/var/lib/app": "65532:65532"},
)
```

Outputs: `<name>.tar.gz` (or `.tar.zst`, `.tar`), the blob; `<name>.layer.json`, its
metadata; `<name>.spec.json`, the layer spec handed to imagewriter (docs/layer-spec.md).
"""

_EXTENSIONS = {"gzip": ".tar.gz", "none": ".tar", "zstd": ".tar.zst"}

_ATTRS = {
    "compression": attr.string(
        doc = """`gzip`, `zstd` or `none`. Empty (default): the build setting
`@rules_imagewriter//rules:compression` (default `gzip`).""",
    ),
    "compression_level": attr.int(
        doc = """gzip 1..9, zstd 1..22. 0 (default): the build setting
`@rules_imagewriter//rules:compression_level`, whose default 0 means the algorithm's own
default (gzip 6, zstd 3).""",
        default = 0,
    ),
    "create_parent_directories": attr.bool(
        doc = """Add a directory entry (mode `default_dir_mode`, owner `default_owner`) for every
missing parent of every path. Off by default: in an upper layer a generated parent would
replace the base image's directory metadata (a 1777 `/tmp` becoming 0755).""",
    ),
    "created_by": attr.string(
        doc = """The history `created_by` an image records for this layer. Empty (default):
`imagewriter`.""",
    ),
    "default_dir_mode": attr.string(
        doc = "Mode of every directory that sets none, including added parents. Default `0755`.",
    ),
    "default_mode": attr.string(
        doc = """Mode of every regular file that sets none. Empty (default): a source file is 0755
when executable in the checkout, else 0644; a generated file is 0755 when it is a target's
executable, else 0644; the files of a tree artifact and of runfiles keep the execute bit they
have on disk, which Bazel sets on every file it generates (so 0755 unless `modes` says
otherwise).""",
    ),
    "default_mtime": attr.string(
        doc = """mtime of every path that sets none: RFC 3339 or `@SECONDS`. Empty (default): the
Unix epoch.""",
    ),
    "default_owner": attr.string(
        doc = "`UID:GID` of every path that sets none. Empty (default): `0:0`.",
    ),
    "empty_dirs": attr.string_list(
        doc = "Directories to create, e.g. `[\"/var/lib/app\"]`, with the default directory mode and owner.",
    ),
    "hardlink_duplicates": attr.bool(
        doc = "Store regular files with identical bytes and metadata once, as hard links.",
    ),
    "include_runfiles": attr.bool(
        doc = """For each executable in `srcs` placed at DEST, also place its runfiles under
`DEST.runfiles/<workspace name>/...` (and `DEST.runfiles/<repo>/...` for other repositories),
the layout the runfiles libraries look for. Files of `default_runfiles` only: runfiles
symlinks and empty files (Python's `__init__.py`) are not written.""",
    ),
    "modes": attr.string_dict(
        doc = """In-image path → octal mode (`{"/usr/bin/app": "0755"}`), for any path of the layer,
including paths inside trees and tars. A path the layer does not hold is an error.""",
    ),
    "mtimes": attr.string_dict(
        doc = "In-image path → mtime (RFC 3339 or `@SECONDS`), like `modes`.",
    ),
    "opaque_dirs": attr.string_list(
        doc = """Directories whose lower-layer contents are hidden (`DIR/.wh..wh..opq`): the
directory looks empty but for what this layer puts in it.""",
    ),
    "owners": attr.string_dict(
        doc = "In-image path → `UID:GID`, like `modes`.",
    ),
    "srcs": attr.label_keyed_string_dict(
        doc = """Label → destination path in the image.

- one file: the file at the destination (symlinks are followed: the layer holds the bytes);
- an executable target (`*_binary`): its executable at the destination, plus its runfiles
  with `include_runfiles`;
- a directory (a tree artifact from `ctx.actions.declare_directory`): its contents under the
  destination (`"/"` puts them at the image root);
- several files (a `filegroup`): each at `DEST/<basename>`.

Destinations are cleaned (`/a//b/./c` is `a/b/c`) and may not climb out of the root (`../x`);
two sources for one destination are an error.""",
        allow_files = True,
    ),
    "symlinks": attr.string_dict(
        doc = """In-image path → symlink target, stored verbatim (`{"/usr/bin/sh": "busybox"}`);
the target is resolved inside the container at run time.""",
    ),
    "tars": attr.label_list(
        doc = """Tar files (plain, gzip or zstd) whose members are added at the image root,
re-normalized (mtimes reset, owner names dropped, numeric owners and modes kept).""",
        allow_files = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"],
    ),
    "whiteouts": attr.string_list(
        doc = """Paths to delete from the layers below (`.wh.NAME` markers): `[\"/etc/old.conf\"]`.""",
    ),
    "_compression": attr.label(
        doc = "The repository-wide default of `compression`.",
        default = Label("//rules:compression"),
        providers = [ImageWriterSettingInfo],
    ),
    "_compression_level": attr.label(
        doc = "The repository-wide default of `compression_level`.",
        default = Label("//rules:compression_level"),
        providers = [ImageWriterSettingInfo],
    ),
}

def _dest(attr_name, path, allow_root = False):
    cleaned, problem = clean_path(path, allow_root = allow_root)
    if problem:
        fail("%s: destination %r %s" % (attr_name, path, problem))
    return cleaned

def _attributes(ctx):
    """The spec's `attributes`: per-path mode, owner and mtime."""
    out = {}
    for attr_name, values in [("modes", ctx.attr.modes), ("owners", ctx.attr.owners), ("mtimes", ctx.attr.mtimes)]:
        for path, value in values.items():
            p = "/" + _dest(attr_name, path)
            a = out.setdefault(p, {})
            what = "%s[%r]" % (attr_name, path)
            if attr_name == "modes":
                check_octal_mode(value, what)
                a["mode"] = value
            elif attr_name == "owners":
                a["uid"], a["gid"] = parse_owner(value, what)
            else:
                a["mtime"] = value
    return out

def _defaults(ctx):
    d = {}
    if ctx.attr.default_mode:
        check_octal_mode(ctx.attr.default_mode, "default_mode")
        d["fileMode"] = ctx.attr.default_mode
    if ctx.attr.default_dir_mode:
        check_octal_mode(ctx.attr.default_dir_mode, "default_dir_mode")
        d["dirMode"] = ctx.attr.default_dir_mode
    if ctx.attr.default_owner:
        d["uid"], d["gid"] = parse_owner(ctx.attr.default_owner, "default_owner")
    if ctx.attr.default_mtime:
        d["mtime"] = ctx.attr.default_mtime
    return d

def _claim(claimed, dest, what):
    if dest in claimed:
        fail("two sources for one destination /%s: %s and %s" % (dest, claimed[dest], what))
    claimed[dest] = what

def _file_entry(path, f, executable, default_mode):
    """A spec entry for one file or directory at `path`.

    Bazel marks every file it generates executable, so the on-disk execute bit means something
    for source files only: a generated file gets 0755 when it is a target's executable and 0644
    otherwise, unless `default_mode` is set. A tree artifact's files keep their disk bits (0755
    when generated): set `default_mode` or `modes` for them.
    """
    if f.is_directory:
        return {"followSymlinks": True, "path": "/" + path, "source": f.path, "type": "tree"}
    entry = {"path": "/" + path, "source": f.path, "type": "file"}
    if not f.is_source and not default_mode:
        entry["mode"] = "0755" if executable else "0644"
    return entry

# Runfiles are written by map_each at execution time, never flattened during analysis. Each
# becomes `,{"path":"<DEST>.runfiles/<workspace>/` (format_each) + what this returns; a short
# path of another repository ("../repo/x") is cleaned by imagewriter to "<DEST>.runfiles/repo/x".
def _runfile_entry(f):
    tail = json.encode(f.short_path)[1:] + ',"source":' + json.encode(f.path)
    if f.is_directory:
        return tail + ',"type":"tree","followSymlinks":true}'
    return tail + ',"type":"file"}'

def _image_layer_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]

    compression = ctx.attr.compression or ctx.attr._compression[ImageWriterSettingInfo].value
    level = ctx.attr.compression_level or ctx.attr._compression_level[ImageWriterSettingInfo].value
    if compression not in _EXTENSIONS:
        fail("compression: %r is not one of gzip, zstd, none (or empty for the build setting's)" % compression)
    if level < 0 or (compression == "gzip" and level > 9) or (compression == "zstd" and level > 22):
        fail("compression_level: %d is out of range for %s (gzip 1..9, zstd 1..22)" % (level, compression))

    # destination -> what claims it, to report two sources for one destination.
    claimed = {}

    entries = []
    inputs = []
    runfiles_groups = []  # (destination, depset of File)
    for target, raw_dest in ctx.attr.srcs.items():
        what = "srcs[%s]" % target.label
        files_to_run = target[DefaultInfo].files_to_run
        executable = files_to_run.executable if files_to_run else None
        if executable != None and executable.is_source:
            executable = None  # a source file labelled directly is a file, not a binary
        if executable != None:
            files = [executable]
        else:
            files = target[DefaultInfo].files.to_list()
        if not files:
            fail("srcs: %s provides no files" % target.label)
        if len(files) == 1:
            dest = _dest("srcs", raw_dest, allow_root = files[0].is_directory)
            _claim(claimed, dest, what)
            if dest == "" and files[0].is_directory:
                entries.append({"followSymlinks": True, "path": "/", "source": files[0].path, "type": "tree"})
            else:
                entries.append(_file_entry(dest, files[0], executable != None, ctx.attr.default_mode))
        else:
            base = _dest("srcs", raw_dest, allow_root = True)
            for f in files:
                dest = (base + "/" + f.basename) if base else f.basename
                _claim(claimed, dest, "%s (%s)" % (what, f.short_path))
                entries.append(_file_entry(dest, f, False, ctx.attr.default_mode))
        inputs.extend(files)
        if executable != None and ctx.attr.include_runfiles:
            dest = _dest("srcs", raw_dest)
            runfiles = target[DefaultInfo].default_runfiles
            if runfiles:
                _claim(claimed, dest + ".runfiles", what + " runfiles")
                runfiles_groups.append((dest, runfiles.files))

    for path, link_target in ctx.attr.symlinks.items():
        dest = _dest("symlinks", path)
        _claim(claimed, dest, "symlinks[%r]" % path)
        if not link_target:
            fail("symlinks[%r]: empty target" % path)
        entries.append({"path": "/" + dest, "target": link_target, "type": "symlink"})
    for path in ctx.attr.empty_dirs:
        dest = _dest("empty_dirs", path)
        _claim(claimed, dest, "empty_dirs[%r]" % path)
        entries.append({"path": "/" + dest, "type": "dir"})
    for path in ctx.attr.whiteouts:
        dest = _dest("whiteouts", path)
        _claim(claimed, dest, "whiteouts[%r]" % path)
        entries.append({"path": "/" + dest, "type": "whiteout"})
    for path in ctx.attr.opaque_dirs:
        dest = _dest("opaque_dirs", path)
        entries.append({"path": "/" + dest, "type": "opaque"})
    for f in ctx.files.tars:
        entries.append({"source": f.path, "type": "tar"})
        inputs.append(f)

    header = {}
    attributes = _attributes(ctx)
    if attributes:
        header["attributes"] = attributes
    if ctx.attr.create_parent_directories:
        header["createParentDirectories"] = True
    defaults = _defaults(ctx)
    if defaults:
        header["defaults"] = defaults
    if ctx.attr.hardlink_duplicates:
        header["hardlinkDuplicates"] = True

    # The spec, one JSON document over several lines: the header's fields, then "entries" with
    # one entry per line, the runfiles ones written at execution time by map_each.
    spec_lines = ctx.actions.args()
    spec_lines.set_param_file_format("multiline")
    opening = json.encode(header)[:-1]
    spec_lines.add(opening + ("," if header else "") + '"entries":[')
    for i, e in enumerate(entries):
        spec_lines.add(("," if i else "") + json.encode(e))
    for dest, files in runfiles_groups:
        prefix = json.encode(dest + ".runfiles/" + ctx.workspace_name + "/")[:-1]
        spec_lines.add_all(
            files,
            map_each = _runfile_entry,
            format_each = (',{"path":' + prefix).replace("%", "%%") + "%s",
            expand_directories = False,
        )
        inputs.append(files)
    spec_lines.add("]}")
    spec = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    ctx.actions.write(spec, spec_lines)

    blob = ctx.actions.declare_file(ctx.label.name + _EXTENSIONS[compression])
    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    args = new_args(ctx, "layer")
    args.add("--spec", spec)
    args.add("--base-dir", ".")
    args.add("--compression", compression)
    if level:
        args.add("--level", str(level))
    args.add("--output", blob)
    args.add("--metadata", metadata)

    direct = [spec] + [i for i in inputs if type(i) != "depset"]
    transitive = [i for i in inputs if type(i) == "depset"]
    ctx.actions.run(
        mnemonic = "ImageWriterLayer",
        progress_message = "Writing layer %s" % ctx.label,
        executable = toolchain.files_to_run,
        arguments = [args],
        inputs = depset(direct, transitive = transitive),
        outputs = [blob, metadata],
    )
    return [
        DefaultInfo(files = depset([blob, metadata])),
        ImageLayerInfo(blob = blob, metadata = metadata, created_by = ctx.attr.created_by),
    ]

image_layer = rule(
    implementation = _image_layer_impl,
    doc = _DOC,
    attrs = _ATTRS,
    toolchains = [TOOLCHAIN_TYPE],
)
