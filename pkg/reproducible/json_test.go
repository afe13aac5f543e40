package reproducible_test

import (
	"testing"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func TestMarshal(t *testing.T) {
	type inner struct {
		Z string `json:"z"`
		A int    `json:"a,omitempty"`
	}
	type outer struct {
		B     string            `json:"b"`
		A     map[string]string `json:"a"`
		Inner inner             `json:"inner"`
	}
	tests := []struct {
		name       string
		in         any
		want       string
		wantIndent string
	}{
		{
			name: "fields in declaration order, map keys sorted, no HTML escaping",
			in:   outer{B: "<&>", A: map[string]string{"z": "1", "a": "2", "é": "3", "B": "4"}, Inner: inner{Z: "z"}},
			want: `{"b":"<&>","a":{"B":"4","a":"2","z":"1","é":"3"},"inner":{"z":"z"}}`,
			wantIndent: `{
  "b": "<&>",
  "a": {
    "B": "4",
    "a": "2",
    "z": "1",
    "é": "3"
  },
  "inner": {
    "z": "z"
  }
}
`,
		},
		{name: "empty map", in: map[string]int{}, want: `{}`, wantIndent: "{}\n"},
		{name: "string", in: "a\u2028b", want: `"a\u2028b"`, wantIndent: "\"a\\u2028b\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reproducible.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal:\n got %s\nwant %s", got, tt.want)
			}
			got, err = reproducible.MarshalIndent(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.wantIndent {
				t.Errorf("MarshalIndent:\n got %s\nwant %s", got, tt.wantIndent)
			}
		})
	}
	if _, err := reproducible.Marshal(func() {}); err == nil {
		t.Error("Marshal(func) succeeded")
	}
}
