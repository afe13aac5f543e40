package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// openedImage is an image argument opened for reading: a verified Fetcher
// and the descriptor at the top of the graph (an index or a manifest).
type openedImage struct {
	blob.Fetcher
	Root ocispec.Descriptor
	// Name is how to show the image in messages.
	Name  string
	close func() error
}

func (o *openedImage) Close() error {
	if o.close == nil {
		return nil
	}
	return o.close()
}

// openRemote opens a registry reference; the registry verbs set it.
var openRemote func(ctx context.Context, ref string, e env) (*openedImage, error)

// errNotAnImage says an argument is neither on disk nor a reference.
var errNotAnImage = errors.New("not an image")

// openImage opens an image argument:
//
//	PATH                 an OCI layout directory, OCI archive or Docker archive
//	PATH:REF             the image named REF (ref.name or a RepoTag) in it
//	oci:PATH[:REF], oci-archive:PATH[:REF], docker-archive:PATH[:REF]
//	HOST/REPO[:TAG|@DIGEST]   a registry reference (when no such path exists)
func openImage(ctx context.Context, arg string, e env) (*openedImage, error) {
	path, ref, explicit := arg, "", false
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:"} {
		if p, ok := strings.CutPrefix(arg, t); ok {
			path, explicit = p, true
			break
		}
	}
	if _, err := os.Stat(path); err != nil {
		if i := strings.LastIndexByte(path, ':'); i > 0 {
			if _, err := os.Stat(path[:i]); err == nil {
				path, ref = path[:i], path[i+1:]
			}
		}
	}
	if _, err := os.Stat(path); err != nil {
		if explicit || openRemote == nil || strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/") {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		return openRemote(ctx, arg, e)
	}
	src, err := layout.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	root, err := src.FindRef(ref)
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &openedImage{Fetcher: src, Root: root, Name: arg, close: src.Close}, nil
}
