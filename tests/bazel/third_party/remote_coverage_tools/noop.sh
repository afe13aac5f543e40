#!/bin/sh
# Offline stand-in for Bazel's coverage tools: see ../README.md.
echo "remote_coverage_tools: coverage is not available offline" >&2
exit 0
