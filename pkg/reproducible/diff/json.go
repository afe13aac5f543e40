package diff

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// jsonDiff reports every leaf where the decoded JSON values a and b differ,
// with its path: objects by key (".key", or `["key"]` when the key is not an
// identifier), arrays by index ("[2]"). Arrays of equal length are compared
// position by position; otherwise they are aligned on their longest common
// subsequence, and the rest is reported as removed (at A's index) and added
// (at B's index), paired up as changed where a removal and an addition fall
// in the same gap.
func jsonDiff(path string, a, b any, emit func(path, change string, a, b any)) {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := slices.Sorted(maps.Keys(x))
		for k := range y {
			if _, ok := x[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := joinKey(path, k)
			xv, inX := x[k]
			yv, inY := y[k]
			switch {
			case !inY:
				emit(p, Removed, xv, nil)
			case !inX:
				emit(p, Added, nil, yv)
			default:
				jsonDiff(p, xv, yv, emit)
			}
		}
		return
	case []any:
		y, ok := b.([]any)
		if !ok {
			break
		}
		if len(x) == len(y) {
			for i := range x {
				jsonDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], emit)
			}
			return
		}
		arrayDiff(path, x, y, emit)
		return
	}
	if !jsonEqual(a, b) {
		emit(path, Changed, a, b)
	}
}

func arrayDiff(path string, x, y []any, emit func(path, change string, a, b any)) {
	// Longest common subsequence over the encoded elements.
	ex, ey := make([]string, len(x)), make([]string, len(y))
	for i := range x {
		ex[i] = render(x[i])
	}
	for j := range y {
		ey[j] = render(y[j])
	}
	l := make([][]int, len(x)+1)
	for i := range l {
		l[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if ex[i] == ey[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var gapA, gapB []int
	flush := func() {
		n := min(len(gapA), len(gapB))
		for k := 0; k < n; k++ {
			jsonDiff(fmt.Sprintf("%s[%d]", path, gapB[k]), x[gapA[k]], y[gapB[k]], emit)
		}
		for _, i := range gapA[n:] {
			emit(fmt.Sprintf("%s[%d]", path, i), Removed, x[i], nil)
		}
		for _, j := range gapB[n:] {
			emit(fmt.Sprintf("%s[%d]", path, j), Added, nil, y[j])
		}
		gapA, gapB = nil, nil
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && ex[i] == ey[j]:
			flush()
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || l[i][j+1] >= l[i+1][j]):
			gapB = append(gapB, j)
			j++
		default:
			gapA = append(gapA, i)
			i++
		}
	}
	flush()
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func joinKey(path, k string) string {
	if identifier.MatchString(k) {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	q, _ := json.Marshal(k)
	return path + "[" + string(q) + "]"
}

func jsonEqual(a, b any) bool { return render(a) == render(b) }

// render encodes a decoded JSON value compactly; maps come out sorted. A
// missing value (nil from a removal or addition) is "".
func render(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

// JSON compares two JSON documents field by field, as Explain compares
// configs, and returns a Difference per leaf that differs (Object is
// object). Its error is about a document that is not JSON.
func JSON(object string, a, b []byte) ([]Difference, error) {
	va, err := decode(a)
	if err != nil {
		return nil, fmt.Errorf("a: %v", err)
	}
	vb, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("b: %v", err)
	}
	out := []Difference{}
	jsonDiff("", va, vb, func(path, change string, x, y any) {
		out = append(out, Difference{Object: object, Path: path, Change: change, A: render(x), B: render(y)})
	})
	return out, nil
}
