package reproducible

import (
	"bytes"
	"encoding/json"
)

// Marshal is the one JSON encoder for every blob the writer emits: compact,
// struct fields in declaration order, map keys sorted, no HTML escaping and
// no trailing newline. A blob is encoded once; its bytes are never re-encoded.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalIndent is Marshal for files people read (metadata, reports): two-space
// indentation and a trailing newline. It is never used for a blob.
func MarshalIndent(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
