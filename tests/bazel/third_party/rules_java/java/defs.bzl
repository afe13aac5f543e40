"""Offline stand-in for rules_java's `//java:defs.bzl` (see ../../README.md).

Only what Bazel 4.2.3's own @bazel_tools packages load: each macro forwards to the native
rule, which 4.2.3 still has. The `buildifier: disable` comments silence the lint that asks
newer code to load these rules from the real ruleset: here, this file is that ruleset."""

def java_binary(**kwargs):
    native.java_binary(**kwargs)  # buildifier: disable=native-java-binary

def java_import(**kwargs):
    native.java_import(**kwargs)  # buildifier: disable=native-java-import

def java_library(**kwargs):
    native.java_library(**kwargs)  # buildifier: disable=native-java-library

def java_lite_proto_library(**kwargs):
    native.java_lite_proto_library(**kwargs)  # buildifier: disable=native-java-lite-proto

def java_package_configuration(**kwargs):
    native.java_package_configuration(**kwargs)  # buildifier: disable=native-java-package-config

def java_plugin(**kwargs):
    native.java_plugin(**kwargs)  # buildifier: disable=native-java-plugin

def java_proto_library(**kwargs):
    native.java_proto_library(**kwargs)  # buildifier: disable=native-java-proto

def java_runtime(**kwargs):
    native.java_runtime(**kwargs)  # buildifier: disable=native-java-runtime

def java_test(**kwargs):
    native.java_test(**kwargs)  # buildifier: disable=native-java-test

def java_toolchain(**kwargs):
    native.java_toolchain(**kwargs)  # buildifier: disable=native-java-toolchain
