package registry

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
)

// DockerHub is the registry a reference without a host names, as Docker
// reads it: "alpine" is "docker.io/library/alpine".
const DockerHub = "docker.io"

// dockerHubEndpoint is the host that serves docker.io's API.
const dockerHubEndpoint = "registry-1.docker.io"

// Reference names a repository of a registry and, optionally, a tag and a
// digest in it.
type Reference struct {
	// Registry is "host[:port]", e.g. "127.0.0.1:5000" or "docker.io".
	Registry string
	// Repository is the path in the registry, e.g. "library/alpine".
	Repository string
	// Tag and Digest are optional; a reference with both means the digest
	// (the tag is informational, as Docker reads "name:tag@digest").
	Tag    string
	Digest digest.Digest
}

var (
	tagRE       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// maxRepositoryLength is the distribution spec's limit on a repository
// name with its registry.
const maxRepositoryLength = 255

// ParseReference parses "[host[:port]/]path[:tag][@digest]" by the
// distribution reference grammar. The first path component is the registry
// when it holds a "." or ":", is "localhost" or is a bracketed IPv6
// address; otherwise the registry is docker.io, and a one-component path
// gets docker.io's "library/" prefix. The tag and digest stay empty when
// not given: callers choose their defaults.
func ParseReference(s string) (Reference, error) {
	bad := func(format string, args ...any) (Reference, error) {
		return Reference{}, fmt.Errorf("reference %q: %s", s, fmt.Sprintf(format, args...))
	}
	if s == "" {
		return bad("empty")
	}
	var r Reference
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		d, err := digest.Parse(name[i+1:])
		if err != nil {
			return bad("digest: %v", err)
		}
		if err := blob.ValidateDescriptor(descriptorOf(d)); err != nil {
			return bad("digest: %v", err)
		}
		r.Digest, name = d, name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i >= 0 && !strings.Contains(name[i+1:], "/") {
		r.Tag, name = name[i+1:], name[:i]
		if !tagRE.MatchString(r.Tag) {
			return bad("tag %q is not valid (letters, digits, '_', '.', '-'; at most 128)", r.Tag)
		}
	}
	parts := strings.Split(name, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:[") || parts[0] == "localhost") {
		if !hostRE.MatchString(parts[0]) {
			return bad("registry host %q is not valid", parts[0])
		}
		r.Registry, parts = parts[0], parts[1:]
	} else {
		r.Registry = DockerHub
		if len(parts) == 1 {
			parts = []string{"library", parts[0]}
		}
	}
	for _, p := range parts {
		if !componentRE.MatchString(p) {
			return bad("path component %q is not valid (lowercase letters and digits, separated by '.', '_', '__' or '-')", p)
		}
	}
	r.Repository = strings.Join(parts, "/")
	if n := len(r.Registry) + 1 + len(r.Repository); n > maxRepositoryLength {
		return bad("name is %d characters long, more than %d", n, maxRepositoryLength)
	}
	return r, nil
}

// Name is "registry/repository".
func (r Reference) Name() string { return r.Registry + "/" + r.Repository }

// String formats the reference: name, then ":tag" and "@digest" when set.
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// WithDigest returns the repository's reference to d, with no tag.
func (r Reference) WithDigest(d digest.Digest) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Digest: d}
}

// WithTag returns the repository's reference to tag, with no digest.
func (r Reference) WithTag(tag string) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Tag: tag}
}

// endpoint is the host that serves the registry's API.
func (r Reference) endpoint() string {
	if r.Registry == DockerHub {
		return dockerHubEndpoint
	}
	return r.Registry
}

// ValidateTag checks a tag by the distribution grammar.
func ValidateTag(tag string) error {
	if !tagRE.MatchString(tag) {
		return fmt.Errorf("tag %q is not valid (letters, digits, '_', '.', '-'; at most 128)", tag)
	}
	return nil
}

// IsLoopback reports whether host ("host[:port]") is this machine:
// localhost, 127.0.0.0/8 or ::1. Such registries are spoken to over plain
// HTTP without being asked.
func IsLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
