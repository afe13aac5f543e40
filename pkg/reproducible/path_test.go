package reproducible_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func TestCleanPath(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // for CleanPath
		wantErr string // substring; "" means no error
		member  string // "!": CleanMemberPath refuses it as absolute
	}{
		{name: "relative", in: "usr/bin/app", want: "usr/bin/app"},
		{name: "absolute", in: "/usr/bin/app", want: "usr/bin/app", member: "!"},
		{name: "dot prefix", in: "./usr/bin", want: "usr/bin"},
		{name: "trailing slash", in: "usr/bin/", want: "usr/bin"},
		{name: "double slashes", in: "usr//bin///app", want: "usr/bin/app"},
		{name: "inner dot dot", in: "usr/lib/../bin", want: "usr/bin"},
		{name: "dot dot back to a child", in: "a/b/../../c", want: "c"},
		{name: "non-ASCII", in: "opt/ünïcødé/日本語", want: "opt/ünïcødé/日本語"},
		{name: "long", in: strings.Repeat("x", 300), want: strings.Repeat("x", 300)},
		{name: "empty", in: "", wantErr: "empty path"},
		{name: "root", in: "/", wantErr: "names the root itself", member: "!"},
		{name: "dot", in: ".", wantErr: "names the root itself"},
		{name: "dot slash", in: "./", wantErr: "names the root itself"},
		{name: "dot dot back to the root", in: "a/..", wantErr: "names the root itself"},
		{name: "climbs", in: "../x", wantErr: "climbs out of the root"},
		{name: "climbs later", in: "a/../../x", wantErr: "climbs out of the root"},
		{name: "absolute climbs", in: "/../x", wantErr: "climbs out of the root", member: "!"},
		{name: "only dot dot", in: "..", wantErr: "climbs out of the root"},
		{name: "NUL", in: "a\x00b", wantErr: "NUL byte"},
		{name: "invalid UTF-8", in: "caf\xe9", wantErr: "not valid UTF-8"},
		{name: "truncated UTF-8", in: "\xe6\x97", wantErr: "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reproducible.CleanPath(tt.in)
			check(t, "CleanPath", tt.in, got, err, tt.want, tt.wantErr)

			want, wantErr := tt.want, tt.wantErr
			if tt.member == "!" {
				want, wantErr = "", "is absolute"
			}
			got, err = reproducible.CleanMemberPath(tt.in)
			check(t, "CleanMemberPath", tt.in, got, err, want, wantErr)
		})
	}
}

func check(t *testing.T, fn, in, got string, err error, want, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil {
			t.Fatalf("%s(%q) = %q, want an error containing %q", fn, in, got, wantErr)
		}
		if !errors.Is(err, reproducible.ErrUnsafePath) {
			t.Errorf("%s(%q): error %q does not wrap ErrUnsafePath", fn, in, err)
		}
		if !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s(%q): error %q does not contain %q", fn, in, err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s(%q): %v", fn, in, err)
	}
	if got != want {
		t.Errorf("%s(%q) = %q, want %q", fn, in, got, want)
	}
}

func TestComparePaths(t *testing.T) {
	// Byte order puts a directory before its children, even when a sibling
	// sorts between them ("a-b" < "a/b" because '-' < '/').
	in := []string{"a/b", "a-b", "a", "b", "a/b/c", "A", "é", "z"}
	want := []string{"A", "a", "a-b", "a/b", "a/b/c", "b", "z", "é"}
	got := slices.Clone(in)
	slices.SortFunc(got, reproducible.ComparePaths)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted paths (-want +got):\n%s", diff)
	}
}
