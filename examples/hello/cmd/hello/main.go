// Command hello is the program of the example image: a static binary that
// says where it runs. scripts/example.sh builds it for linux/amd64 and
// linux/arm64 with flags that make the binary the same on every machine.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("hello from rules_imagewriter on %s/%s\n", runtime.GOOS, runtime.GOARCH)
}
