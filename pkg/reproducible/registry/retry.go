package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// RetryPolicy says how often a request or a blob transfer is tried and how
// long to wait in between. Its zero value is the default: 5 attempts,
// backoff from 250ms doubling to at most 10s with ±20% jitter, and a
// Retry-After header honoured up to 60s.
type RetryPolicy struct {
	// Attempts is the number of tries in all, the first one included.
	Attempts int
	// Base is the wait before the second try; each later wait doubles.
	Base time.Duration
	// Max caps one wait computed by backoff.
	Max time.Duration
	// MaxRetryAfter caps the wait a 429 or 503 response asks for with
	// Retry-After. A longer request is cut to this.
	MaxRetryAfter time.Duration
	// NoJitter makes waits exact, for tests.
	NoJitter bool
}

func (p RetryPolicy) attempts() int {
	if p.Attempts <= 0 {
		return 5
	}
	return p.Attempts
}

// Wait returns how long to wait after failed try number attempt (0 for the
// first try) that got resp (nil when the request got no response), and
// whether another try is allowed at all. now dates a Retry-After given as
// an HTTP date.
func (p RetryPolicy) Wait(attempt int, resp *http.Response, now time.Time) (time.Duration, bool) {
	if attempt+1 >= p.attempts() {
		return 0, false
	}
	base, max := p.Base, p.Max
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if max <= 0 {
		max = 10 * time.Second
	}
	if d, ok := retryAfterOf(resp, now); ok {
		return min(d, p.maxRetryAfter()), true
	}
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if !p.NoJitter {
		// ±20%, so that parallel transfers do not retry in step.
		d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	}
	return d, true
}

func (p RetryPolicy) maxRetryAfter() time.Duration {
	if p.MaxRetryAfter <= 0 {
		return 60 * time.Second
	}
	return p.MaxRetryAfter
}

// retryAfterOf is the wait a 429 or 503 response asks for.
func retryAfterOf(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return 0, false
	}
	return RetryAfter(resp.Header.Get("Retry-After"), now)
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date
// (RFC 9110 10.2.3), relative to now. A date in the past is a zero wait.
func RetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > int64(24*time.Hour/time.Second) {
			s = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(s) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// RetryableStatus reports whether a response status is worth another try:
// 408, 429 and the 5xx statuses other than 501 and 505, which say the
// request can never succeed.
func RetryableStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// RetryableError reports whether a request that failed without a response
// may succeed when tried again: a dropped or reset connection, a timeout, a
// refused connection. Cancellation and TLS or URL errors are final.
func RetryableError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, net.ErrClosed), errors.Is(err, http.ErrServerClosed):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// transportPolicy adapts a RetryPolicy to oras-go's retry.Transport, which
// retries one HTTP request when its body can be replayed: every request but
// a streamed blob upload, which Copy retries as a whole.
type transportPolicy struct {
	p   RetryPolicy
	now func() time.Time
}

func (t transportPolicy) Retry(attempt int, resp *http.Response, err error) (time.Duration, error) {
	if err != nil {
		if !RetryableError(err) {
			return -1, nil
		}
	} else if !RetryableStatus(resp.StatusCode) {
		return -1, nil
	}
	now := t.now()
	d, ok := t.p.Wait(attempt, resp, now)
	if resp != nil && resp.Request != nil {
		// A streamed upload cannot be replayed here; leave the wait the
		// server asked for to the transfer that will start it again.
		if h, _ := resp.Request.Context().Value(hintKey{}).(*retryHint); h != nil {
			if ra, ok := retryAfterOf(resp, now); ok {
				h.set(min(ra, t.p.maxRetryAfter()))
			}
		}
	}
	if !ok {
		return -1, nil
	}
	return d, nil
}

type hintKey struct{}

// retryHint carries the Retry-After of the last failed response of a
// transfer from the HTTP layer up to the loop that retries the whole
// transfer (which otherwise backs off by its own count of tries).
type retryHint struct {
	mu sync.Mutex
	d  time.Duration
	ok bool
}

func (h *retryHint) set(d time.Duration) {
	h.mu.Lock()
	h.d, h.ok = d, true
	h.mu.Unlock()
}

// take returns the recorded wait, once.
func (h *retryHint) take() (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.d, h.ok
	h.d, h.ok = 0, false
	return d, ok
}

// sourceError marks a failure to read the blob being pushed: retrying the
// upload cannot help.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// retryTransfer reports whether a failed blob transfer (an upload, a mount
// or the rest of a download) should be started again. A status the HTTP
// layer could have retried by itself (any request but a streamed PUT or
// PATCH) was retried there already, and is final here.
func retryTransfer(err error) bool {
	var se *sourceError
	var me *blob.MismatchError
	if errors.As(err, &se) || errors.As(err, &me) || errors.Is(err, blob.ErrNotFound) {
		return false
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		if er.Method != http.MethodPut && er.Method != http.MethodPatch {
			return false
		}
		return RetryableStatus(er.StatusCode)
	}
	return RetryableError(err)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
