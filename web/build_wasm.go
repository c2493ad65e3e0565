//go:build ignore

// build_wasm builds the wasm node into dist/ (run by `go generate ./web`):
// GOOS=js GOARCH=wasm go build ../cmd/wasmnode, and copies wasm_exec.js
// from the same Go toolchain (lib/wasm since Go 1.24, misc/wasm before), so
// the JavaScript glue always matches the binary.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, "go generate ./web:", err)
		os.Exit(1)
	}
}

func build() error {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	goroot := strings.TrimSpace(string(out))
	if err := os.MkdirAll("dist", 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join("dist", "node.wasm"), "../cmd/wasmnode")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building cmd/wasmnode for js/wasm: %w", err)
	}
	for _, dir := range []string{"lib/wasm", "misc/wasm"} {
		b, err := os.ReadFile(filepath.Join(goroot, dir, "wasm_exec.js"))
		if err == nil {
			return os.WriteFile(filepath.Join("dist", "wasm_exec.js"), b, 0o644)
		}
	}
	return fmt.Errorf("wasm_exec.js not found under %s/lib/wasm or %s/misc/wasm", goroot, goroot)
}
