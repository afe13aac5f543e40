"""`imagewriter_host_toolchain`: builds `imagewriter` with the host's `go`, in repository rules.

For WORKSPACE users, and for Bazel versions rules_go does not support (Debian's Bazel 4.2.3
with Go 1.26): the binary is built outside any action, and a repository declares it as a
toolchain. Two repositories do it:

- `@<name>_sources` (`_imagewriter_host_sources`, `local = True`) finds `go`, asks it for the
  Go version and host platform, and lists with `go list` every file the build may read:
  `sources.txt` and `go.json`.
- `@<name>` (`_imagewriter_host_build`) watches each file in `sources.txt`, runs `go build`,
  and holds the binary and the `toolchain()`.

Reproducibility. The binary comes out byte-identical from any checkout path and any user:
`CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-buildid=`, for the host's GOOS and
GOARCH, with the build-affecting Go settings fixed (GOFLAGS, GOAMD64 and friends). Actions that
run it keep their cache keys across checkouts and across machines with the same Go version, so
`--disk_cache` or a remote cache is shared. Still inputs: the Go version (it is in the binary)
and GOEXPERIMENT.

When it is rebuilt. `@<name>` re-runs `go build` when one of its inputs changes:

- a file in `sources.txt`: the `.go`, `.s`, `.syso` and embedded files of every package the
  binary imports, and of every package matching `watch` (default `./pkg/...` and
  `./tools/...`, so a new import of an existing package is covered), plus `go.sum` and
  `vendor/modules.txt`. Each is read through a label, which makes it a tracked input both
  within a server's life and across restarts;
- `go.json` (the `go` command's path, the Go version, the host platform);
- the environment variables in `_ENV` (the `environ` list: PATH, GOROOT, GOPROXY, ...) or the
  attributes.

The file list itself can go stale: a new file in an existing package, or a new package. On
Bazel 7.1 or later `@<name>_sources` watches every listed package directory
(`repository_ctx.watch`) and notices at once. Bazel 4.2.3 cannot watch a directory: there
`@<name>_sources` is `local = True`, so it lists again at the first build after every server
start (one `go list`, well under a second), and `@<name>` rebuilds only if the list, the Go
version or a file changed. Within a running 4.2.3 server, a new file no tracked file mentions
is missed until `bazel sync --only=<name>_sources` or a server restart. Why two repositories:
4.2.3 restarts a repository function from the top for each newly watched file, so the
function that watches must do nothing slow before it; `@<name>` only reads `sources.txt`
there, and the slow listing happens once, in `@<name>_sources`.

Network: `go` uses the host's module cache (`GOMODCACHE`, by default `$GOPATH/pkg/mod`, that is
`$HOME/go/pkg/mod`), the host's build cache (`GOCACHE`), and `GOPROXY` for modules missing from
the cache, as it does on the host; HOME and the rest come from the client's environment.
`--repo_env=GOPROXY=off` forbids downloads. The module graph is never changed
(`-mod=readonly`, or `-mod=vendor` with a vendor directory), so `go.sum` is always checked.
Hosts: Unix-like (it runs `go` and reads paths with `/`).
"""

# Environment variables that change what `go` does here: a change re-runs both rules.
_ENV = [
    "GOCACHE",
    "GOENV",
    "GOEXPERIMENT",
    "GOINSECURE",
    "GOMODCACHE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOPATH",
    "GOPRIVATE",
    "GOPROXY",
    "GOROOT",
    "GOSUMDB",
    "GOTOOLCHAIN",
    "HOME",
    "PATH",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
]

# Go settings fixed whatever the host environment or `go env -w` says, because they change the
# binary's bytes. GOOS, GOARCH and GOFLAGS are set separately.
_FIXED_GO_ENV = {
    "CGO_ENABLED": "0",
    "GO386": "sse2",
    "GOAMD64": "v1",
    "GOARM": "7",
    "GOARM64": "v8.0",
    "GOMIPS": "hardfloat",
    "GOMIPS64": "hardfloat",
    "GOPPC64": "power8",
    "GORISCV64": "rva20u64",
}

# GOHOSTOS / GOHOSTARCH to @platforms constraints, for the toolchain's exec_compatible_with.
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
    "arm": "@platforms//cpu:armv7",
    "arm64": "@platforms//cpu:aarch64",
    "ppc64le": "@platforms//cpu:ppc",
    "riscv64": "@platforms//cpu:riscv64",
    "s390x": "@platforms//cpu:s390x",
}

# For every package outside the standard library: the files of it a build may read (those
# excluded by build constraints too, since editing one may include it), then "dir:" and its
# directory. `-e` lists broken packages too; `go build` reports their errors.
_LIST_TEMPLATE = """{{if not .Standard}}{{$d := .Dir}}\
{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}
{{end}}{{range .SFiles}}{{$d}}/{{.}}
{{end}}{{range .SysoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}dir:{{$d}}
{{end}}"""

_SOURCES_BUILD = """\
# Generated by imagewriter_host_toolchain ({rule_file}). Do not edit.
exports_files(
    ["go.json", "sources.txt"],
    visibility = ["//visibility:public"],
)
"""

_TOOLCHAIN_BUILD = """\
# Generated by imagewriter_host_toolchain ({rule_file}). Do not edit.
load("{toolchain_bzl}", "imagewriter_toolchain")

package(default_visibility = ["//visibility:public"])

exports_files(["imagewriter"])

imagewriter_toolchain(
    name = "imagewriter_toolchain",
    imagewriter = "imagewriter",
)

toolchain(
    name = "toolchain",
    exec_compatible_with = {exec_compatible_with},
    toolchain = ":imagewriter_toolchain",
    toolchain_type = "{toolchain_type}",
)
"""

_GO_MOD_DOC = """The `go.mod` of the module to build; `go` runs in its directory, and each source
file is watched as a label in this file's package."""

_PACKAGE_DOC = "The main package to build, relative to `go_mod`'s directory."

def _fail(msg):
    fail("imagewriter_host_toolchain: " + msg)

def _env(rctx, key):
    return rctx.os.environ.get(key, "")

def _run(rctx, what, args, env, working_directory):
    result = rctx.execute(
        args,
        environment = env,
        working_directory = working_directory,
        quiet = True,
        # A cold `go build` may download and compile every dependency.
        timeout = 3600,
    )
    if result.return_code != 0:
        _fail("%s: exit status %d\n%s%s" % (what, result.return_code, result.stdout, result.stderr))
    return result.stdout

def _label_string(label):
    # str(Label) is "//pkg:name" for the main repository on Bazel 4.2.3, which a BUILD file in
    # a generated repository would read as its own; make it absolute.
    s = str(label)
    if s.startswith("//"):
        s = "@" + s
    return s

def _find_go(rctx):
    if rctx.attr.go:
        go = rctx.path(rctx.attr.go)
        if not go.exists:
            _fail("go = %r does not exist" % rctx.attr.go)
        return go
    go = rctx.which("go")
    if go:
        return go
    candidates = []
    if _env(rctx, "GOROOT"):
        candidates.append(_env(rctx, "GOROOT") + "/bin/go")
    candidates.append("/usr/local/go/bin/go")
    for candidate in candidates:
        go = rctx.path(candidate)
        if go.exists:
            return go
    _fail("no `go` command: not on PATH, not at %s; set PATH or the `go` attribute" % ", ".join(candidates))
    return None

def _go_env(rctx, vendored):
    """The environment for `go`: the client's, with the build-affecting settings fixed."""

    # Say it clearly here rather than deep inside `go`, which needs HOME for its caches
    # unless GOPATH/GOMODCACHE (and GOCACHE) say where they are.
    if not _env(rctx, "HOME") and not (_env(rctx, "GOMODCACHE") or _env(rctx, "GOPATH")):
        _fail("HOME is not set, and neither is GOPATH nor GOMODCACHE: `go` needs a module cache")
    env = dict(_FIXED_GO_ENV)

    # No GOFLAGS from the host (-race, -tags, -mod=mod, ...): the sources and go.sum decide.
    env["GOFLAGS"] = "-mod=vendor" if vendored else "-mod=readonly"
    return env

def _imagewriter_host_sources_impl(rctx):
    srcdir = rctx.path(rctx.attr.go_mod).dirname
    go = _find_go(rctx)
    vendored = rctx.path(str(srcdir) + "/vendor/modules.txt").exists
    env = _go_env(rctx, vendored)

    # GOMOD is go.mod's path as `go` sees it, symlinks resolved: the prefix of what `go list`
    # prints, which differs from srcdir when the module is a local_repository (a symlink).
    host = _run(rctx, "go env", [go, "env", "GOHOSTOS", "GOHOSTARCH", "GOVERSION", "GOMOD"], env, str(srcdir)).splitlines()
    if len(host) != 4 or not host[3].endswith("/go.mod"):
        _fail("go env GOHOSTOS GOHOSTARCH GOVERSION GOMOD in %s printed %r" % (srcdir, host))
    goos, goarch, goversion, gomod = host
    env["GOOS"] = goos
    env["GOARCH"] = goarch

    patterns = [rctx.attr.package] + rctx.attr.watch
    listing = _run(
        rctx,
        "go list " + " ".join(patterns),
        [go, "list", "-e", "-deps", "-f", _LIST_TEMPLATE] + patterns,
        env,
        str(srcdir),
    )

    # Keep what is inside the module. Outside it are the module cache (immutable, and pinned by
    # go.sum) and the directories of replace directives (not watched).
    prefix = gomod[:-len("go.mod")]
    files = {"go.sum": True}
    if vendored:
        files["vendor/modules.txt"] = True
    for line in listing.splitlines():
        if line.startswith("dir:"):
            directory = line[len("dir:"):] + "/"

            # Bazel 7.1+: a new file in a listed package re-runs this rule.
            if hasattr(rctx, "watch") and directory.startswith(prefix):
                rctx.watch(str(srcdir) + "/" + directory[len(prefix):])
        elif line.startswith(prefix):
            files[line[len(prefix):]] = True

    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name, executable = False)
    rctx.file("BUILD.bazel", _SOURCES_BUILD.format(
        rule_file = _label_string(Label("//rules/private:host_build.bzl")),
    ), executable = False)
    rctx.file("sources.txt", "".join([f + "\n" for f in sorted(files)]), executable = False)
    rctx.file("go.json", json.encode({
        "go": str(go),
        "goarch": goarch,
        "goflags": env["GOFLAGS"],
        "goos": goos,
        "version": goversion,
    }) + "\n", executable = False)

_imagewriter_host_sources = repository_rule(
    implementation = _imagewriter_host_sources_impl,
    doc = """Lists the files `go build` of `package` may read, and describes the host's `go`.

Holds `sources.txt` (paths relative to `go_mod`'s directory, one per line, sorted) and
`go.json` (`go`: the command's path, `version`, `goos`, `goarch`, `goflags`). Part of
`imagewriter_host_toolchain`.""",
    attrs = {
        "go": attr.string(
            doc = """Absolute path of the `go` command. Empty: `go` on PATH, then
`$GOROOT/bin/go`, then `/usr/local/go/bin/go`.""",
        ),
        "go_mod": attr.label(
            doc = _GO_MOD_DOC,
            default = Label("//:go.mod"),
            allow_single_file = True,
        ),
        "package": attr.string(
            doc = _PACKAGE_DOC,
            default = "./tools/imagewriter",
        ),
        "watch": attr.string_list(
            doc = """More package patterns (relative to `go_mod`'s directory) whose files are
watched besides `package`'s dependencies, so that a new import of one of them is seen at once.
Keep trees of generated or copied Go code out.""",
            default = [
                "./pkg/...",
                "./tools/...",
            ],
        ),
    },
    environ = _ENV,
    local = True,
)

def _same_package_label(label, name):
    # Label.same_package_label is Bazel 6.4+; 4.2.3 has Label.relative (deprecated later).
    if hasattr(label, "same_package_label"):
        return label.same_package_label(name)
    return label.relative(":" + name)

def _imagewriter_host_build_impl(rctx):
    # Nothing slow may come before the last newly watched file: on Bazel 4.2.3 each one
    # restarts this function from the top.
    srcdir = str(rctx.path(rctx.attr.go_mod).dirname)
    go = json.decode(rctx.read(rctx.attr.go_json))
    sources = rctx.read(rctx.attr.sources).splitlines()
    for rel in sources:
        # A file deleted since the listing is skipped: watching it would fail the rule. Its
        # deletion has already re-run this rule, and `go build` sees the tree as it is.
        if rctx.path(srcdir + "/" + rel).exists:
            rctx.path(_same_package_label(rctx.attr.go_mod, rel))

    env = _go_env(rctx, go["goflags"] == "-mod=vendor")
    env["GOOS"] = go["goos"]
    env["GOARCH"] = go["goarch"]
    rctx.report_progress("Building imagewriter with %s for %s/%s" % (go["version"], go["goos"], go["goarch"]))
    _run(
        rctx,
        "go build " + rctx.attr.package,
        [
            go["go"],
            "build",
            "-trimpath",
            "-buildvcs=false",
            "-ldflags=-buildid=",
            "-o",
            rctx.path("imagewriter"),
            rctx.attr.package,
        ],
        env,
        srcdir,
    )

    exec_compatible_with = []
    if go["goos"] in _OS_CONSTRAINTS:
        exec_compatible_with.append(_OS_CONSTRAINTS[go["goos"]])
    if go["goarch"] in _CPU_CONSTRAINTS:
        exec_compatible_with.append(_CPU_CONSTRAINTS[go["goarch"]])
    rctx.file("WORKSPACE", "workspace(name = %r)\n" % rctx.name, executable = False)
    rctx.file("BUILD.bazel", _TOOLCHAIN_BUILD.format(
        rule_file = _label_string(Label("//rules/private:host_build.bzl")),
        toolchain_bzl = _label_string(Label("//rules/private:toolchain.bzl")),
        toolchain_type = _label_string(Label("//rules:toolchain_type")),
        exec_compatible_with = repr(exec_compatible_with),
    ), executable = False)

_imagewriter_host_build = repository_rule(
    implementation = _imagewriter_host_build_impl,
    doc = """Builds `package` with the `go` that `go_json` names, watching every file in
`sources`, and declares the binary as the `imagewriter` toolchain. Part of
`imagewriter_host_toolchain`.""",
    attrs = {
        "go_json": attr.label(
            doc = "`go.json` of the matching `_imagewriter_host_sources` repository.",
            mandatory = True,
            allow_single_file = True,
        ),
        "go_mod": attr.label(
            doc = _GO_MOD_DOC,
            default = Label("//:go.mod"),
            allow_single_file = True,
        ),
        "package": attr.string(
            doc = _PACKAGE_DOC,
            default = "./tools/imagewriter",
        ),
        "sources": attr.label(
            doc = "`sources.txt` of the matching `_imagewriter_host_sources` repository.",
            mandatory = True,
            allow_single_file = True,
        ),
    },
    environ = _ENV,
)

def imagewriter_host_toolchain(name, go = "", go_mod = None, package = "./tools/imagewriter", watch = None):
    """Builds `imagewriter` from source with the host's `go` and declares it as a toolchain.

    Creates two repositories (see the top of `host_build.bzl` for why, and for when the binary
    is rebuilt):

    - `@<name>` holds `imagewriter` (the binary), `:imagewriter_toolchain` (an
      `imagewriter_toolchain`) and `:toolchain` (the `toolchain()` to register, for execution
      platforms of the host's OS and CPU);
    - `@<name>_sources` holds `sources.txt` (the watched files) and `go.json` (the `go`
      command, its version and the host platform).

    `rules_imagewriter_register_toolchains()` calls this and registers `@<name>//:toolchain`.

    Args:
      name: name of the toolchain repository.
      go: absolute path of the `go` command; empty: `go` on PATH, then `$GOROOT/bin/go`, then
        `/usr/local/go/bin/go`.
      go_mod: label of the module's `go.mod`; default rules_imagewriter's own.
      package: the main package to build, relative to `go_mod`'s directory.
      watch: more package patterns whose files are watched (default `./pkg/...` and
        `./tools/...`).
    """
    common = {"package": package}
    if go_mod != None:
        common["go_mod"] = go_mod
    sources_attrs = dict(common)
    if watch != None:
        sources_attrs["watch"] = watch
    _imagewriter_host_sources(
        name = name + "_sources",
        go = go,
        **sources_attrs
    )
    _imagewriter_host_build(
        name = name,
        go_json = "@%s_sources//:go.json" % name,
        sources = "@%s_sources//:sources.txt" % name,
        **common
    )
