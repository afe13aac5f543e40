package reproducible_test

import (
	"fmt"

	"github.com/imagewriter/rules_imagewriter/pkg/reproducible"
)

func ExampleCleanPath() {
	for _, p := range []string{"/usr/bin/app", "./etc//hosts/", "a/../../etc/passwd", "/"} {
		c, err := reproducible.CleanPath(p)
		fmt.Printf("%q %q %v\n", p, c, err)
	}
	// Output:
	// "/usr/bin/app" "usr/bin/app" <nil>
	// "./etc//hosts/" "etc/hosts" <nil>
	// "a/../../etc/passwd" "" unsafe path: "a/../../etc/passwd" climbs out of the root
	// "/" "" unsafe path: "/" names the root itself
}

func ExampleMarshal() {
	b, _ := reproducible.Marshal(map[string]any{"b": 1, "a": []string{"<x>"}})
	fmt.Printf("%s|\n", b)
	// Output:
	// {"a":["<x>"],"b":1}|
}
