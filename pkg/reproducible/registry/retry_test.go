package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

func TestRetryPolicyWait(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := func(code int, retryAfter string) *http.Response {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	exact := registry.RetryPolicy{NoJitter: true}
	tests := []struct {
		name    string
		p       registry.RetryPolicy
		attempt int
		resp    *http.Response
		want    time.Duration
		wantOK  bool
	}{
		{"first retry", exact, 0, nil, 250 * time.Millisecond, true},
		{"second", exact, 1, nil, 500 * time.Millisecond, true},
		{"fourth", exact, 3, nil, 2 * time.Second, true},
		{"tries spent", exact, 4, nil, 0, false},
		{"more tries", registry.RetryPolicy{NoJitter: true, Attempts: 10}, 8, nil, 10 * time.Second, true},
		{"capped", registry.RetryPolicy{NoJitter: true, Attempts: 10, Max: 3 * time.Second}, 6, nil, 3 * time.Second, true},
		{"custom base", registry.RetryPolicy{NoJitter: true, Base: time.Second}, 2, nil, 4 * time.Second, true},
		{"500 backs off", exact, 0, resp(500, "7"), 250 * time.Millisecond, true},
		{"429 Retry-After seconds", exact, 0, resp(429, "7"), 7 * time.Second, true},
		{"503 Retry-After seconds", exact, 2, resp(503, "2"), 2 * time.Second, true},
		{"429 Retry-After zero", exact, 0, resp(429, "0"), 0, true},
		{"429 Retry-After date", exact, 0, resp(429, now.Add(90*time.Second).Format(http.TimeFormat)), 60 * time.Second, true},
		{"429 Retry-After date, higher cap", registry.RetryPolicy{NoJitter: true, MaxRetryAfter: time.Hour}, 0, resp(429, now.Add(90*time.Second).Format(http.TimeFormat)), 90 * time.Second, true},
		{"429 Retry-After past date", exact, 0, resp(429, now.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{"429 Retry-After garbage", exact, 1, resp(429, "soon"), 500 * time.Millisecond, true},
		{"429 tries spent", exact, 4, resp(429, "1"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.p.Wait(tt.attempt, tt.resp, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Wait(%d) = %v, %v; want %v, %v", tt.attempt, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRetryPolicyJitter(t *testing.T) {
	var p registry.RetryPolicy
	for attempt, base := range []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second} {
		lo, hi := base*8/10, base*12/10
		for range 200 {
			got, ok := p.Wait(attempt, nil, time.Now())
			if !ok || got < lo || got > hi {
				t.Fatalf("Wait(%d) = %v, %v; want within [%v, %v]", attempt, got, ok, lo, hi)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"999999999", 24 * time.Hour, true},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{"Tue, 02 Jan 2024 03:04:15 GMT", 10 * time.Second, true},
		{"yesterday", 0, false},
	}
	for _, tt := range tests {
		got, ok := registry.RetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 201: false, 400: false, 401: false, 403: false, 404: false, 416: false,
		408: true, 429: true, 500: true, 502: true, 503: true, 504: true, 599: true,
		501: false, 505: false,
	} {
		if got := registry.RetryableStatus(code); got != want {
			t.Errorf("RetryableStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestRetryableError(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Put", URL: "http://127.0.0.1/v2/", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"reset", urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{"broken pipe", urlErr(&net.OpError{Op: "write", Err: syscall.EPIPE}), true},
		{"refused", urlErr(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), true},
		{"EOF", urlErr(io.EOF), true},
		{"unexpected EOF", fmt.Errorf("body: %w", io.ErrUnexpectedEOF), true},
		{"timeout", urlErr(timeoutError{}), true},
		{"canceled", urlErr(context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"plain", errors.New("unsupported protocol scheme"), false},
	}
	for _, tt := range tests {
		if got := registry.RetryableError(tt.err); got != tt.want {
			t.Errorf("%s: RetryableError(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
