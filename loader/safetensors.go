package loader

import "fmt"

func openSafetensorsDir(dir string) (*Model, error) {
	return nil, fmt.Errorf("loader: %s: safetensors directories are not supported yet", dir)
}

func openSafetensorsIndex(path string, _ any) (*Model, error) {
	return nil, fmt.Errorf("loader: %s: safetensors indexes are not supported yet", path)
}

func openSafetensorsFile(path string) (*Model, error) {
	return nil, fmt.Errorf("loader: %s: not a GGUF file, and safetensors is not supported yet", path)
}
