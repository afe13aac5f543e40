package layer

import (
	"bytes"
	"strings"
)

// splitPath splits a cleaned path into its parent ("" for top level) and base.
func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// parents returns every proper ancestor of a cleaned path, outermost first.
func parents(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

func newBytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
