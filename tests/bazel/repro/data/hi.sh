#!/bin/sh
cat "$0.runfiles/rules_imagewriter_tests/repro/data/hello.txt"
