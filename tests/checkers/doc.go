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
//
// A typical test:
//
//	func TestLayerUnpacks(t *testing.T) {
//		layout := buildLayout(t) // with imagewriter, tagged v1
//		rootfs := checkers.UmociUnpack(t, layout, "v1")
//		want := map[string]checkers.TreeEntry{
//			"etc":       checkers.Dir(0o755),
//			"etc/hello": checkers.File(0o644, "hello\n"),
//			"bin/sh":    checkers.Symlink("busybox"),
//		}
//		if d := checkers.DiffTrees(want, checkers.Tree(t, rootfs)); d != "" {
//			t.Errorf("rootfs (-want +got):\n%s", d)
//		}
//		reg := checkers.NewRegistry(t, checkers.RegistryOptions{})
//		checkers.Run(t, "", "crane", "push", layout, reg.Host+"/test:v1")
//		if n := reg.BlobUploads(t); n != 2 { // config and layer
//			t.Errorf("uploaded %d blobs, want 2", n)
//		}
//		out := checkers.PodmanRun(t, "oci:"+layout+":v1", "/bin/hello")
//		...
//	}
package checkers
