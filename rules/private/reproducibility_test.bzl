"""`image_reproducibility_test`: re-runs an image's layer actions twice inside a test, under
changed conditions, and fails when a layer comes out different."""

load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "TOOLCHAIN_TYPE")

_DOC = """Proves that an image's layers are reproducible: `bazel test` re-runs each
`imagewriter layer` action the image depends on with `imagewriter rebuild-check`, twice, in
fresh copies of its inputs under conditions that must not matter (umask, TZ, GOMAXPROCS,
LANG, input mtimes and modes, directory order, the checkout's path; docs/diff.md), and
checks that both rounds give the bytes the build gave.

```starlark
image_reproducibility_test(
    name = "app_reproducibility_test",
    image = ":app",          # an image or an image_index
)
```

A failure prints `imagewriter diff`'s explanation: which layer, which entry, which header
field (`usr/bin/app: mtime: … → 1970-01-01T00:00:00Z`).

What is re-run. The layer actions are where host state can leak into an image (source files,
their modes and mtimes, the sandbox's paths); the image, index and output actions compute from
layer metadata only. Every target reached from `image` through `layers`, `base`, `images` and
`image` that registered an `ImageWriterLayer` action (every `image_layer`, and any other rule
that runs `imagewriter layer` under that mnemonic) is replayed: its spec file exactly as the
action read it, its own flags (`--base-dir`, `--compression`, `--level`, ... with `--spec`,
`--output` and `--metadata` replaced), and its inputs. The inputs and the build's outputs are
placed in the test's runfiles at their execution-root paths (under
`<name>.execroot/`), so the spec's paths resolve in each round's copy exactly as they did in
the action's sandbox. Layers of imported bases (pulled or archives) were not built here and
are not checked.

Costs: each round copies the layers' inputs (`--dereference`), so the test reads them about
three times; layers with identical flags share one `rebuild-check` call. Listing the inputs
flattens them at analysis time (the test's runfiles are a map of them), once per test.
"""

ImageWriterLayerActionInfo = provider(
    doc = """The `ImageWriterLayer` actions a target depends on, collected by
`image_reproducibility_test`'s aspect.""",
    fields = {
        "layers": """list of struct(label, argv, inputs, outputs): for each layer action, the
owning target's label, the action's command line (list of string), its inputs (depset of
File) and outputs (list of File). A layer reached twice is listed twice.""",
    },
)

# The attributes of image, image_index (and image_layer) through which layers are reached.
_EDGES = ["layers", "base", "images", "image"]

def _targets(value):
    if value == None:
        return []
    if type(value) == "list":
        return value
    if type(value) == "dict":
        return value.values()
    return [value]

def _layer_actions_aspect_impl(target, ctx):
    layers = []
    for action in target.actions:
        if action.mnemonic == "ImageWriterLayer":
            layers.append(struct(
                label = target.label,
                argv = action.argv,
                inputs = action.inputs,
                outputs = action.outputs.to_list(),
            ))
    for name in _EDGES:
        for dep in _targets(getattr(ctx.rule.attr, name, None)):
            if type(dep) == "Target" and ImageWriterLayerActionInfo in dep:
                layers.extend(dep[ImageWriterLayerActionInfo].layers)
    return [ImageWriterLayerActionInfo(layers = layers)]

_layer_actions_aspect = aspect(
    implementation = _layer_actions_aspect_impl,
    attr_aspects = _EDGES,
    doc = "Collects the `ImageWriterLayer` actions of an image's layers (argv, inputs, outputs).",
)

# imagewriter layer flags that name the request and the outputs: the test gives its own.
_REPLACED = ["--spec", "--output", "-o", "--metadata"]

def replay_flags(argv, what):
    """Splits an `imagewriter layer` command line into what rebuild-check replaces and the rest.

    Args:
      argv: the action's argv: the executable, `layer`, then flags.
      what: the target the action belongs to, for error messages.

    Returns:
      struct(spec, output, metadata, flags): the execution-root paths of the spec, blob and
      metadata, and the other flags, in order.
    """
    if len(argv) < 2 or argv[1] != "layer":
        fail("%s: an ImageWriterLayer action whose command is not `imagewriter layer`: %r" % (what, argv[:2]))
    found = {}
    flags = []
    i = 2
    for _ in range(len(argv)):
        if i >= len(argv):
            break
        a = argv[i]
        name, eq, value = a.partition("=")
        if a in _REPLACED:
            if i + 1 >= len(argv):
                fail("%s: %s without a value in %r" % (what, a, argv))
            found[a] = argv[i + 1]
            i += 2
        elif eq and name in _REPLACED:
            found[name] = value
            i += 1
        else:
            flags.append(a)
            i += 1
    if "-o" in found:
        found["--output"] = found.pop("-o")
    if "--spec" not in found or "--output" not in found:
        fail("%s: no --spec or --output in the layer action's command line %r" % (what, argv))
    return struct(
        spec = found["--spec"],
        output = found["--output"],
        metadata = found.get("--metadata", found["--output"] + ".json"),
        flags = flags,
    )

_SCRIPT_HEAD = """\
#!/usr/bin/env bash
# Generated by image_reproducibility_test for {label}.
set -uo pipefail
runfiles=${{RUNFILES_DIR:-${{TEST_SRCDIR:-$0.runfiles}}}}
iw=$runfiles/{imagewriter}
root=$runfiles/{root}
export TMPDIR=${{TEST_TMPDIR:-${{TMPDIR:-/tmp}}}}
failed=()
check() {{
    local what=$1
    shift
    echo "=== $what"
    "$iw" rebuild-check --root "$root" --dereference "$@"
    local status=$?
    if [[ $status -ne 0 ]]; then
        echo "--- NOT reproducible (exit status $status): $what"
        failed+=("$what")
    fi
}}
"""

_SCRIPT_TAIL = """\
if [[ ${{#failed[@]}} -ne 0 ]]; then
    echo "image_reproducibility_test {label}: ${{#failed[@]}} of {groups} rebuild-check calls failed:" >&2
    printf '  %s\\n' "${{failed[@]}}" >&2
    exit 1
fi
echo "image_reproducibility_test {label}: {layers} layers reproducible"
"""

def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

def _image_reproducibility_test_impl(ctx):
    toolchain = ctx.toolchains[TOOLCHAIN_TYPE]
    target = ctx.attr.image
    if ImageManifestInfo not in target and ImageIndexInfo not in target:
        fail("image: %s is neither an image nor an image_index" % target.label)
    layers = {}
    for layer in target[ImageWriterLayerActionInfo].layers:
        layers[" ".join(layer.argv)] = layer
    if not layers:
        fail("image: %s has no layer built by an ImageWriterLayer action: nothing to check" % target.label)

    prefix = ctx.label.name + ".execroot"
    symlinks = {}  # execution-root path -> File, placed at $RUNFILES_DIR/<prefix>/<path>
    groups = {}  # flags joined -> list of (label, spec, expect)
    group_flags = {}
    for key in sorted(layers):
        layer = layers[key]
        what = str(layer.label)
        r = replay_flags(layer.argv, what)
        executable = layer.argv[0]
        for f in layer.inputs.to_list():
            if f.path != executable:
                symlinks[f.path] = f
        outputs = {f.path: f for f in layer.outputs}
        for p in [r.output, r.metadata]:
            if p not in outputs:
                fail("%s: %s is not an output of its layer action" % (what, p))
            symlinks[p] = outputs[p]
        if r.spec not in symlinks:
            fail("%s: the spec %s is not an input of its layer action" % (what, r.spec))
        g = "\n".join(r.flags)

        # The label alone is ambiguous in an index: one layer target, built per platform.
        groups.setdefault(g, []).append(("%s (%s)" % (what, r.output), r))
        group_flags[g] = r.flags

    lines = [_SCRIPT_HEAD.format(
        label = str(ctx.label),
        imagewriter = _runfiles_path(ctx, toolchain.imagewriter),
        root = prefix,
    )]
    for g in sorted(groups):
        members = groups[g]
        call = ["check", _quote(", ".join([w for w, _ in members]))]
        for _, r in members:
            call.extend(["--layer-spec", '"$root/"' + _quote(r.spec)])
            call.extend(["--expect", '"$root/"%s"=$root/"%s' % (_quote(r.metadata), _quote(r.output))])
        call.append("--")
        call.extend([_quote(f) for f in group_flags[g]])
        lines.append(" \\\n    ".join(call) + "\n")
    lines.append(_SCRIPT_TAIL.format(label = str(ctx.label), groups = len(groups), layers = len(layers)))

    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, "".join(lines), is_executable = True)
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(
            files = [toolchain.imagewriter],
            root_symlinks = {prefix + "/" + p: f for p, f in symlinks.items()},
        ),
    )]

def _runfiles_path(ctx, f):
    if f.short_path.startswith("../"):
        return f.short_path[len("../"):]
    return ctx.workspace_name + "/" + f.short_path

image_reproducibility_test = rule(
    implementation = _image_reproducibility_test_impl,
    doc = _DOC,
    attrs = {
        "image": attr.label(
            doc = "The `image` or `image_index` whose layers to rebuild.",
            mandatory = True,
            aspects = [_layer_actions_aspect],
        ),
    },
    test = True,
    toolchains = [TOOLCHAIN_TYPE],
)
