package layer_test

import (
	"context"
	"fmt"
	"io"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
)

// A layer from entries made in code. The digests are the same on every
// machine: nothing but the entries, the compression and its level decide
// the bytes.
func Example() {
	s, err := layer.NewSpec([]layer.Entry{
		{Path: "/etc/motd", Kind: layer.File, Mode: 0o644, Source: layer.Inline("hello\n")},
		{Path: "/usr/bin/hello", Kind: layer.Symlink, Mode: 0o777, Linkname: "/bin/echo"},
		{Path: "/etc/old.conf", Kind: layer.Whiteout},
	}, layer.SpecOptions{CreateParentDirectories: true})
	if err != nil {
		panic(err)
	}
	for _, e := range s.Entries() {
		fmt.Printf("%-8s %04o %s\n", e.Kind, e.Mode, e.Path)
	}
	m, err := layer.Build(context.Background(), io.Discard, s, layer.BuildOptions{
		Compression: reproducible.Compression{Algorithm: reproducible.Zstd},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Descriptor.MediaType)
	fmt.Println(m.DiffID)
	// Output:
	// dir      0755 etc
	// whiteout 0000 etc/old.conf
	// file     0644 etc/motd
	// dir      0755 usr
	// dir      0755 usr/bin
	// symlink  0777 usr/bin/hello
	// application/vnd.oci.image.layer.v1.tar+zstd
	// sha256:49a1467b2f6778f37195f38770a054444526a58b4e47daa649fb1ba45924f142
}
