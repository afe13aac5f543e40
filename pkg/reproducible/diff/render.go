package diff

import (
	"fmt"
	"io"
	"strings"
)

// Render writes the report for people: the two tops, then each difference
// under the image it belongs to, in the order of the walk.
//
//	a: out/a (sha256:…, application/vnd.oci.image.index.v1+json)
//	b: out/b (sha256:…, application/vnd.oci.image.index.v1+json)
//	linux/amd64: manifest sha256:… → sha256:…, config sha256:… → sha256:…
//	  config config.Env[1]: "MODE=dev" → "MODE=prod"
//	  layers[1]: etc/app.conf: mode: 0644 → 0600
//	2 differences
func Render(w io.Writer, r Report) error {
	bw := &errWriter{w: w}
	fmt.Fprintf(bw, "a: %s (%s, %s)\n", r.A.Name, r.A.Descriptor.Digest, r.A.Descriptor.MediaType)
	fmt.Fprintf(bw, "b: %s (%s, %s)\n", r.B.Name, r.B.Descriptor.Digest, r.B.Descriptor.MediaType)
	if r.Identical {
		fmt.Fprintln(bw, "identical")
		return bw.err
	}
	images := map[string]ImagePair{}
	for _, p := range r.Images {
		images[p.Platform] = p
	}
	header := "\x00"
	for _, d := range r.Differences {
		if d.Platform != header {
			header = d.Platform
			if p, ok := images[d.Platform]; ok {
				name := d.Platform
				if name == "" {
					name = "image"
				}
				fmt.Fprintf(bw, "%s: manifest %s, config %s\n", name, arrow(string(p.Manifest.A), string(p.Manifest.B)), arrow(string(p.Config.A), string(p.Config.B)))
			}
		}
		fmt.Fprintf(bw, "  %s\n", line(d))
	}
	n := len(r.Differences)
	switch n {
	case 0:
		fmt.Fprintln(bw, "no differences found below the top digests")
	case 1:
		fmt.Fprintln(bw, "1 difference")
	default:
		fmt.Fprintf(bw, "%d differences\n", n)
	}
	return bw.err
}

func arrow(a, b string) string {
	if a == b {
		return a + " (same)"
	}
	if a == "" {
		a = "(none)"
	}
	if b == "" {
		b = "(none)"
	}
	return a + " → " + b
}

// line renders one difference: where, then what.
func line(d Difference) string {
	var s string
	switch d.Object {
	case ObjectLayer, ObjectEntry:
		parts := []string{layerName(d.LayerA, d.LayerB)}
		if d.Path != "" {
			parts = append(parts, d.Path)
		}
		if d.Field != "" {
			parts = append(parts, d.Field)
		}
		s = strings.Join(parts, ": ")
	default:
		s = d.Object
		if d.Path != "" {
			s += " " + d.Path
		}
		if d.Field != "" {
			s += ": " + d.Field
		}
	}
	switch d.Change {
	case Added:
		s += ": added"
		if d.B != "" {
			s += ": " + d.B
		}
	case Removed:
		s += ": removed"
		if d.A != "" {
			s += ": " + d.A
		}
	default:
		if d.Field == "compression" {
			s += "\n      a: " + d.A + "\n      b: " + d.B
		} else {
			s += ": " + show(d.A) + " → " + show(d.B)
		}
	}
	if d.Note != "" {
		s += "\n      (" + d.Note + ")"
	}
	return s
}

func show(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
