package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// JSON blobs are decoded twice: leniently into map[string]any, to report
// every field of the wrong type with its path ("os": 42 is a problem, not
// a crash or a silently empty string), then into the typed struct the
// semantic checks read. A field with a type problem is skipped by them.

// badPaths are the JSON paths whose values had the wrong type.
type badPaths map[string]bool

// has reports whether p, or a field that holds p, had the wrong type.
func (b badPaths) has(p string) bool {
	for k := range b {
		if k == "" || p == k || strings.HasPrefix(p, k+".") || strings.HasPrefix(p, k+"[") {
			return true
		}
	}
	return false
}

// under reports whether p, a field that holds it, or a field inside it had
// the wrong type.
func (b badPaths) under(p string) bool {
	if b.has(p) {
		return true
	}
	for k := range b {
		if strings.HasPrefix(k, p+".") || strings.HasPrefix(k, p+"[") {
			return true
		}
	}
	return false
}

// decodeJSON parses a JSON blob leniently. It reports a blob that is not
// one JSON value, and keys that appear twice in one object (decoders
// disagree about which value counts).
func (c *checker) decodeJSON(name string, b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		c.problem(location{blob: name}, ErrInvalid, "not JSON: %v", err)
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		c.problem(location{blob: name}, ErrInvalid, "not JSON: data after the top-level value")
		return nil, false
	}
	duplicateKeys(b, func(path string) {
		c.problem(location{name, path}, ErrInvalid, "duplicate key: decoders disagree about which value counts")
	})
	return v, true
}

// decodeObject is decodeJSON for a blob that must be a JSON object.
func (c *checker) decodeObject(name string, b []byte) (map[string]any, bool) {
	v, ok := c.decodeJSON(name, b)
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.problem(location{blob: name}, ErrInvalid, "is %s, want a JSON object", describeJSON(v))
		return nil, false
	}
	return m, true
}

// decodeTyped checks the types of m's fields against out's Go type,
// reporting each mismatch, then decodes b into out as well as it can.
func (c *checker) decodeTyped(name string, b []byte, m map[string]any, out any) badPaths {
	bad := badPaths{}
	typeCheck(m, reflect.TypeOf(out).Elem(), "", func(path, what string) {
		bad[path] = true
		c.problem(location{name, path}, ErrInvalid, "%s", what)
	})
	if err := json.Unmarshal(b, out); err != nil && len(bad) == 0 {
		// typeCheck follows encoding/json's rules, so this is a backstop.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			bad[te.Field] = true
			c.problem(location{name, te.Field}, ErrInvalid, "is a JSON %s, want %s", te.Value, te.Type)
		} else {
			bad[""] = true
			c.problem(location{blob: name}, ErrInvalid, "%v", err)
		}
	}
	return bad
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// typeCheck reports each value in v that encoding/json could not decode
// into t, with its JSON path. null is accepted anywhere (it leaves the Go
// value as it is); the checks that need a field report it missing. The
// recursion follows t, whose depth is fixed, never v's.
func typeCheck(v any, t reflect.Type, path string, report func(path, what string)) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		raw, err := json.Marshal(v)
		if err == nil {
			err = json.Unmarshal(raw, reflect.New(t).Interface())
		}
		if err != nil {
			report(path, fmt.Sprintf("%s: %v", describeJSON(v), err))
		}
		return
	}
	want := func(what string) { report(path, fmt.Sprintf("is %s, want %s", describeJSON(v), what)) }
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			want("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			want("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n, ok := v.(json.Number); !ok {
			want("an integer")
		} else if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			want(fmt.Sprintf("an integer that fits %d bits", t.Bits()))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n, ok := v.(json.Number); !ok {
			want("an integer")
		} else if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			want(fmt.Sprintf("a non-negative integer that fits %d bits", t.Bits()))
		}
	case reflect.Float32, reflect.Float64:
		if n, ok := v.(json.Number); !ok {
			want("a number")
		} else if _, err := strconv.ParseFloat(string(n), t.Bits()); err != nil {
			want("a number in range")
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if s, ok := v.(string); !ok {
				want("a base64 string")
			} else if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				report(path, "is not base64: "+err.Error())
			}
			return
		}
		a, ok := v.([]any)
		if !ok {
			want("an array")
			return
		}
		for i, e := range a {
			typeCheck(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", report)
		}
	case reflect.Map:
		o, ok := v.(map[string]any)
		if !ok {
			want("an object")
			return
		}
		for _, k := range sortedKeys(o) {
			typeCheck(o[k], t.Elem(), path+"["+strconv.Quote(k)+"]", report)
		}
	case reflect.Struct:
		o, ok := v.(map[string]any)
		if !ok {
			want("an object")
			return
		}
		keys := sortedKeys(o)
		for _, f := range jsonFields(t) {
			k, ok := f.name, false
			if _, ok = o[k]; !ok {
				// encoding/json matches field names case-insensitively.
				i := slices.IndexFunc(keys, func(k string) bool { return strings.EqualFold(k, f.name) })
				if ok = i >= 0; ok {
					k = keys[i]
				}
			}
			if ok {
				typeCheck(o[k], f.typ, joinField(path, f.name), report)
			}
		}
	}
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields lists the fields encoding/json decodes into t, embedded
// structs' fields promoted.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describeJSON names a decoded JSON value for a message.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "the number " + clip(string(v))
	case string:
		return "the string " + strconv.Quote(clip(v))
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// duplicateKeys reports each key that appears twice in one object, with
// its path. b must already have decoded (so its nesting is bounded by
// encoding/json's limit); paths are built only when reported.
func duplicateKeys(b []byte, report func(path string)) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var segs []string
	path := func() string { return strings.TrimPrefix(strings.Join(segs, ""), ".") }
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				segs = append(segs, "."+k)
				if seen[k] {
					report(path())
				}
				seen[k] = true
				if err := walk(); err != nil {
					return err
				}
				segs = segs[:len(segs)-1]
			}
		case '[':
			for i := 0; dec.More(); i++ {
				segs = append(segs, "["+strconv.Itoa(i)+"]")
				if err := walk(); err != nil {
					return err
				}
				segs = segs[:len(segs)-1]
			}
		}
		_, err = dec.Token()
		return err
	}
	walk()
}
