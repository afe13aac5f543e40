// Package registry pushes images to and pulls them from OCI distribution
// registries. The protocol is spoken by oras-go (oras.land/oras-go/v2);
// this package adds what the writer needs on top: every read verified
// against its descriptor while it streams, retries with backoff (429 with
// Retry-After, 5xx, dropped connections) around whole blob transfers and
// downloads that resume where they broke, cross-repository mounts, the
// order that never lets a tag name an image with missing blobs, shallow
// pulls, credentials from Docker-style auth files, and errors that never
// carry a secret.
//
// A library never reads the environment: callers pass the auth files and
// the registries allowed over plain HTTP in Options.
package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	orasref "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// Options configure a Client. The zero value speaks HTTPS to every
// registry but loopback ones, with no credentials, and the default
// RetryPolicy.
type Options struct {
	// AuthFiles are searched in order for a registry's credentials. Each
	// is in Docker's config.json format (containers' auth.json is the
	// same): "auths" entries, and "credsStore"/"credHelpers" naming
	// docker-credential-* helpers. A missing file is empty.
	AuthFiles []string
	// PlainHTTP lists registries ("host" or "host:port") spoken to over
	// plain HTTP. Loopback registries (localhost, 127.0.0.0/8, [::1])
	// always are.
	PlainHTTP []string
	// Insecure speaks plain HTTP to every registry.
	Insecure bool
	// Retry is the retry policy of requests and transfers.
	Retry RetryPolicy
	// Transport carries the requests under retries and auth; nil is a
	// clone of http.DefaultTransport.
	Transport http.RoundTripper
	// UserAgent is sent with every request; "" sends "imagewriter".
	UserAgent string
}

// Client holds what the repositories of one command share: credentials,
// the token cache and connections.
type Client struct {
	opts  Options
	creds *credentialStore
	http  *auth.Client
}

// NewClient opens the auth files and returns a client.
func NewClient(opts Options) (*Client, error) {
	creds, err := newCredentialStore(opts.AuthFiles)
	if err != nil {
		return nil, err
	}
	base := opts.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16
		t.ResponseHeaderTimeout = 5 * time.Minute
		base = t
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "imagewriter"
	}
	rt := &retry.Transport{Base: base, Policy: func() retry.Policy {
		return transportPolicy{p: opts.Retry, now: time.Now}
	}}
	return &Client{
		opts:  opts,
		creds: creds,
		http: &auth.Client{
			Client:     &http.Client{Transport: rt},
			Header:     http.Header{"User-Agent": {ua}},
			Credential: creds.credential,
			Cache:      auth.NewCache(),
		},
	}, nil
}

// PlainHTTP reports whether the client speaks plain HTTP to registry.
func (c *Client) PlainHTTP(registry string) bool {
	if c.opts.Insecure || IsLoopback(registry) {
		return true
	}
	for _, h := range c.opts.PlainHTTP {
		if h == registry {
			return true
		}
		if host, _, err := net.SplitHostPort(registry); err == nil && h == host {
			return true
		}
	}
	return false
}

// Repository is one repository of a registry, as a blob.Store: every read
// is verified against its descriptor, and Push sends manifests and indexes
// to the manifest endpoint (by digest) and everything else to the blob
// endpoint. Downloads that break resume from where they stopped (a Range
// request, else a restart that skips what was read).
type Repository struct {
	client *Client
	ref    Reference
	remote *remote.Repository
}

var _ blob.Store = (*Repository)(nil)

// Repository returns ref's repository (its tag and digest are ignored).
func (c *Client) Repository(ref Reference) (*Repository, error) {
	rr := &remote.Repository{
		Client:          c.http,
		Reference:       orasref.Reference{Registry: ref.endpoint(), Repository: ref.Repository},
		PlainHTTP:       c.PlainHTTP(ref.Registry),
		SkipReferrersGC: true,
	}
	if err := rr.Reference.ValidateRepository(); err != nil {
		return nil, fmt.Errorf("%s: %v", ref.Name(), err)
	}
	return &Repository{client: c, ref: Reference{Registry: ref.Registry, Repository: ref.Repository}, remote: rr}, nil
}

// Reference is the repository's name as a reference (no tag, no digest).
func (r *Repository) Reference() Reference { return r.ref }

// Name is "registry/repository".
func (r *Repository) Name() string { return r.ref.Name() }

func (r *Repository) wrap(subject string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, errdef.ErrNotFound) && !errors.Is(err, blob.ErrNotFound) {
		err = &scrubbedError{msg: "not found", err: errors.Join(blob.ErrNotFound, err)}
	}
	return r.client.wrapError(subject, r.ref, err)
}

func descSubject(desc ocispec.Descriptor) string {
	return desc.Digest.String() + " " + desc.MediaType
}

func descriptorOf(d digest.Digest) ocispec.Descriptor { return ocispec.Descriptor{Digest: d} }

// Fetch streams a blob, manifest or index, verified: the reader fails at
// the end when the bytes do not match desc. A missing blob is an error
// wrapping blob.ErrNotFound.
func (r *Repository) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{blob.VerifyReader(rc, desc), rc}, nil
}

// fetch opens a resuming, unverified stream; callers verify.
func (r *Repository) fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return nil, err
	}
	rc, err := r.remote.Fetch(ctx, desc)
	if err != nil {
		return nil, r.wrap(fmt.Sprintf("%s: fetch %s", r.Name(), descSubject(desc)), err)
	}
	return &resumingReader{ctx: ctx, r: r, desc: desc, rc: rc}, nil
}

// Exists reports whether the registry holds desc (a HEAD request).
func (r *Repository) Exists(ctx context.Context, desc ocispec.Descriptor) (bool, error) {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return false, err
	}
	ok, err := r.remote.Exists(ctx, desc)
	return ok, r.wrap(fmt.Sprintf("%s: check %s", r.Name(), descSubject(desc)), err)
}

// Push uploads content under desc (one attempt; Copy retries). The
// registry verifies the digest and size of every upload before it stores
// anything (the distribution spec requires it), so the bytes are not
// hashed here as well: a mismatch fails the upload with the registry's
// DIGEST_INVALID. An *os.File is sent as it is, which lets the kernel copy
// it to the socket.
func (r *Repository) Push(ctx context.Context, desc ocispec.Descriptor, content io.Reader) error {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return err
	}
	if _, ok := content.(*os.File); !ok {
		content = sourceReader{content}
	}
	err := r.remote.Push(ctx, desc, content)
	return r.wrap(fmt.Sprintf("%s: push %s", r.Name(), descSubject(desc)), err)
}

// sourceReader marks read errors as the source's, so a retry loop knows
// that trying the upload again cannot help.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

// PushManifest uploads a manifest or index held in memory under its
// digest, or under tag when tag is not "" (the registry then points the
// tag at it). The bytes must match desc.
func (r *Repository) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, tag string) error {
	if err := blob.Verify(bytes.NewReader(data), desc); err != nil {
		return err
	}
	var err error
	subject := fmt.Sprintf("%s: push %s", r.Name(), descSubject(desc))
	if tag == "" {
		err = r.remote.Push(ctx, desc, bytes.NewReader(data))
	} else {
		if err := ValidateTag(tag); err != nil {
			return err
		}
		subject = fmt.Sprintf("%s: tag %s as %s", r.Name(), desc.Digest, tag)
		err = r.remote.PushReference(ctx, desc, bytes.NewReader(data), tag)
	}
	return r.wrap(subject, err)
}

// Resolve returns the descriptor of the manifest or index that reference
// (a tag or a digest) names. A missing one is an error wrapping
// blob.ErrNotFound.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	desc, err := r.remote.Resolve(ctx, reference)
	if err != nil {
		return ocispec.Descriptor{}, r.wrap(fmt.Sprintf("%s: resolve %s", r.Name(), reference), err)
	}
	if err := blob.ValidateDescriptor(desc); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: resolve %s: %w", r.Name(), reference, err)
	}
	if desc.Size > blob.MaxMetadataBytes {
		return ocispec.Descriptor{}, fmt.Errorf("%s: resolve %s: %s: %w: %d bytes, limit %d", r.Name(), reference, desc.Digest, blob.ErrTooLarge, desc.Size, blob.MaxMetadataBytes)
	}
	if !slices.Contains(manifestMediaTypes, desc.MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("%s: resolve %s: media type %q is not a manifest or index", r.Name(), reference, desc.MediaType)
	}
	return desc, nil
}

// Mount asks the registry to mount desc from another of its repositories.
// When the registry answers that it cannot, the blob is uploaded from
// getContent, or, when that is nil, streamed from the other repository.
func (r *Repository) Mount(ctx context.Context, desc ocispec.Descriptor, fromRepository string, getContent func() (io.ReadCloser, error)) error {
	if err := blob.ValidateDescriptor(desc); err != nil {
		return err
	}
	var get func() (io.ReadCloser, error)
	if getContent != nil {
		get = func() (io.ReadCloser, error) {
			rc, err := getContent()
			if err != nil {
				return nil, &sourceError{err}
			}
			return struct {
				io.Reader
				io.Closer
			}{sourceReader{rc}, rc}, nil // the registry verifies it
		}
	}
	err := r.remote.Mount(ctx, desc, fromRepository, get)
	return r.wrap(fmt.Sprintf("%s: mount %s from %s", r.Name(), desc.Digest, fromRepository), err)
}

// manifestMediaTypes are the media types Resolve accepts at the top of a
// graph and Copy and Pull read as manifests or indexes.
var manifestMediaTypes = []string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	dockerManifest,
	dockerManifestList,
}

const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// resumingReader continues a download that broke off: it opens the blob
// again, seeks to where it stopped when the registry serves ranges, and
// otherwise skips the bytes already read.
type resumingReader struct {
	ctx   context.Context
	r     *Repository
	desc  ocispec.Descriptor
	rc    io.ReadCloser
	off   int64
	tries int
}

func (rr *resumingReader) Read(p []byte) (int, error) {
	n, err := rr.rc.Read(p)
	rr.off += int64(n)
	if err == nil || (err == io.EOF && rr.off >= rr.desc.Size) {
		return n, err
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if !RetryableError(err) || rr.ctx.Err() != nil {
		return n, err
	}
	if rerr := rr.resume(err); rerr != nil {
		return n, rerr
	}
	return n, nil
}

func (rr *resumingReader) resume(cause error) error {
	rr.rc.Close()
	rr.rc = io.NopCloser(errReader{cause})
	policy := rr.r.client.opts.Retry
	for {
		d, ok := policy.Wait(rr.tries, nil, time.Now())
		rr.tries++
		if !ok {
			return fmt.Errorf("%s: fetch %s: broke off at byte %d of %d, %d tries: %w", rr.r.Name(), rr.desc.Digest, rr.off, rr.desc.Size, rr.tries, cause)
		}
		if err := sleep(rr.ctx, d); err != nil {
			return err
		}
		rc, err := rr.r.remote.Fetch(rr.ctx, rr.desc)
		if err != nil {
			cause = err
			if retryTransfer(err) {
				continue
			}
			return rr.r.wrap(fmt.Sprintf("%s: fetch %s again", rr.r.Name(), rr.desc.Digest), err)
		}
		if s, ok := rc.(io.Seeker); ok && rr.off > 0 {
			if _, err := s.Seek(rr.off, io.SeekStart); err == nil {
				rr.rc = rc
				return nil
			}
		}
		if _, err := io.CopyN(io.Discard, rc, rr.off); err != nil {
			rc.Close()
			cause = err
			continue
		}
		rr.rc = rc
		return nil
	}
}

func (rr *resumingReader) Close() error { return rr.rc.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
