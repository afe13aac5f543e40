// Package checkers runs the third-party tools that integration tests use to
// check imagewriter's output from the outside: umoci, skopeo, crane, regctl,
// podman, htpasswd and the distribution registry.
//
// A test that needs a tool never skips: when the tool is missing the test
// fails, naming the tool and `make deps` (scripts/install-deps.sh), whether or
// not CI is set. Tools are looked up on PATH, then in the go install
// directories ($GOBIN, $(go env GOPATH)/bin, ~/go/bin), then in the sbin
// directories (runc lives in /usr/sbin).
//
// Every helper takes a testing.TB, fails it on error with the command line and
// the tool's output, and cleans up after itself with t.Cleanup. The Err
// variants (RunErr, UmociUnpackErr, Podman.RunErr) return the error instead,
// for negative tests.
package checkers
