package image

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

// ConfigFile is the image config document: ocispec.Image with the Docker
// extensions (Healthcheck, Shell, OnBuild) that the OCI type lacks. Fields
// are in ocispec.Image's order.
type ConfigFile struct {
	Created *time.Time `json:"created,omitempty"`
	Author  string     `json:"author,omitempty"`
	ocispec.Platform
	Config  ImageConfig       `json:"config,omitempty"`
	RootFS  ocispec.RootFS    `json:"rootfs"`
	History []ocispec.History `json:"history,omitempty"`
}

// ImageConfig is ocispec.ImageConfig plus Docker's Healthcheck, Shell and
// OnBuild, written only when set.
type ImageConfig struct {
	ocispec.ImageConfig
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	Shell       []string      `json:"Shell,omitempty"`
	OnBuild     []string      `json:"OnBuild,omitempty"`
}

// HealthConfig is Docker's healthcheck; durations are nanoseconds in JSON.
type HealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// Overrides are what an image sets on top of its base, with Dockerfile
// semantics: nil or empty fields inherit. A nil slice inherits; an empty
// non-nil Entrypoint or Cmd clears the inherited one.
type Overrides struct {
	User       *string
	Env        []string // "KEY=VALUE"; merged by key into the base's
	Entrypoint []string // setting it resets an inherited Cmd
	Cmd        []string
	WorkingDir *string
	Labels     map[string]string // merged into the base's
	// ExposedPorts are "N", "N/tcp" or "N/udp"; unioned with the base's.
	ExposedPorts []string
	// Volumes are absolute paths; unioned with the base's.
	Volumes     []string
	StopSignal  *string
	Healthcheck *HealthConfig
	Shell       []string
	OnBuild     []string
}

// LayerHistory describes one added layer: its DiffID and the history entry
// that explains it.
type LayerHistory struct {
	DiffID    digest.Digest
	CreatedBy string
	Comment   string
}

// ConfigOptions are the inputs of NewConfig.
type ConfigOptions struct {
	// Base is the base image's config; nil builds from scratch.
	Base     *ConfigFile
	Platform ocispec.Platform
	// Created is the image's creation time. Nil means the Unix epoch: the
	// field is always written, because some tools misread an absent one,
	// and the epoch is what every reproducible builder writes.
	Created *time.Time
	Author  string
	Overrides
	Layers []LayerHistory
	// EmptyLayerComment, when no layer is added, is the created_by of the
	// empty_layer history entry that records the config change.
	EmptyLayerCreatedBy string
}

// NewConfig computes the config of an image as a pure function of its
// inputs. Errors name the field (config.Env[2], config.ExposedPorts[0]).
func NewConfig(opts ConfigOptions) (ConfigFile, Blob, error) {
	var c ConfigFile
	if opts.Base != nil {
		c = cloneConfig(*opts.Base)
	}
	if opts.Platform.OS == "" || opts.Platform.Architecture == "" {
		return ConfigFile{}, Blob{}, fmt.Errorf("platform: os and architecture are required")
	}
	c.Platform = opts.Platform
	created := reproducible.Epoch
	if opts.Created != nil {
		created = opts.Created.UTC().Truncate(time.Second)
	}
	c.Created = &created
	if opts.Author != "" {
		c.Author = opts.Author
	}
	if err := applyOverrides(&c.Config, opts.Overrides); err != nil {
		return ConfigFile{}, Blob{}, err
	}
	if c.RootFS.Type == "" {
		c.RootFS.Type = "layers"
	}
	if c.RootFS.Type != "layers" {
		return ConfigFile{}, Blob{}, fmt.Errorf("base config: rootfs.type %q: want \"layers\"", c.RootFS.Type)
	}
	c.History = pairHistory(c.History, len(c.RootFS.DiffIDs))
	for _, l := range opts.Layers {
		if err := l.DiffID.Validate(); err != nil {
			return ConfigFile{}, Blob{}, fmt.Errorf("layer diff_id %q: %v", l.DiffID, err)
		}
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.DiffID)
		c.History = append(c.History, ocispec.History{Created: &created, CreatedBy: l.CreatedBy, Comment: l.Comment})
	}
	if len(opts.Layers) == 0 && opts.EmptyLayerCreatedBy != "" {
		c.History = append(c.History, ocispec.History{Created: &created, CreatedBy: opts.EmptyLayerCreatedBy, EmptyLayer: true})
	}
	if c.RootFS.DiffIDs == nil {
		c.RootFS.DiffIDs = []digest.Digest{}
	}
	b, err := NewBlob(ocispec.MediaTypeImageConfig, c)
	return c, b, err
}

// pairHistory makes the non-empty history entries of a base pair one to one
// with its diff_ids: a base without history gets one placeholder entry per
// layer; a base whose history does not pair is given placeholders for the
// missing ones and loses the surplus, so the invariant holds downstream.
func pairHistory(h []ocispec.History, layers int) []ocispec.History {
	n := 0
	for _, e := range h {
		if !e.EmptyLayer {
			n++
		}
	}
	if n == layers {
		return h
	}
	var out []ocispec.History
	n = 0
	for _, e := range h {
		if !e.EmptyLayer {
			if n == layers {
				continue
			}
			n++
		}
		out = append(out, e)
	}
	for ; n < layers; n++ {
		out = append(out, ocispec.History{CreatedBy: "base layer (no history)"})
	}
	return out
}

func applyOverrides(c *ImageConfig, o Overrides) error {
	if o.User != nil {
		c.User = *o.User
	}
	for i, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("config.Env[%d]: %q: want KEY=VALUE", i, kv)
		}
		if j := slices.IndexFunc(c.Env, func(e string) bool { return strings.SplitN(e, "=", 2)[0] == k }); j >= 0 {
			c.Env[j] = kv
		} else {
			c.Env = append(c.Env, kv)
		}
	}
	if o.Entrypoint != nil {
		c.Entrypoint = nilIfEmpty(o.Entrypoint)
		if o.Cmd == nil {
			c.Cmd = nil
		}
	}
	if o.Cmd != nil {
		c.Cmd = nilIfEmpty(o.Cmd)
	}
	if o.WorkingDir != nil {
		c.WorkingDir = *o.WorkingDir
	}
	if len(o.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		maps.Copy(c.Labels, o.Labels)
	}
	for i, p := range o.ExposedPorts {
		port, err := NormalizePort(p)
		if err != nil {
			return fmt.Errorf("config.ExposedPorts[%d]: %w", i, err)
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[port] = struct{}{}
	}
	for i, v := range o.Volumes {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("config.Volumes[%d]: %q: want an absolute path", i, v)
		}
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		c.Volumes[v] = struct{}{}
	}
	if o.StopSignal != nil {
		c.StopSignal = *o.StopSignal
	}
	if o.Healthcheck != nil {
		c.Healthcheck = o.Healthcheck
	}
	if o.Shell != nil {
		c.Shell = nilIfEmpty(o.Shell)
	}
	if o.OnBuild != nil {
		c.OnBuild = nilIfEmpty(o.OnBuild)
	}
	return nil
}

// NormalizePort turns "N", "N/tcp" or "N/udp" into "N/proto".
func NormalizePort(p string) (string, error) {
	num, proto, ok := strings.Cut(p, "/")
	if !ok {
		proto = "tcp"
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != num || (proto != "tcp" && proto != "udp") {
		return "", fmt.Errorf("port %q: want N, N/tcp or N/udp with N in 1..65535", p)
	}
	return num + "/" + proto, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func cloneConfig(c ConfigFile) ConfigFile {
	c.Config.Env = slices.Clone(c.Config.Env)
	c.Config.Entrypoint = slices.Clone(c.Config.Entrypoint)
	c.Config.Cmd = slices.Clone(c.Config.Cmd)
	c.Config.Labels = maps.Clone(c.Config.Labels)
	c.Config.ExposedPorts = maps.Clone(c.Config.ExposedPorts)
	c.Config.Volumes = maps.Clone(c.Config.Volumes)
	c.Config.Shell = slices.Clone(c.Config.Shell)
	c.Config.OnBuild = slices.Clone(c.Config.OnBuild)
	c.RootFS.DiffIDs = slices.Clone(c.RootFS.DiffIDs)
	c.History = slices.Clone(c.History)
	return c
}

// ChainIDs computes the chain ID of each layer prefix, as the image-spec
// defines it: ChainID(L0) = DiffID(L0), ChainID(L0|..|Ln) =
// sha256(ChainID(L0|..|Ln-1) + " " + DiffID(Ln)).
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}
