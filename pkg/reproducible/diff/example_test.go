package diff_test

import (
	"context"
	"fmt"
	"os"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/diff"
	"github.com/imagewriter/rules_imagewriter/pkg/reproducible/layout"
)

// Explain two image layouts and print the report for people.
func ExampleExplain() {
	ctx := context.Background()
	open := func(path string) diff.Side {
		src, err := layout.Open(ctx, path)
		if err != nil {
			panic(err)
		}
		root, err := src.FindRef("") // the only image of the layout
		if err != nil {
			panic(err)
		}
		return diff.Side{Name: path, Fetcher: src, Root: root}
	}
	if _, err := os.Stat("out/v1"); err != nil {
		return // the layouts this example compares are not built here
	}
	r, err := diff.Explain(ctx, open("out/v1"), open("out/v2"), diff.Options{})
	if err != nil {
		fmt.Println("cannot compare:", err)
		return
	}
	diff.Render(os.Stdout, r)
	for _, d := range r.Differences {
		fmt.Println(d.Where(), d.Change, d.A, "→", d.B)
	}
}

// Compare two JSON documents field by field, as configs are compared.
func ExampleJSON() {
	ds, _ := diff.JSON("config", []byte(`{"config": {"Env": ["A=1", "B=2"]}}`), []byte(`{"config": {"Env": ["A=1", "B=3"]}}`))
	for _, d := range ds {
		fmt.Println(d.Where(), d.Change, d.A, "→", d.B)
	}
	// Output: config config.Env[1] changed "B=2" → "B=3"
}
