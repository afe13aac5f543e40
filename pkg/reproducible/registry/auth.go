package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Sentinels callers branch on.
var (
	// ErrUnauthorized: the registry wants credentials that were not found,
	// or rejected the ones given (HTTP 401).
	ErrUnauthorized = errors.New("authentication required")
	// ErrDenied: the credentials are valid but not allowed to do this (403).
	ErrDenied = errors.New("access denied")
)

// credentialStore looks up credentials in auth files, first match wins,
// and remembers every secret it hands out so that errors can be scrubbed.
type credentialStore struct {
	files  []string
	stores []credentials.Store

	mu      sync.Mutex
	secrets []string
	found   map[string]bool // host -> a credential was found
}

// newCredentialStore opens the auth files (Docker's config.json format, as
// containers' auth.json also is). A missing file is empty; credsStore and
// credHelpers entries run the docker-credential-* helpers they name.
func newCredentialStore(files []string) (*credentialStore, error) {
	cs := &credentialStore{files: files, found: map[string]bool{}}
	for _, f := range files {
		s, err := credentials.NewStore(f, credentials.StoreOptions{})
		if err != nil {
			// Only the first line: a decoder never quotes the file, but be sure.
			return nil, fmt.Errorf("auth file %s: %s", f, strings.SplitN(err.Error(), "\n", 2)[0])
		}
		cs.stores = append(cs.stores, s)
	}
	return cs, nil
}

// credential is the auth.CredentialFunc of the client.
func (cs *credentialStore) credential(ctx context.Context, hostport string) (auth.Credential, error) {
	key := credentials.ServerAddressFromHostname(hostport)
	for i, s := range cs.stores {
		c, err := s.Get(ctx, key)
		if err != nil {
			// A helper's error may echo what it was given; name the file only.
			return auth.EmptyCredential, fmt.Errorf("credentials for %s from %s: %s", hostport, cs.files[i], cs.redact(err.Error()))
		}
		if c != auth.EmptyCredential {
			cs.remember(hostport, c)
			return c, nil
		}
	}
	return auth.EmptyCredential, nil
}

func (cs *credentialStore) remember(host string, c auth.Credential) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.found[host] = true
	for _, s := range []string{c.Password, c.RefreshToken, c.AccessToken} {
		if s != "" {
			cs.secrets = append(cs.secrets, s, url.QueryEscape(s), url.PathEscape(s))
		}
	}
	if c.Username != "" || c.Password != "" {
		cs.secrets = append(cs.secrets, base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
}

func (cs *credentialStore) hadCredential(host string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.found[host]
}

// redact replaces every secret handed out so far with "[redacted]".
func (cs *credentialStore) redact(s string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, sec := range cs.secrets {
		if len(sec) >= 4 { // shorter strings would blank out ordinary text
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// scrubbedError is an error whose message has had secrets removed, and
// whose cause still matches under errors.Is and errors.As.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// wrapError gives a registry error its final form: the subject first, the
// request without its query (upload session state) and the registry's
// message, with ErrUnauthorized or ErrDenied for 401 and 403, and every
// known secret scrubbed.
func (c *Client) wrapError(subject string, ref Reference, err error) error {
	host := ref.Registry
	if err == nil {
		return nil
	}
	var er *errcode.ErrorResponse
	msg := err.Error()
	var sentinel error
	switch {
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		// The registry asked for basic auth and no credentials were found.
		sentinel = ErrUnauthorized
		msg = fmt.Sprintf("%s: no credentials for %s in %s", ErrUnauthorized, host, c.authFilesText())
	case errors.As(err, &er):
		target := ""
		if er.URL != nil {
			target = er.URL.Path
		}
		detail := http.StatusText(er.StatusCode)
		if len(er.Errors) > 0 {
			detail = er.Errors.Error()
		}
		msg = fmt.Sprintf("%s %s: %d %s", er.Method, target, er.StatusCode, detail)
		switch er.StatusCode {
		case http.StatusUnauthorized:
			sentinel = ErrUnauthorized
			if c.creds.hadCredential(ref.endpoint()) {
				msg += fmt.Sprintf(": %s: the credentials for %s were rejected", ErrUnauthorized, host)
			} else {
				msg += fmt.Sprintf(": %s: no credentials for %s in %s", ErrUnauthorized, host, c.authFilesText())
			}
		case http.StatusForbidden:
			sentinel = ErrDenied
			msg += ": " + ErrDenied.Error()
		}
	}
	msg = c.creds.redact(subject + ": " + msg)
	if sentinel != nil {
		return &scrubbedError{msg: msg, err: errors.Join(sentinel, err)}
	}
	return &scrubbedError{msg: msg, err: err}
}

func (c *Client) authFilesText() string {
	if len(c.creds.files) == 0 {
		return "no auth file (none configured)"
	}
	return strings.Join(c.creds.files, ", ")
}
