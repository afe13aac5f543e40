"""Small helpers shared by rules_imagewriter's rules: dict merging, path cleaning, arguments."""

def merge_dicts(*dicts):
    """Merges dicts (Bazel 4.2.3 has no `|`).

    Args:
      *dicts: the dicts to merge; a later one wins for a key in several.

    Returns:
      a new dict.
    """
    out = {}
    for d in dicts:
        out.update(d)
    return out

def clean_path(path, allow_root = False):
    """Cleans an in-image path the way imagewriter does.

    A leading `/` or `./`, repeated slashes and `.` elements are dropped and `a/../b` is `b`.

    Args:
      path: the path as the user wrote it.
      allow_root: whether the image root itself (`/`) is a valid answer.

    Returns:
      (cleaned, problem): the cleaned path ("" for the root) and None, or None and what is wrong.
    """
    parts = []
    for p in path.split("/"):
        if p == "" or p == ".":
            continue
        if p == "..":
            if not parts:
                return None, "climbs out of the image root"
            parts.pop()
            continue
        if p.startswith(".wh."):
            return None, "uses the reserved whiteout prefix .wh."
        parts.append(p)
    if not parts and not allow_root:
        return None, "is the image root itself"
    return "/".join(parts), None

def new_args(ctx, verb):
    """Returns `ctx.actions.args()` for one imagewriter verb, always through a multiline param file.

    Args:
      ctx: the rule context.
      verb: the imagewriter verb, the first argument.

    Returns:
      an Args object; the command line is `imagewriter @PARAMFILE`, and the verb runs with
      `--quiet` (nothing on stdout unless it fails).
    """
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add(verb)
    args.add("--quiet")
    return args

def check_octal_mode(value, what):
    """Fails unless `value` is an octal permission string such as "0755".

    Args:
      value: the mode as written.
      what: the attribute it came from, for the error message.
    """
    digits = value[2:] if value.startswith("0o") else value
    if not digits or len(digits) > 5 or [c for c in digits.elems() if c not in "01234567"] or int(digits, 8) > 4095:
        fail("%s: %r is not an octal mode within 0..07777 (e.g. \"0755\")" % (what, value))

def parse_owner(value, what):
    """Parses "UID:GID".

    Args:
      value: the string to parse.
      what: the attribute it came from, for the error message.

    Returns:
      (uid, gid), two ints; fails naming `what` when `value` is not of that form.
    """
    parts = value.split(":")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        fail("%s: %r is not UID:GID (two non-negative numbers)" % (what, value))
    return int(parts[0]), int(parts[1])

# Fills {KEY} placeholders from workspace status files ("KEY VALUE" lines) in each line
# of a template: `sh -c SCRIPT out template status...`.
_STAMP_LINES = """\
set -eu
out=$1
template=$2
shift 2
awk '
FILENAME != template {
    key = $1
    sub(/^[^ ]* ?/, "")
    value[key] = $0
    next
}
{
    line = $0
    outline = ""
    while (match(line, /\\{[A-Z0-9_]+\\}/)) {
        key = substr(line, RSTART + 1, RLENGTH - 2)
        outline = outline substr(line, 1, RSTART - 1) ((key in value) ? value[key] : substr(line, RSTART, RLENGTH))
        line = substr(line, RSTART + RLENGTH)
    }
    print outline line
}
' template="$template" "$@" "$template" >"$out"
"""

def write_stamped_lines(ctx, out, lines, stamp_files, mnemonic, progress_message):
    """Writes `lines` to `out`, one per line, filling `{KEY}` placeholders when stamping.

    Without status files the lines are written as they are, at analysis time. With them, a
    small action substitutes each `{KEY}` found in the status files and keeps the others.

    Args:
      ctx: the rule context.
      out: the File to write.
      lines: list of strings.
      stamp_files: `[ctx.info_file, ctx.version_file]` when stamping, else `[]`.
      mnemonic: the stamping action's mnemonic.
      progress_message: the stamping action's progress message.
    """
    content = "".join([line + "\n" for line in lines])
    if not stamp_files:
        ctx.actions.write(out, content)
        return
    template = ctx.actions.declare_file(out.basename + ".in", sibling = out)
    ctx.actions.write(template, content)
    ctx.actions.run_shell(
        mnemonic = mnemonic,
        progress_message = progress_message,
        command = _STAMP_LINES,
        arguments = [out.path, template.path] + [f.path for f in stamp_files],
        inputs = [template] + stamp_files,
        outputs = [out],
    )
