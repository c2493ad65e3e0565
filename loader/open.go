package loader

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Open opens a model from a path: a .gguf file; a .safetensors file; a
// model.safetensors.index.json; or a directory holding config.json with
// safetensors weights. The format of a single file is decided by its first
// bytes, not its name. Close the Model to release the files.
func Open(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if st.IsDir() {
		return openSafetensorsDir(path)
	}
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return openSafetensorsIndex(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err == nil && string(magic[:]) == ggufMagic {
		m, err := OpenGGUF(f, st.Size())
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m.Files = []string{path}
		m.closers = []io.Closer{f}
		// A gguf-split shard holds only part of the tensors; opening it as
		// the model would quietly lose the rest.
		if n, err := m.Meta.Uint("split.count"); err == nil && n > 1 {
			m.Close()
			return nil, fmt.Errorf("%s: is part of a %d-file gguf-split model; merge it with llama-gguf-split --merge first", path, n)
		}
		return m, nil
	}
	// Safetensors starts with a u64 header length and then '{'.
	var head [9]byte
	_, err = f.ReadAt(head[:], 0)
	f.Close()
	if err != nil || head[8] != '{' {
		return nil, fmt.Errorf("loader: %s is neither GGUF nor safetensors (it starts %q)", path, head[:min(st.Size(), 9)])
	}
	return openSafetensorsFile(path)
}
