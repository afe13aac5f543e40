"""Build settings of rules_imagewriter: repository-wide defaults chosen on the command line.

`//rules:compression` and `//rules:compression_level` are the defaults of every `image_layer`
that sets no `compression` / `compression_level` itself:

```
bazel build --@rules_imagewriter//rules:compression=zstd //...
```

`//rules:stamp` tells rules whether `--stamp` is on (a `config_setting` on the `stamp` option),
which a target's own `stamp` attribute may override.

No bazel_skylib: Bazel 4.2.3 setups may not have it, and these are three small rules.
"""

ImageWriterSettingInfo = provider(
    doc = "The value of a rules_imagewriter build setting.",
    fields = {
        "value": "string, int or bool: the setting's value for this configuration.",
    },
)

def _string_setting_impl(ctx):
    value = ctx.build_setting_value
    if ctx.attr.values and value not in ctx.attr.values:
        fail("%s: %r is not one of: %s" % (ctx.label, value, ", ".join(ctx.attr.values)))
    return [ImageWriterSettingInfo(value = value)]

string_setting = rule(
    implementation = _string_setting_impl,
    doc = "A string build setting, settable with `--<label>=VALUE`, restricted to `values`.",
    build_setting = config.string(flag = True),
    attrs = {
        "values": attr.string_list(
            doc = "The values the setting may take; empty allows any.",
        ),
    },
)

def _int_setting_impl(ctx):
    value = ctx.build_setting_value
    if value < ctx.attr.min or value > ctx.attr.max:
        fail("%s: %d is not within %d..%d" % (ctx.label, value, ctx.attr.min, ctx.attr.max))
    return [ImageWriterSettingInfo(value = value)]

int_setting = rule(
    implementation = _int_setting_impl,
    doc = "An int build setting, settable with `--<label>=N`, within `min`..`max`.",
    build_setting = config.int(flag = True),
    attrs = {
        "max": attr.int(
            doc = "The largest value allowed.",
            default = 22,
        ),
        "min": attr.int(
            doc = "The smallest value allowed.",
            default = 0,
        ),
    },
)

def _stamp_detector_impl(ctx):
    return [ImageWriterSettingInfo(value = ctx.attr.enabled)]

stamp_detector = rule(
    implementation = _stamp_detector_impl,
    doc = """Reports whether stamping is on: `enabled` is a `select()` on a
`config_setting(values = {"stamp": "1"})`.""",
    attrs = {
        "enabled": attr.bool(
            doc = "Whether `--stamp` is on; set it with a select().",
        ),
    },
)

def stamp_enabled(ctx):
    """Whether a rule with a `stamp` attribute (-1, 0, 1) and `_stamp` should stamp.

    Args:
      ctx: the rule context; its rule has the `stamp` and `_stamp` attributes of `STAMP_ATTRS`.

    Returns:
      True when `stamp` is 1, or -1 and the build runs with `--stamp`.
    """
    if ctx.attr.stamp == 1:
        return True
    if ctx.attr.stamp == 0:
        return False
    return ctx.attr._stamp[ImageWriterSettingInfo].value

STAMP_ATTRS = {
    "stamp": attr.int(
        doc = """Whether to replace `{KEY}` placeholders with values from the workspace status
files (`{BUILD_TIMESTAMP}`, `{BUILD_USER}`, `{STABLE_GIT_COMMIT}` from a
`--workspace_status_command`...). `1`: always; `0`: never; `-1` (default): when the build runs
with `--stamp`. Unstamped builds keep placeholders out of the image: see docs/bazel.md.""",
        default = -1,
        values = [-1, 0, 1],
    ),
    "_stamp": attr.label(
        doc = "Whether the build runs with `--stamp`.",
        default = Label("//rules:stamp"),
        providers = [ImageWriterSettingInfo],
    ),
}

def _is_key_char(c):
    return c == "_" or c.isdigit() or (c.isalpha() and c.isupper())

def placeholders(s):
    """Finds stamp placeholders.

    Args:
      s: a stampable string.

    Returns:
      the keys of the `{KEY}` placeholders in `s` (KEY of A-Z, 0-9 and _), in order.
    """
    out = []
    rest = s
    for _ in range(len(s)):
        i = rest.find("{")
        if i < 0:
            break
        j = rest.find("}", i)
        if j < 0:
            break
        key = rest[i + 1:j]
        if key and not [c for c in key.elems() if not _is_key_char(c)]:
            out.append(key)
            rest = rest[j + 1:]
        else:
            rest = rest[i + 1:]
    return out

def unstamped(s):
    """What an unstamped build writes for a stampable string.

    Args:
      s: a stampable string.

    Returns:
      `s` with each `{KEY}` placeholder replaced by `unstamped`.
    """
    for key in placeholders(s):
        s = s.replace("{" + key + "}", "unstamped")
    return s
