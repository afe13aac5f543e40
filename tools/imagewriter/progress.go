package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

// Progress modes (--progress).
const (
	progressAuto  = "auto"  // bars on a terminal, lines otherwise
	progressBars  = "bars"  // bars even when stderr is not a terminal
	progressPlain = "plain" // one line per blob
	progressNone  = "none"  // nothing but errors
)

// progress shows what a push or pull does with each blob, on stderr: a bar
// per blob in flight on a terminal, else one line per finished blob
// ("pushed sha256:… (12.3 MB)"). Stdout never carries progress.
type progress struct {
	w    io.Writer
	verb string // "pushed" or "pulled"
	mode string

	outMu   sync.Mutex
	mu      sync.Mutex
	p       *mpb.Progress
	bars    map[digest.Digest]*mpb.Bar
	refresh chan any
	stop    chan struct{}
	stopped chan struct{}
}

func newProgress(ctx context.Context, stderr io.Writer, mode, verb string) (*progress, error) {
	switch mode {
	case "", progressAuto:
		mode = progressPlain
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			// A terminal without a size (a bare pty) cannot draw bars.
			if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
				mode = progressBars
			}
		}
	case progressBars, progressPlain, progressNone:
	default:
		return nil, usagef("--progress %q: want auto, bars, plain or none", mode)
	}
	pr := &progress{w: stderr, verb: verb, mode: mode, bars: map[digest.Digest]*mpb.Bar{}}
	if mode == progressBars {
		// Refreshed by our own ticker, so that close can ask for a last
		// render: mpb drops lines written after its last one.
		pr.refresh = make(chan any)
		pr.stop = make(chan struct{})
		pr.stopped = make(chan struct{})
		pr.p = mpb.NewWithContext(ctx, mpb.WithOutput(stderr), mpb.WithWidth(32), mpb.WithManualRefresh(pr.refresh), mpb.ForceAutoRefresh())
		go pr.tick()
	}
	return pr, nil
}

func (pr *progress) tick() {
	defer close(pr.stopped)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case now := <-t.C:
			select {
			case pr.refresh <- now:
			case <-pr.stop:
				return
			}
		}
	}
}

// printf writes a line above the bars (or plainly).
func (pr *progress) printf(format string, args ...any) {
	if pr.mode == progressNone {
		return
	}
	line := fmt.Sprintf(format+"\n", args...)
	if pr.p != nil {
		if _, err := pr.p.Write([]byte(line)); err == nil {
			return
		}
	}
	pr.outMu.Lock() // events come from several goroutines
	defer pr.outMu.Unlock()
	io.WriteString(pr.w, line)
}

// event is the registry.Event handler.
func (pr *progress) event(ev registry.Event) {
	d := ev.Desc
	switch ev.Kind {
	case registry.EventStart:
		pr.startBar(d.Digest, d.Size)
	case registry.EventProgress:
		pr.mu.Lock()
		if b := pr.bars[d.Digest]; b != nil {
			b.SetCurrent(ev.Bytes)
		}
		pr.mu.Unlock()
	case registry.EventDone:
		pr.endBar(d.Digest, true)
		pr.printf("%s %s (%s)", pr.verb, d.Digest, size(d.Size))
	case registry.EventRetry:
		pr.endBar(d.Digest, false)
		pr.printf("retrying %s in %.1fs: %v", d.Digest, ev.Wait.Seconds(), ev.Err)
	case registry.EventExists:
		pr.printf("exists %s (%s)", d.Digest, size(d.Size))
	case registry.EventMounted:
		pr.printf("mounted %s (%s) from %s", d.Digest, size(d.Size), ev.From)
	case registry.EventSkipped:
		pr.printf("left in the registry %s (%s)", d.Digest, size(d.Size))
	case registry.EventManifest:
		pr.printf("%s %s %s", pr.verb, kindOf(d.MediaType), d.Digest)
	case registry.EventTag:
		pr.printf("tagged %s %s", ev.Tag, d.Digest)
	}
}

func (pr *progress) startBar(d digest.Digest, total int64) {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if b := pr.bars[d]; b != nil {
		b.Abort(true)
	}
	name := d.Encoded()
	if len(name) > 12 {
		name = name[:12]
	}
	pr.bars[d] = pr.p.New(total, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(name+" ")),
		mpb.AppendDecorators(decor.CountersKiloByte("% .1f / % .1f"), decor.Name(" "), decor.AverageSpeed(decor.SizeB1000(0), "% .1f")),
		mpb.BarRemoveOnComplete(),
	)
}

func (pr *progress) endBar(d digest.Digest, complete bool) {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	b := pr.bars[d]
	if b == nil {
		return
	}
	delete(pr.bars, d)
	if complete {
		b.SetTotal(-1, true)
	} else {
		b.Abort(true)
	}
}

// close removes any bar still shown and stops the display.
func (pr *progress) close() {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	for d, b := range pr.bars {
		b.Abort(true)
		delete(pr.bars, d)
	}
	pr.mu.Unlock()
	close(pr.stop)
	<-pr.stopped
	// One last render writes the lines printed since the previous one.
	select {
	case pr.refresh <- time.Now():
	case <-time.After(time.Second): // the display has stopped already
	}
	pr.p.Wait()
	pr.p = nil
}

func kindOf(mediaType string) string {
	switch mediaType {
	case "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json":
		return "index"
	}
	return "manifest"
}

// size formats a byte count in SI units, as registries and docker do.
func size(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}
