package build_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/build"
)

func TestParseReference(t *testing.T) {
	d := digest.FromString("x")
	tests := []struct {
		in      string
		want    build.Reference
		wantErr string
	}{
		{in: "docker.io/library/x:tag", want: build.Reference{Registry: "docker.io", Repository: "docker.io/library/x", Tag: "tag"}},
		{in: "localhost:5000/a/b:c", want: build.Reference{Registry: "localhost:5000", Repository: "localhost:5000/a/b", Tag: "c"}},
		{in: "localhost/a", want: build.Reference{Registry: "localhost", Repository: "localhost/a", Tag: "latest"}},
		{in: "[::1]:5000/x", want: build.Reference{Registry: "[::1]:5000", Repository: "[::1]:5000/x", Tag: "latest"}},
		{in: "[::1]/x:v1", want: build.Reference{Registry: "[::1]", Repository: "[::1]/x", Tag: "v1"}},
		{in: "x@" + d.String(), want: build.Reference{Repository: "x", Digest: d}},
		{in: "example.com/x:v1@" + d.String(), want: build.Reference{Registry: "example.com", Repository: "example.com/x", Tag: "v1", Digest: d}},
		{in: "x", want: build.Reference{Repository: "x", Tag: "latest"}},
		{in: "team/app", want: build.Reference{Repository: "team/app", Tag: "latest"}},
		{in: "a.b-c/d__e---f.g/h_i:V1.0_rc-1", want: build.Reference{Registry: "a.b-c", Repository: "a.b-c/d__e---f.g/h_i", Tag: "V1.0_rc-1"}},
		{in: "a_b.c/x", wantErr: "registry host a_b.c is not valid"},
		{in: "Example.COM/app", want: build.Reference{Registry: "Example.COM", Repository: "Example.COM/app", Tag: "latest"}},
		{in: "x:" + strings.Repeat("t", 128), want: build.Reference{Repository: "x", Tag: strings.Repeat("t", 128)}},
		{in: "", wantErr: `reference "": no repository`},
		{in: ":v1", wantErr: "no repository"},
		{in: "X", wantErr: `path component "X" is not valid`},
		{in: "docker.io/Library/x", wantErr: `path component "Library" is not valid`},
		{in: "team/App:v1", wantErr: `path component "App" is not valid`},
		{in: "x:", wantErr: "tag  is not valid"},
		{in: "x:-v1", wantErr: "tag -v1 is not valid"},
		{in: "x:.v1", wantErr: "tag .v1 is not valid"},
		{in: "x:v/1", wantErr: "registry host x:v is not valid"},
		{in: "x:" + strings.Repeat("t", 129), wantErr: "is not valid"},
		{in: "x@sha256:abc", wantErr: "digest: invalid checksum digest length"},
		{in: "x@", wantErr: "digest:"},
		{in: "a//b", wantErr: `path component ""`},
		{in: "/x", wantErr: `path component ""`},
		{in: "x/", wantErr: `path component ""`},
		{in: "-x", wantErr: `path component "-x"`},
		{in: "x_", wantErr: `path component "x_"`},
		{in: "exa_mple.com:80/x", wantErr: "registry host exa_mple.com:80 is not valid"},
		{in: "example.com:port/x", wantErr: "registry host example.com:port is not valid"},
		{in: "[::1/x", wantErr: "registry host [::1 is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := build.ParseReference(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseReference(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseReference(%q) (-want +got):\n%s", tt.in, diff)
			}
			// String gives a reference that parses to the same.
			again, err := build.ParseReference(got.String())
			if err != nil || again != got {
				t.Errorf("ParseReference(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseTag(t *testing.T) {
	if r, err := build.ParseTag("example.com/app"); err != nil || r.Tag != "latest" {
		t.Errorf("ParseTag(example.com/app) = %+v, %v", r, err)
	}
	if _, err := build.ParseTag("example.com/app@" + digest.FromString("x").String()); err == nil || !strings.Contains(err.Error(), "a digest cannot name an output") {
		t.Errorf("ParseTag with a digest: %v", err)
	}
}
