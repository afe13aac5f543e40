package registry_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/registry"
)

const testDigest = "sha256:1d6b7f7f2904a22505cea9a17c76c642e9213bb60c52ea26f52d478b8499c86a"

func TestParseReference(t *testing.T) {
	tests := []struct {
		in      string
		want    registry.Reference
		str     string
		wantErr string
	}{
		{in: "127.0.0.1:5000/app:v1", want: registry.Reference{Registry: "127.0.0.1:5000", Repository: "app", Tag: "v1"}},
		{in: "localhost/a/b", want: registry.Reference{Registry: "localhost", Repository: "a/b"}},
		{in: "localhost:5000/a@" + testDigest, want: registry.Reference{Registry: "localhost:5000", Repository: "a", Digest: testDigest}},
		{in: "example.com/team/app:1.0@" + testDigest, want: registry.Reference{Registry: "example.com", Repository: "team/app", Tag: "1.0", Digest: testDigest}},
		{in: "[::1]:5000/app", want: registry.Reference{Registry: "[::1]:5000", Repository: "app"}},
		{in: "alpine", want: registry.Reference{Registry: "docker.io", Repository: "library/alpine"}, str: "docker.io/library/alpine"},
		{in: "alpine:3.20", want: registry.Reference{Registry: "docker.io", Repository: "library/alpine", Tag: "3.20"}, str: "docker.io/library/alpine:3.20"},
		{in: "user/app", want: registry.Reference{Registry: "docker.io", Repository: "user/app"}, str: "docker.io/user/app"},
		{in: "a.b/c__d/e-f.g_h:T_1.x-y", want: registry.Reference{Registry: "a.b", Repository: "c__d/e-f.g_h", Tag: "T_1.x-y"}},
		{in: "", wantErr: "empty"},
		{in: "example.com/App", wantErr: `path component "App"`},
		{in: "example.com/app:", wantErr: "tag"},
		{in: "example.com/app:-x", wantErr: "tag"},
		{in: "example.com/app:" + strings.Repeat("t", 129), wantErr: "tag"},
		{in: "example.com/app@sha256:abc", wantErr: "digest"},
		{in: "example.com/app@md5:d41d8cd98f00b204e9800998ecf8427e", wantErr: "digest"},
		{in: "example.com//app", wantErr: `path component ""`},
		{in: "exa_mple.com:5000/app", wantErr: "registry host"},
		{in: "example.com/" + strings.Repeat("a", 250), wantErr: "characters long"},
		{in: "example.com/app/", wantErr: `path component ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := registry.ParseReference(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseReference(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true,
		"[::1]:5000": true, "::1": true,
		"example.com": false, "10.0.0.1:5000": false, "localhost.example.com": false, "[::2]:5000": false,
	} {
		if got := registry.IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestPlainHTTP(t *testing.T) {
	c, err := registry.NewClient(registry.Options{PlainHTTP: []string{"insecure.example", "other.example:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"127.0.0.1:5000":        true,
		"insecure.example":      true,
		"insecure.example:8080": true,
		"other.example:5000":    true,
		"other.example":         false,
		"other.example:5001":    false,
		"secure.example":        false,
	} {
		if got := c.PlainHTTP(host); got != want {
			t.Errorf("PlainHTTP(%q) = %v, want %v", host, got, want)
		}
	}
	all, _ := registry.NewClient(registry.Options{Insecure: true})
	if !all.PlainHTTP("secure.example") {
		t.Error("Insecure: PlainHTTP(secure.example) = false")
	}
}
