package unpack_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/unpack"
)

// Apply two layers: the second removes a file of the first with a whiteout.
func ExampleApply() {
	layer := func(files map[string]string) *bytes.Reader {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, name := range []string{"etc/hostname", "etc/.wh.motd", "etc/motd"} {
			body, ok := files[name]
			if !ok {
				continue
			}
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))})
			tw.Write([]byte(body))
		}
		tw.Close()
		return bytes.NewReader(buf.Bytes())
	}
	dir, _ := os.MkdirTemp("", "rootfs-")
	defer os.RemoveAll(dir)
	res, err := unpack.Apply(context.Background(), dir, unpack.Options{},
		layer(map[string]string{"etc/hostname": "box\n", "etc/motd": "hi\n"}),
		layer(map[string]string{"etc/.wh.motd": ""}))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range res.Entries {
		fmt.Println(e.Kind, e.Path)
	}
	_, err = os.Stat(filepath.Join(dir, "etc/motd"))
	fmt.Println("etc/motd removed:", os.IsNotExist(err))
	// Output:
	// dir etc
	// file etc/hostname
	// etc/motd removed: true
}
