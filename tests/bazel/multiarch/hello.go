package main

import (
	"os"
	"runtime"
)

func main() {
	os.Stdout.WriteString("hello from " + runtime.GOOS + "/" + runtime.GOARCH + "\n")
}
