"""`actions_test`: an analysis test of the actions a rules_imagewriter target registers.

It checks what DESIGN.md promises of the rules: one action per layer, image, index and output
form (counted by mnemonic), and no absolute path in any command line (param files included), so
that action keys are the same in every checkout. No skylib: Bazel 4.2.3 setups may not have it.
"""

def _arguments(action):
    """Every argument of the action: its argv and what its Args objects hold."""
    out = list(action.argv or [])
    for args in getattr(action, "args", None) or []:
        out.extend(getattr(args, "arguments", None) or [])
    return out

def _actions_test_impl(ctx):
    counts = {}
    problems = []
    checked = 0
    for action in ctx.attr.target.actions:
        counts[action.mnemonic] = counts.get(action.mnemonic, 0) + 1
        if not action.mnemonic.startswith("ImageWriter"):
            continue
        for arg in _arguments(action):
            checked += 1
            if arg.startswith("/") or "=/" in arg:
                problems.append("%s: an absolute path in the command line: %s" % (action.mnemonic, arg))
    for mnemonic, want in ctx.attr.mnemonics.items():
        if counts.get(mnemonic, 0) != int(want):
            problems.append("%s actions: %d, want %s" % (mnemonic, counts.get(mnemonic, 0), want))
    for mnemonic, got in counts.items():
        if mnemonic.startswith("ImageWriter") and mnemonic not in ctx.attr.mnemonics:
            problems.append("%s actions: %d, want none" % (mnemonic, got))
    return [AnalysisTestResultInfo(
        success = not problems,
        message = "\n".join(problems) or "%s: %s; %d arguments checked" % (ctx.attr.target.label, counts, checked),
    )]

actions_test = rule(
    implementation = _actions_test_impl,
    doc = "Checks the ImageWriter* actions `target` registers itself (not its dependencies').",
    attrs = {
        "mnemonics": attr.string_dict(
            doc = "Mnemonic → how many actions of it `target` must register; other ImageWriter* mnemonics must not appear.",
        ),
        "target": attr.label(
            doc = "The target whose actions are checked.",
            mandatory = True,
        ),
    },
    analysis_test = True,
)
