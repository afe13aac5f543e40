package reproducible_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func TestEpoch(t *testing.T) {
	if !reproducible.Epoch.Equal(time.Unix(0, 0)) || reproducible.Epoch.Location() != time.UTC {
		t.Errorf("Epoch = %v, want 1970-01-01T00:00:00Z in UTC", reproducible.Epoch)
	}
}

func TestParseSourceDateEpoch(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "0", want: time.Unix(0, 0)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: " 1700000000\n", want: time.Unix(1700000000, 0)},
		{in: "", wantErr: `SOURCE_DATE_EPOCH "": want a non-negative whole number of seconds`},
		{in: "-1", wantErr: `SOURCE_DATE_EPOCH "-1"`},
		{in: "1.5", wantErr: `SOURCE_DATE_EPOCH "1.5"`},
		{in: "2024-01-01T00:00:00Z", wantErr: `SOURCE_DATE_EPOCH "2024-01-01T00:00:00Z"`},
	}
	for _, tt := range tests {
		got, err := reproducible.ParseSourceDateEpoch(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSourceDateEpoch(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseSourceDateEpoch(%q) = %v, %v; want %v UTC", tt.in, got, err, tt.want.UTC())
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "@0", want: time.Unix(0, 0)},
		{in: "@1700000000", want: time.Unix(1700000000, 0)},
		{in: "2024-01-02T03:04:05Z", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2024-01-02T12:04:05+09:00", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2024-01-02T03:04:05.999Z", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "@x", wantErr: true},
		{in: "2024-01-02", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := reproducible.ParseTime(tt.in)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "want RFC 3339 or @SECONDS") {
				t.Errorf("ParseTime(%q) = %v, %v; want an error", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
