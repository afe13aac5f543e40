package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

// Registry references on the command line are "docker://REF" or a bare
// REF whose first component is a registry host (it holds a "." or ":", or
// is "localhost"), so that a mistyped path is not sent to Docker Hub.
const dockerPrefix = "docker://"

// insecureEnv lists registries (comma-separated "host[:port]") spoken to
// over plain HTTP by every verb, beside the loopback ones that always are.
const insecureEnv = "IMAGEWRITER_INSECURE_REGISTRIES"

func init() { openRemote = openRegistryImage }

// registryFlags are the flags of the verbs that talk to registries.
type registryFlags struct {
	insecure    bool
	plainHTTP   []string
	concurrency int
	progress    string
}

func (f *registryFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.insecure, "insecure", false, "speak plain HTTP to the registry (loopback registries always are)")
	fl.StringArrayVar(&f.plainHTTP, "plain-http", nil, "speak plain HTTP to this registry HOST[:PORT] (repeatable; also $"+insecureEnv+", comma-separated)")
	fl.IntVar(&f.concurrency, "concurrency", 3, "blobs transferred at once")
	fl.StringVar(&f.progress, "progress", progressAuto, "auto (bars on a terminal, else one line per blob), bars, plain or none; always on stderr")
}

// authFiles lists where credentials are looked for, first match wins:
// $REGISTRY_AUTH_FILE (else $XDG_RUNTIME_DIR/containers/auth.json, as
// podman and skopeo do), then $DOCKER_CONFIG/config.json (else
// ~/.docker/config.json). Their credsStore and credHelpers run the
// docker-credential-* helpers they name.
func authFiles(e env) []string {
	var files []string
	if f := e.getenv("REGISTRY_AUTH_FILE"); f != "" {
		files = append(files, f)
	} else if d := e.getenv("XDG_RUNTIME_DIR"); d != "" {
		files = append(files, filepath.Join(d, "containers", "auth.json"))
	}
	if d := e.getenv("DOCKER_CONFIG"); d != "" {
		files = append(files, filepath.Join(d, "config.json"))
	} else if h := e.getenv("HOME"); h != "" {
		files = append(files, filepath.Join(h, ".docker", "config.json"))
	}
	return files
}

// newRegistryClient makes the client of one command; f may be nil.
func newRegistryClient(e env, f *registryFlags) (*registry.Client, error) {
	opts := registry.Options{AuthFiles: authFiles(e)}
	for _, h := range strings.Split(e.getenv(insecureEnv), ",") {
		if h = strings.TrimSpace(h); h != "" {
			opts.PlainHTTP = append(opts.PlainHTTP, h)
		}
	}
	if f != nil {
		opts.Insecure = f.insecure
		opts.PlainHTTP = append(opts.PlainHTTP, f.plainHTTP...)
	}
	return registry.NewClient(opts)
}

// parseRegistryRef parses a registry reference argument. explicit says
// whether the argument must be one (no path could be meant).
func parseRegistryRef(arg string, explicit bool) (registry.Reference, error) {
	s, prefixed := strings.CutPrefix(arg, dockerPrefix)
	if !prefixed && !explicit {
		first, _, ok := strings.Cut(s, "/")
		if !ok || !(strings.ContainsAny(first, ".:[") || first == "localhost") {
			return registry.Reference{}, fmt.Errorf("%s: no such file or directory, and not a registry reference (name the registry host, or write %s%s)", arg, dockerPrefix, arg)
		}
	}
	return registry.ParseReference(s)
}

// openRegistryImage is openRemote: it resolves a reference's tag (or
// checks its digest) and serves the image's blobs from the registry,
// verified.
func openRegistryImage(ctx context.Context, arg string, e env) (*openedImage, error) {
	ref, err := parseRegistryRef(arg, false)
	if err != nil {
		return nil, err
	}
	c, err := newRegistryClient(e, nil)
	if err != nil {
		return nil, err
	}
	repo, root, err := resolveRef(ctx, c, ref)
	if err != nil {
		return nil, err
	}
	return &openedImage{Fetcher: repo, Root: root, Name: ref.WithDigest(root.Digest).String()}, nil
}

// resolveRef resolves ref's digest, or else its tag ("latest" when it has
// neither).
func resolveRef(ctx context.Context, c *registry.Client, ref registry.Reference) (*registry.Repository, ocispec.Descriptor, error) {
	repo, err := c.Repository(ref)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	name := ref.Digest.String()
	if name == "" {
		name = ref.Tag
	}
	if name == "" {
		name = "latest"
	}
	root, err := repo.Resolve(ctx, name)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	if ref.Digest != "" && root.Digest != ref.Digest {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%s: the registry answered %s", ref, root.Digest)
	}
	return repo, root, nil
}

// shallowFetcher serves the blobs that shallow-pulled layouts among paths
// lack (see registry.SourcesFile) from the registries that hold them; nil
// when no path is a shallow layout. Verbs that write blobs out (build,
// output) put it last among their base fetchers.
func shallowFetcher(e env, paths ...string) (blob.Fetcher, error) {
	var all registry.Sources
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			continue
		}
		s, err := registry.ReadSources(p)
		if err != nil {
			return nil, err
		}
		all.Merge(s)
	}
	if len(all.Blobs) == 0 {
		return nil, nil
	}
	c, err := newRegistryClient(e, nil)
	if err != nil {
		return nil, err
	}
	return c.SourceFetcher(&all), nil
}

// fetchChain asks each fetcher in turn, moving on when one lacks a blob.
type fetchChain []blob.Fetcher

func (fc fetchChain) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	var first error
	for _, f := range fc {
		rc, err := f.Fetch(ctx, desc)
		if err == nil {
			return rc, nil
		}
		if !errors.Is(err, blob.ErrNotFound) {
			return nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = fmt.Errorf("%s %s: %w", desc.Digest, desc.MediaType, blob.ErrNotFound)
	}
	return nil, first
}

// uploadFiles serves blobs from files as they are, unverified: push uses
// it for layer blobs (--layer) and a layout directory's blobs, because the
// registry verifies the digest of every upload, and an unwrapped file goes
// from the page cache to the socket without a copy. Manifests and indexes
// are verified all the same (registry.Walk reads them with blob.ReadAll).
type uploadFiles struct {
	byDigest map[string]string // digest -> path
	dir      layout.Dir        // or "" for none
}

func (u uploadFiles) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	p, ok := u.byDigest[desc.Digest.String()]
	if !ok && u.dir != "" {
		p, ok = u.dir.BlobPath(desc.Digest), true
	}
	if !ok {
		return nil, fmt.Errorf("%s %s: %w", desc.Digest, desc.MediaType, blob.ErrNotFound)
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: %w", desc.Digest, desc.MediaType, blob.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}
