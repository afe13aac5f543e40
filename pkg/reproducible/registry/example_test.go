package registry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

func ExampleParseReference() {
	for _, s := range []string{
		"127.0.0.1:5000/team/app:v1",
		"alpine:3.20",
		"registry.example.com/app@sha256:1d6b7f7f2904a22505cea9a17c76c642e9213bb60c52ea26f52d478b8499c86a",
	} {
		r, err := registry.ParseReference(s)
		if err != nil {
			log.Fatal(err)
		}
		d := string(r.Digest)
		fmt.Printf("%s | %s | tag %q | digest %q\n", r.Registry, r.Repository, r.Tag, d[:min(len(d), 15)])
	}
	// Output:
	// 127.0.0.1:5000 | team/app | tag "v1" | digest ""
	// docker.io | library/alpine | tag "3.20" | digest ""
	// registry.example.com | app | tag "" | digest "sha256:1d6b7f7f"
}

// Push a layout directory's only image and tag it; then pull it back,
// shallow, as a base for later builds.
func ExampleCopy() {
	ctx := context.Background()
	src, err := layout.Open(ctx, "out/layout")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	root, err := src.FindRef("")
	if err != nil {
		log.Fatal(err)
	}
	c, err := registry.NewClient(registry.Options{AuthFiles: []string{"/home/me/.docker/config.json"}})
	if err != nil {
		log.Fatal(err)
	}
	ref, _ := registry.ParseReference("127.0.0.1:5000/app")
	repo, err := c.Repository(ref)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := registry.Copy(ctx, src, root, repo, registry.CopyOptions{Tags: []string{"v1"}}); err != nil {
		log.Fatal(err)
	}
	desc, err := repo.Resolve(ctx, "v1")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := registry.Pull(ctx, repo, desc, "base", registry.PullOptions{Shallow: true, RefName: "v1"}); err != nil {
		log.Fatal(err)
	}
}
