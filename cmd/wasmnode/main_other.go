//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main outside a tab only explains how this command is built and used.
func main() {
	fmt.Fprintln(os.Stderr, "wasmnode runs in a browser tab: build it with `go generate ./web` (GOOS=js GOARCH=wasm) and open the node page of a tabshard server")
	os.Exit(2)
}
