# Makefile: the entry points for people and CI. Every target runs with the Go
# toolchain (/usr/local/go/bin) and go-installed tools ($(go env GOPATH)/bin)
# on PATH, so a fresh shell needs nothing exported.
#
#   make deps      install the test tools (scripts/install-deps.sh, idempotent)
#   make test      deps, vet, gofmt check, buildifier check, go test, fuzz, Bazel tests
#   make example   build bin/imagewriter and the example image examples/hello into out/example (scripts/example.sh)
#   make bench     build the corpora and compare imagewriter with its peers (bench/run.sh)
#   make fmt       gofmt -w and buildifier -mode=fix
#
# Knobs: FUZZTIME (default 10s per fuzz target), GOTEST_TIMEOUT (default 30m),
# BENCH_DIR (default out/bench), BENCH_CORPORA (default "small gotool"; "tiny"
# checks the scripts in seconds), and bench/run.sh's RUNS, WARMUP, BENCH_WORK.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.NOTPARALLEL:
.DEFAULT_GOAL := test

GOROOT_BIN := /usr/local/go/bin
GOPATH_BIN := $(shell PATH=$(GOROOT_BIN):$$PATH go env GOPATH 2>/dev/null || echo $$HOME/go)/bin
export PATH := $(GOPATH_BIN):$(GOROOT_BIN):$(PATH)

FUZZTIME ?= 10s
GOTEST_TIMEOUT ?= 30m
BENCH_DIR ?= out/bench
BENCH_CORPORA ?= small gotool
GO_TEST_LOG ?= out/go-test.log
export FUZZTIME

# Go sources gofmt must agree with (testdata may hold deliberately odd files).
GO_FILES = $$(find . -path ./.git -prune -o -path '*/testdata' -prune -o -name 'bazel-*' -prune -o -type f -name '*.go' -print)
# Starlark files buildifier checks.
BZL_FILES = $$(find . -path ./.git -prune -o -path '*/testdata' -prune -o -name 'bazel-*' -prune -o -type f \
	\( -name '*.bzl' -o -name 'BUILD.bazel' -o -name 'BUILD' -o -name 'MODULE.bazel' -o -name 'WORKSPACE' -o -name 'WORKSPACE.bazel' -o -name 'WORKSPACE.bzlmod' \) -print | LC_ALL=C sort)

.PHONY: deps test vet fmt-check bzl-check go-test fuzz bazel-test example bench fmt

deps:
	bash scripts/install-deps.sh

test: deps vet fmt-check bzl-check go-test fuzz bazel-test
	@echo "=== go test results (repeated from $(GO_TEST_LOG)) ==="
	@grep -E '^(ok|FAIL|---|\?|panic:)' $(GO_TEST_LOG) || true
	@echo "make test: all checks passed"

vet:
	go vet ./...

fmt-check:
	@files="$$(gofmt -l $(GO_FILES))"; \
	if [[ -n $$files ]]; then echo "gofmt: these files need formatting (run make fmt):"; echo "$$files"; exit 1; fi; \
	echo "gofmt: ok"

bzl-check:
	@files="$(BZL_FILES)"; \
	if [[ -z $$files ]]; then echo "buildifier: no Starlark files"; exit 0; fi; \
	buildifier -mode=check -lint=warn $$files || { echo "buildifier: failed (run make fmt; lint warnings must be fixed by hand)"; exit 1; }; \
	echo "buildifier: ok"

go-test:
	@mkdir -p $(dir $(GO_TEST_LOG))
	go test ./... -count=1 -timeout $(GOTEST_TIMEOUT) 2>&1 | tee $(GO_TEST_LOG)

fuzz:
	bash scripts/fuzz.sh

bazel-test:
	@if [[ -f tests/bazel/run.sh ]]; then bash tests/bazel/run.sh; else echo "bazel-test: tests/bazel/run.sh not present, nothing to run"; fi

example:
	bash scripts/example.sh

bench:
	@mkdir -p bin
	go build -trimpath -o bin/imagewriter ./tools/imagewriter || { echo "bench: imagewriter does not build: timing the peers only"; rm -f bin/imagewriter; }
	bash bench/corpus.sh $(BENCH_DIR)/corpus $(BENCH_CORPORA)
	bash bench/run.sh bin/imagewriter $(addprefix $(BENCH_DIR)/corpus/,$(BENCH_CORPORA))

fmt:
	gofmt -w $(GO_FILES)
	@files="$(BZL_FILES)"; if [[ -n $$files ]]; then buildifier -mode=fix -lint=off $$files; fi
