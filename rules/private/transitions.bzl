"""`platforms_split`: a 1:N split transition, one configuration per label in `platforms`."""

def _platforms_split_impl(settings, attr):
    if not attr.platforms:
        # image_index reports the missing attribute; keep the current configuration meanwhile.
        return {"": {"//command_line_option:platforms": settings["//command_line_option:platforms"]}}
    return {
        str(platform): {"//command_line_option:platforms": [str(platform)]}
        for platform in attr.platforms
    }

platforms_split = transition(
    implementation = _platforms_split_impl,
    inputs = ["//command_line_option:platforms"],
    outputs = ["//command_line_option:platforms"],
)
