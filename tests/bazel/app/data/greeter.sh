#!/bin/sh
# Prints the greeting that travels in its runfiles.
here=$0.runfiles/rules_imagewriter_tests/app/data
cat "$here/greeting.txt"
