package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// EventKind says what happened to a blob.
type EventKind int

// The events of Copy and Pull, in the order a blob meets them.
const (
	// EventStart: a transfer begins (Desc).
	EventStart EventKind = iota
	// EventProgress: Bytes of Desc have been transferred so far.
	EventProgress
	// EventRetry: a transfer failed with Err; the next try starts after Wait.
	EventRetry
	// EventDone: Desc was transferred.
	EventDone
	// EventExists: the destination holds Desc already; nothing was sent.
	EventExists
	// EventMounted: the registry mounted Desc from the repository From.
	EventMounted
	// EventSkipped: Desc was deliberately not transferred (a shallow pull's layer).
	EventSkipped
	// EventManifest: the manifest or index Desc was written by digest.
	EventManifest
	// EventTag: Tag now names Desc.
	EventTag
)

// Event reports progress. Handlers are called from several goroutines.
type Event struct {
	Kind  EventKind
	Desc  ocispec.Descriptor
	Bytes int64
	From  string
	Tag   string
	Err   error
	Wait  time.Duration
}

// CopyOptions change how Copy works. The zero value copies 3 blobs at a
// time, mounts nothing and tags nothing.
type CopyOptions struct {
	// Concurrency is the number of blobs in flight; 0 is 3.
	Concurrency int
	// Tags name the root once every blob and manifest is in place.
	Tags []string
	// MountFrom lists the repositories of the destination's registry that
	// hold desc (a shallow pull's record, or the source of a copy between
	// repositories). They are tried, in order, before an upload.
	MountFrom func(desc ocispec.Descriptor) []string
	// OnEvent, when set, is told what happens to each blob.
	OnEvent func(Event)
	// ByteProgress sends OnEvent an EventProgress as bytes flow (every
	// MiB). Counting bytes costs the zero-copy path of file uploads.
	ByteProgress bool
}

func (o CopyOptions) concurrency() int {
	if o.Concurrency <= 0 {
		return 3
	}
	return o.Concurrency
}

func (o CopyOptions) emit(e Event) {
	if o.OnEvent != nil {
		o.OnEvent(e)
	}
}

// Copy pushes the graph under root from src to dst, and returns the graph.
//
// Manifests and indexes are read from src verified; other blobs are
// streamed to the registry as src gives them, and the registry verifies
// each upload's digest (so src may serve them unverified, e.g. straight
// from files).
//
// Blobs go first, several at a time: a HEAD request skips those the
// registry has; a blob known to live in another repository of the same
// registry is mounted from there; the rest are uploaded, streamed from src,
// each try starting again after a dropped connection, a 5xx or a 429
// (waiting as Retry-After asks). Then manifests, children before parents,
// the root last, by digest; then each tag. A tag is therefore never moved
// to an image whose blobs are not all in the registry: any failure before
// returns an error with no tag touched.
//
// src may lack a blob that MountFrom names (a shallow layout): it is then
// mounted, or streamed from that repository when the registry declines to
// mount.
func Copy(ctx context.Context, src blob.Fetcher, root ocispec.Descriptor, dst *Repository, opts CopyOptions) (*Graph, error) {
	for _, t := range opts.Tags {
		if err := ValidateTag(t); err != nil {
			return nil, err
		}
	}
	g, err := Walk(ctx, src, root)
	if err != nil {
		return nil, err
	}
	eg, gctx := errgroup.WithContext(ctx)
	eg.SetLimit(opts.concurrency())
	for _, d := range g.Blobs {
		eg.Go(func() error { return copyBlob(gctx, src, d, dst, opts) })
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	for _, m := range g.Manifests {
		ok, err := dst.Exists(ctx, m.Descriptor)
		if err != nil {
			return nil, err
		}
		if ok {
			opts.emit(Event{Kind: EventExists, Desc: m.Descriptor})
			continue
		}
		if err := dst.PushManifest(ctx, m.Descriptor, m.Data, ""); err != nil {
			return nil, err
		}
		opts.emit(Event{Kind: EventManifest, Desc: m.Descriptor})
	}
	for _, t := range opts.Tags {
		if err := dst.PushManifest(ctx, g.Root, g.RootData(), t); err != nil {
			return nil, err
		}
		opts.emit(Event{Kind: EventTag, Desc: g.Root, Tag: t})
	}
	return g, nil
}

func copyBlob(ctx context.Context, src blob.Fetcher, desc ocispec.Descriptor, dst *Repository, opts CopyOptions) error {
	ok, err := dst.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if ok {
		opts.emit(Event{Kind: EventExists, Desc: desc})
		return nil
	}
	var mountErr error
	if opts.MountFrom != nil {
		for _, from := range opts.MountFrom(desc) {
			if from == dst.ref.Repository {
				continue
			}
			// Read only when the registry declines to mount: from src,
			// which may in turn fetch from the repository named.
			get := func() (io.ReadCloser, error) {
				rc, err := src.Fetch(ctx, desc)
				if err != nil {
					return nil, err
				}
				opts.emit(Event{Kind: EventStart, Desc: desc})
				return counting(rc, desc, opts), nil
			}
			err := retryLoop(ctx, dst, desc, opts, func(ctx context.Context) error {
				return dst.Mount(ctx, desc, from, get)
			})
			if err == nil {
				opts.emit(Event{Kind: EventMounted, Desc: desc, From: from})
				return nil
			}
			if ctx.Err() != nil || !errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrDenied) && !errors.Is(err, blob.ErrNotFound) {
				return err
			}
			mountErr = err // no access to that repository: try the next, then upload
		}
	}
	err = retryLoop(ctx, dst, desc, opts, func(ctx context.Context) error {
		rc, err := src.Fetch(ctx, desc)
		if err != nil {
			if mountErr != nil && errors.Is(err, blob.ErrNotFound) {
				return &sourceError{fmt.Errorf("%w; and the source lacks it: %v", mountErr, err)}
			}
			return &sourceError{err}
		}
		defer rc.Close()
		opts.emit(Event{Kind: EventStart, Desc: desc})
		return dst.Push(ctx, desc, counting(rc, desc, opts))
	})
	if err != nil {
		return err
	}
	opts.emit(Event{Kind: EventDone, Desc: desc})
	return nil
}

// retryLoop runs one transfer until it succeeds, fails for good, or the
// policy's tries are spent. Before each new try it asks whether the blob
// arrived after all (a response lost after the registry stored it).
func retryLoop(ctx context.Context, dst *Repository, desc ocispec.Descriptor, opts CopyOptions, try func(context.Context) error) error {
	policy := dst.client.opts.Retry
	hint := &retryHint{}
	hctx := context.WithValue(ctx, hintKey{}, hint)
	for attempt := 0; ; attempt++ {
		err := try(hctx)
		if err == nil {
			return nil
		}
		var se *sourceError
		if errors.As(err, &se) {
			return se.err
		}
		if !retryTransfer(err) {
			return err
		}
		wait, ok := policy.Wait(attempt, nil, time.Now())
		if hw, hok := hint.take(); hok {
			wait = hw
		}
		if !ok {
			return fmt.Errorf("%w (gave up after %d tries)", err, attempt+1)
		}
		opts.emit(Event{Kind: EventRetry, Desc: desc, Err: err, Wait: wait})
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		if ok, _ := dst.Exists(ctx, desc); ok {
			return nil
		}
	}
}

// counting reports bytes read as EventProgress, at most every 1 MiB.
func counting(rc io.ReadCloser, desc ocispec.Descriptor, opts CopyOptions) io.ReadCloser {
	if opts.OnEvent == nil || !opts.ByteProgress {
		return rc
	}
	return &countingReader{rc: rc, desc: desc, emit: opts.OnEvent}
}

type countingReader struct {
	rc       io.ReadCloser
	desc     ocispec.Descriptor
	emit     func(Event)
	n, shown int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n += int64(n)
	if c.n-c.shown >= 1<<20 || (err == io.EOF && c.n != c.shown) {
		c.shown = c.n
		c.emit(Event{Kind: EventProgress, Desc: c.desc, Bytes: c.n})
	}
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }
