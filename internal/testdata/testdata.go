// Package testdata finds the reference model files tests compare against:
// ../shared/models beside the checkout (as CI lays it out), or the directory
// named by TABSHARD_MODELS. Tests that need them skip, saying why, when
// neither exists; everything the README's commands need at run time is in
// the repository itself.
package testdata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Root returns the repository root (the directory holding go.mod).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ModelsDir returns the shared models directory, or "" if there is none.
func ModelsDir() string {
	if d := os.Getenv("TABSHARD_MODELS"); d != "" {
		return d
	}
	d := filepath.Join(Root(), "..", "shared", "models")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d
	}
	return ""
}

// Path returns ModelsDir()/rel, skipping the test when the file is absent.
func Path(t testing.TB, rel string) string {
	t.Helper()
	d := ModelsDir()
	if d == "" {
		t.Skip("reference models not found: put them at ../shared/models or set TABSHARD_MODELS")
	}
	p := filepath.Join(d, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("reference file %s not found", p)
	}
	return p
}
