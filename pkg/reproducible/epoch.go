package reproducible

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Epoch is the default timestamp of every tar entry: 1970-01-01T00:00:00Z.
// It is the value tar, gzip and most reproducible-build tools treat as
// "no time", and it fits every tar header format.
var Epoch = time.Unix(0, 0).UTC()

// ParseSourceDateEpoch parses a SOURCE_DATE_EPOCH value: a decimal count of
// seconds since the Unix epoch, as https://reproducible-builds.org/specs/source-date-epoch/
// defines it. The caller reads the environment; this package never does.
func ParseSourceDateEpoch(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want a non-negative whole number of seconds", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

// ParseTime parses a timestamp given by a user: RFC 3339 ("2024-01-02T03:04:05Z")
// or "@SECONDS". The result is UTC and truncated to whole seconds.
func ParseTime(v string) (time.Time, error) {
	if s, ok := strings.CutPrefix(v, "@"); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %q: want RFC 3339 or @SECONDS", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 or @SECONDS", v)
	}
	return t.UTC().Truncate(time.Second), nil
}
