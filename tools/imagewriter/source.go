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
	path, ref, ok := localImagePath(arg)
	if !ok {
		onDisk := strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/")
		for _, t := range []string{"oci:", "oci-archive:", "docker-archive:"} {
			if p, found := strings.CutPrefix(arg, t); found {
				arg, onDisk = p, true
			}
		}
		if onDisk || openRemote == nil {
			return nil, fmt.Errorf("%s: no such file or directory", arg)
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
	var f blob.Fetcher = src
	// A shallow-pulled layout lacks its layers; fetch them from where it
	// recorded they live, so every verb reads it like a whole one.
	if sf, err := shallowFetcher(e, path); err != nil {
		src.Close()
		return nil, err
	} else if sf != nil {
		f = fetchChain{src, sf}
	}
	return &openedImage{Fetcher: f, Root: root, Name: arg, close: src.Close}, nil
}

// localImagePath splits an image argument that names something on disk
// into its path and ref, with openImage's rules: an optional oci:,
// oci-archive: or docker-archive: prefix, then PATH or PATH:REF.
func localImagePath(arg string) (path, ref string, ok bool) {
	path = arg
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:"} {
		if p, found := strings.CutPrefix(arg, t); found {
			path = p
			break
		}
	}
	if _, err := os.Stat(path); err == nil {
		return path, "", true
	}
	// REF may hold colons itself (a RepoTag such as example.com/app:v1):
	// try each split, the longest path first.
	for i := strings.LastIndexByte(path, ':'); i > 0; i = strings.LastIndexByte(path[:i], ':') {
		if _, err := os.Stat(path[:i]); err == nil {
			return path[:i], path[i+1:], true
		}
	}
	return "", "", false
}
