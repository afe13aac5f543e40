package build_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// Build a spec for two platforms and write it as an OCI layout: what
// `imagewriter build -f image.json -o out` does. The digests depend only
// on the spec and its inputs.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	for _, arch := range []string{"amd64", "arm64"} {
		os.MkdirAll(filepath.Join(dir, "bin", arch), 0o755)
		os.WriteFile(filepath.Join(dir, "bin", arch, "hello"), []byte("a "+arch+" binary\n"), 0o755)
	}
	sf, err := build.ParseSpecFile("image.json", []byte(`{
	  "platforms": ["linux/amd64", "linux/arm64"],
	  "tag": "example.com/hello:v1",
	  "config": {"entrypoint": ["/hello"]},
	  "layers": [{"entries": [{"type": "file", "path": "/hello", "mode": "0755",
	    "sources": {"linux/amd64": "bin/amd64/hello", "linux/arm64": "bin/arm64/hello"}}]}]
	}`))
	if err != nil {
		panic(err)
	}
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o755)
	ctx := context.Background()
	built, err := build.Build(ctx, sf, build.Options{BaseDir: dir, WorkDir: work})
	if err != nil {
		panic(err)
	}
	defer built.Close()
	built.Output.Format = layout.FormatDir
	if err := build.Write(ctx, filepath.Join(dir, "out"), built.Output, built.Blobs); err != nil {
		panic(err)
	}
	fmt.Println("index", built.Output.Index.Index.Descriptor.Digest)
	for _, m := range built.Output.Index.Images {
		fmt.Println(m.Platform.Architecture, m.Manifest.Descriptor.Digest)
	}
	// Output:
	// index sha256:1083b0b9fd338c92dc4e932a5dd41d10a04333321caa047e478efa899eefc64e
	// amd64 sha256:507c13894843d33db2dc0c3c6b5c794717f705fa195f6c81ca66d74492bbb206
	// arm64 sha256:9a31b33eb2af25ee2cb77a3bf0d9311bf61d56e06c36e22f1a57e68cd5b6b26a
}

func ExampleParseReference() {
	for _, s := range []string{"example.com/app", "localhost:5000/team/app:v1", "App:v1"} {
		r, err := build.ParseReference(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s registry=%q repository=%q tag=%q\n", r, r.Registry, r.Repository, r.Tag)
	}
	// Output:
	// example.com/app:latest registry="example.com" repository="example.com/app" tag="latest"
	// localhost:5000/team/app:v1 registry="localhost:5000" repository="localhost:5000/team/app" tag="v1"
	// reference "App:v1": path component "App" is not valid (lowercase letters, digits and separators)
}
