package build

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"sigs.k8s.io/yaml"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/blob"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/image"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layer"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// SpecFile is the declarative image spec `imagewriter build -f` reads (JSON,
// or YAML when the file name ends in .yaml or .yml). docs/build-spec.md
// documents every field.
type SpecFile struct {
	Base *BaseSpec `json:"base,omitempty"`
	// Platforms to build, "os/arch[/variant]"; default linux/amd64. More
	// than one makes an index.
	Platforms   []string                  `json:"platforms,omitempty"`
	Compression *reproducible.Compression `json:"compression,omitempty"`
	// Created is RFC 3339 or "@SECONDS"; default the Unix epoch.
	Created     *string           `json:"created,omitempty"`
	Author      string            `json:"author,omitempty"`
	Config      ConfigSpec        `json:"config,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// IndexAnnotations go on the index of a multi-platform build.
	IndexAnnotations map[string]string `json:"indexAnnotations,omitempty"`
	// Tag names the output ("repository:tag"); --tag overrides it.
	Tag    string      `json:"tag,omitempty"`
	Layers []LayerSpec `json:"layers,omitempty"`
}

// BaseSpec names a base image on disk.
type BaseSpec struct {
	// Path is an OCI layout directory, an OCI archive or a Docker archive;
	// relative to the spec file.
	Path string `json:"path"`
	// Ref selects an image in the layout's index.json by its ref.name (or a
	// Docker archive's RepoTags); "" when there is only one.
	Ref string `json:"ref,omitempty"`
	// Name is written to org.opencontainers.image.base.name.
	Name string `json:"name,omitempty"`
}

// ConfigSpec is the image config a spec sets, with Dockerfile semantics
// over the base's (see image.Overrides).
type ConfigSpec struct {
	User         *string           `json:"user,omitempty"`
	Env          []string          `json:"env,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	WorkingDir   *string           `json:"workingDir,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	StopSignal   *string           `json:"stopSignal,omitempty"`
	Healthcheck  *HealthcheckSpec  `json:"healthcheck,omitempty"`
	Shell        []string          `json:"shell,omitempty"`
	OnBuild      []string          `json:"onBuild,omitempty"`
}

// HealthcheckSpec is Docker's HEALTHCHECK with Go durations ("30s").
type HealthcheckSpec struct {
	Test          []string `json:"test"`
	Interval      string   `json:"interval,omitempty"`
	Timeout       string   `json:"timeout,omitempty"`
	StartPeriod   string   `json:"startPeriod,omitempty"`
	StartInterval string   `json:"startInterval,omitempty"`
	Retries       int      `json:"retries,omitempty"`
}

// LayerSpec is a layer of the image: a layer spec (the same fields as
// `imagewriter layer --spec`) and its history.
type LayerSpec struct {
	CreatedBy string `json:"createdBy,omitempty"`
	Comment   string `json:"comment,omitempty"`
	layer.SpecFile
}

// ParseSpecFile decodes a spec strictly (unknown fields are errors). A name
// ending in .yaml or .yml is read as YAML.
func ParseSpecFile(name string, b []byte) (*SpecFile, error) {
	if ext := strings.ToLower(filepath.Ext(name)); ext == ".yaml" || ext == ".yml" {
		j, err := yaml.YAMLToJSON(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		b = j
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sf SpecFile
	if err := dec.Decode(&sf); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: trailing data after the spec", name)
	}
	return &sf, nil
}

// Overrides converts the config part of the spec.
func (c ConfigSpec) Overrides() (image.Overrides, error) {
	o := image.Overrides{
		User: c.User, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir,
		Labels: c.Labels, ExposedPorts: c.ExposedPorts, Volumes: c.Volumes, StopSignal: c.StopSignal,
		Shell: c.Shell, OnBuild: c.OnBuild,
	}
	if h := c.Healthcheck; h != nil {
		hc := &image.HealthConfig{Test: h.Test, Retries: h.Retries}
		for _, d := range []struct {
			name string
			in   string
			out  *time.Duration
		}{
			{"interval", h.Interval, &hc.Interval},
			{"timeout", h.Timeout, &hc.Timeout},
			{"startPeriod", h.StartPeriod, &hc.StartPeriod},
			{"startInterval", h.StartInterval, &hc.StartInterval},
		} {
			if d.in == "" {
				continue
			}
			v, err := time.ParseDuration(d.in)
			if err != nil || v < 0 {
				return o, fmt.Errorf("config.healthcheck.%s: %q: want a duration such as 30s", d.name, d.in)
			}
			*d.out = v
		}
		if len(h.Test) == 0 {
			return o, fmt.Errorf("config.healthcheck.test: required")
		}
		o.Healthcheck = hc
	}
	return o, nil
}

// Options change how a spec is built.
type Options struct {
	// BaseDir resolves relative paths: the spec file's directory.
	BaseDir string
	// Platforms, when set, replace the spec's.
	Platforms []string
	// Compression, when set, replaces the spec's and each layer's.
	Compression *reproducible.Compression
	// Time, when set, is the default of created and of every entry mtime
	// (SOURCE_DATE_EPOCH, on request).
	Time time.Time
	// WorkDir holds the built layer blobs; the output links them.
	WorkDir string
}

// Built is a spec built to layer blobs and metadata, ready to Write.
type Built struct {
	Output Output
	Blobs  Blobs
	close  func() error
}

// Close releases the base image.
func (b *Built) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}

// Build builds every layer of the spec for every platform into opts.WorkDir
// and computes the images (and the index for several platforms). A layer
// without per-platform sources is built once and shared.
func Build(ctx context.Context, sf *SpecFile, opts Options) (_ *Built, err error) {
	if opts.WorkDir == "" && len(sf.Layers) > 0 {
		// Layer blobs would otherwise land in the current directory.
		return nil, fmt.Errorf("build options: WorkDir is required to hold the layer blobs")
	}
	platforms := sf.Platforms
	if len(opts.Platforms) > 0 {
		platforms = opts.Platforms
	}
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64"}
	}
	var ps []ocispec.Platform
	for i, s := range platforms {
		p, err := image.ParsePlatform(s)
		if err != nil {
			return nil, fmt.Errorf("platforms[%d]: %w", i, err)
		}
		ps = append(ps, p)
	}
	if sf.Tag != "" {
		// Checked before any layer is built, not only when writing.
		if _, err := ParseTag(sf.Tag); err != nil {
			return nil, fmt.Errorf("tag: %w", err)
		}
	}
	overrides, err := sf.Config.Overrides()
	if err != nil {
		return nil, err
	}
	var created *time.Time
	if !opts.Time.IsZero() {
		created = &opts.Time
	}
	if sf.Created != nil {
		t, err := reproducible.ParseTime(*sf.Created)
		if err != nil {
			return nil, fmt.Errorf("created: %w", err)
		}
		created = &t
	}
	out := &Built{}
	defer func() {
		if err != nil {
			out.Close()
		}
	}()
	var base *layout.Source
	if sf.Base != nil {
		p := sf.Base.Path
		if p == "" {
			return nil, fmt.Errorf("base.path: required")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(opts.BaseDir, p)
		}
		if base, err = layout.Open(ctx, p); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		out.close = base.Close
		out.Blobs.Fetchers = append(out.Blobs.Fetchers, base.Fetcher)
	}
	shared := map[int]layer.Metadata{}
	var images []image.Image
	for _, p := range ps {
		req := ImageRequest{Platform: p, Created: created, Author: sf.Author, Overrides: overrides, Annotations: sf.Annotations}
		if base != nil {
			root, err := base.FindRef(sf.Base.Ref)
			if err != nil {
				return nil, fmt.Errorf("base %s: %w", sf.Base.Path, err)
			}
			bi, err := image.Resolve(ctx, base, root, &p)
			if err != nil {
				return nil, fmt.Errorf("base %s: %w", sf.Base.Path, err)
			}
			req.Base = &Base{Image: bi, Name: sf.Base.Name}
			if bi.Converted {
				// Serve the converted manifest too, should anything ask.
				out.Blobs.Fetchers = append(out.Blobs.Fetchers, blobFetcher(bi.Manifest))
			}
		}
		for i := range sf.Layers {
			ls := &sf.Layers[i]
			m, ok := shared[i]
			if !ok {
				m, err = buildLayer(ctx, ls, i, p, sf.Compression, opts)
				if err != nil {
					return nil, err
				}
				if !ls.perPlatform() {
					shared[i] = m
				}
			}
			out.Blobs.AddLayer(m.Descriptor, layerPath(opts.WorkDir, m))
			req.Layers = append(req.Layers, Layer{Metadata: m, CreatedBy: ls.CreatedBy, Comment: ls.Comment})
		}
		img, err := Image(req)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", image.PlatformString(p), err)
		}
		images = append(images, img)
	}
	out.Output.Tag = sf.Tag
	if len(images) == 1 {
		out.Output.Image = &images[0]
		return out, nil
	}
	idx, err := NewIndexMetadata(images, sf.IndexAnnotations)
	if err != nil {
		return nil, err
	}
	out.Output.Index = &idx
	return out, nil
}

func (ls *LayerSpec) perPlatform() bool {
	for _, e := range ls.Entries {
		if len(e.Sources) > 0 {
			return true
		}
	}
	return false
}

func layerPath(dir string, m layer.Metadata) string {
	return filepath.Join(dir, "layer-"+m.Descriptor.Digest.Encoded())
}

func buildLayer(ctx context.Context, ls *LayerSpec, i int, p ocispec.Platform, specComp *reproducible.Compression, opts Options) (layer.Metadata, error) {
	var c reproducible.Compression
	switch {
	case opts.Compression != nil:
		c = *opts.Compression
	case ls.Compression != nil:
		c = *ls.Compression
	case specComp != nil:
		c = *specComp
	}
	s, err := ls.SpecFile.Spec(layer.ResolveOptions{
		BaseDir:        opts.BaseDir,
		Platform:       image.PlatformString(p),
		DefaultModTime: opts.Time,
		TempDir:        opts.WorkDir,
	})
	if err != nil {
		return layer.Metadata{}, fmt.Errorf("layers[%d]: %w", i, err)
	}
	defer s.Close()
	tmp := filepath.Join(opts.WorkDir, fmt.Sprintf("building-%d", i))
	m, err := layer.WriteFiles(ctx, s, layer.BuildOptions{Compression: c}, tmp, tmp+".json")
	if err != nil {
		return layer.Metadata{}, fmt.Errorf("layers[%d]: %w", i, err)
	}
	os.Remove(tmp + ".json")
	if err := os.Rename(tmp, layerPath(opts.WorkDir, m)); err != nil {
		return layer.Metadata{}, err
	}
	return m, nil
}

// blobFetcher serves one blob from memory.
func blobFetcher(b image.Blob) blob.Fetcher {
	m := blob.NewMemory()
	m.Push(context.Background(), b.Descriptor, bytes.NewReader(b.Data))
	return m
}
