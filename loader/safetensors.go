package loader

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SafetensorsShard is one safetensors file of a checkpoint.
type SafetensorsShard struct {
	Name string // for errors and Model.Files
	R    io.ReaderAt
	Size int64
}

// OpenSafetensors builds a Model from the shards of a LLaMA safetensors
// checkpoint and its config: GGUF metadata keys, GGUF tensor names, ggml-order
// dims, and q/k rows permuted into GGUF's RoPE order on ReadTensor. Every
// tensor must be one the config implies, with the shape it implies, and every
// implied tensor must be present. The Model does not own the readers.
func OpenSafetensors(cfg *HFConfig, shards []SafetensorsShard) (*Model, error) {
	if cfg == nil {
		return nil, fmt.Errorf("safetensors: a config is needed for head counts and metadata")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	headers := make([]*stHeader, len(shards))
	for i, s := range shards {
		h, err := parseSafetensorsHeader(s.R, s.Size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		headers[i] = h
	}
	return assembleSafetensors(cfg, shards, headers)
}

func assembleSafetensors(cfg *HFConfig, shards []SafetensorsShard, headers []*stHeader) (*Model, error) {
	m := &Model{Format: FormatSafetensors, Meta: cfg.ggufMetadata(), index: make(map[string]int)}
	for _, s := range shards {
		m.Files = append(m.Files, s.Name)
		m.srcs = append(m.srcs, s.R)
	}
	seenHF := make(map[string]string) // HF name -> shard, across shards
	for fi, h := range headers {
		for _, st := range h.tensors {
			if prev, dup := seenHF[st.name]; dup {
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", st.name, prev, shards[fi].Name)
			}
			seenHF[st.name] = shards[fi].Name
			name, role, err := mapHFName(st.name, cfg.NumHiddenLayers)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", shards[fi].Name, err)
			}
			if role == roleIgnored || (role == roleOutput && cfg.TieWordEmbeddings) {
				// Tied checkpoints may still store lm_head; GGUF has no
				// output tensor then, the embedding is reused.
				m.Ignored = append(m.Ignored, st.name)
				continue
			}
			if want := hfShape(cfg, role); !equalDims(st.shape, want) {
				return nil, fmt.Errorf("safetensors: tensor %q has shape %v, config.json implies %v", st.name, st.shape, want)
			}
			t := TensorInfo{Name: name, Type: st.typ, Dims: reversed(st.shape), Offset: st.begin, Size: st.size, File: fi}
			switch role {
			case roleQ:
				t.PermuteHeads = int(cfg.NumAttentionHeads)
			case roleK:
				t.PermuteHeads = int(cfg.KVHeads())
			}
			m.index[name] = len(m.Tensors)
			m.Tensors = append(m.Tensors, t)
		}
	}
	if err := checkComplete(cfg, m); err != nil {
		return nil, err
	}
	sort.SliceStable(m.Tensors, func(i, j int) bool { return tensorOrder(m.Tensors[i].Name) < tensorOrder(m.Tensors[j].Name) })
	for i, t := range m.Tensors {
		m.index[t.Name] = i
	}
	return m, nil
}

// checkComplete refuses checkpoints missing a tensor the config implies.
func checkComplete(cfg *HFConfig, m *Model) error {
	want := int(cfg.NumHiddenLayers)*hfTensorsPerLayer + 2
	need := []string{"token_embd.weight", "output_norm.weight"}
	if !cfg.TieWordEmbeddings {
		want++
		need = append(need, "output.weight")
	}
	for _, n := range need {
		if _, ok := m.index[n]; !ok {
			return fmt.Errorf("safetensors: checkpoint has no tensor for %s", n)
		}
	}
	if len(m.Tensors) != want {
		for l := uint64(0); l < cfg.NumHiddenLayers; l++ {
			for _, lt := range hfLayerTensors {
				if lt.role == roleIgnored {
					continue
				}
				if n := fmt.Sprintf("blk.%d.%s", l, lt.gguf); !hasTensor(m, n) {
					return fmt.Errorf("safetensors: checkpoint has no tensor for %s", n)
				}
			}
		}
		return fmt.Errorf("safetensors: checkpoint has %d tensors, config.json implies %d", len(m.Tensors), want)
	}
	return nil
}

func hasTensor(m *Model, name string) bool { _, ok := m.index[name]; return ok }

// tensorOrder sorts tensors as llama.cpp writes them: embedding, layers in
// order, then the final norm and head.
func tensorOrder(name string) string {
	switch {
	case name == "token_embd.weight":
		return "0"
	case strings.HasPrefix(name, "blk."):
		rest := strings.TrimPrefix(name, "blk.")
		num, suffix, _ := strings.Cut(rest, ".")
		return fmt.Sprintf("1%010s.%s", num, suffix)
	}
	return "2" + name
}

// Bounds on the JSON side files: real ones are kilobytes.
const (
	maxConfigJSON = 1 << 20
	maxIndexJSON  = 64 << 20
)

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func loadHFConfig(dir string) (*HFConfig, error) {
	p := filepath.Join(dir, "config.json")
	b, err := readSmallFile(p, maxConfigJSON)
	if err != nil {
		return nil, fmt.Errorf("safetensors: config.json is needed beside the weights: %w", err)
	}
	c, err := ParseHFConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// openSafetensorsDir opens a directory holding config.json and either
// model.safetensors.index.json or a single safetensors file.
func openSafetensorsDir(dir string) (*Model, error) {
	idx := filepath.Join(dir, "model.safetensors.index.json")
	if _, err := os.Stat(idx); err == nil {
		return openSafetensorsIndex(idx)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	switch len(files) {
	case 0:
		return nil, fmt.Errorf("loader: %s holds no .safetensors file and no model.safetensors.index.json", dir)
	case 1:
		return openSafetensorsFile(files[0])
	}
	return nil, fmt.Errorf("loader: %s holds %d .safetensors files but no model.safetensors.index.json to say which belong together", dir, len(files))
}

// openSafetensorsFile opens one safetensors file with config.json beside it.
func openSafetensorsFile(path string) (*Model, error) {
	cfg, err := loadHFConfig(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return openShards(cfg, []string{path}, nil)
}

// stIndex is model.safetensors.index.json.
type stIndex struct {
	WeightMap map[string]string `json:"weight_map"`
}

// openSafetensorsIndex opens the shards a model.safetensors.index.json
// lists, checking that each shard holds exactly the tensors the index says.
func openSafetensorsIndex(path string) (*Model, error) {
	dir := filepath.Dir(path)
	b, err := readSmallFile(path, maxIndexJSON)
	if err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	var ix stIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is empty", path)
	}
	var names []string
	seen := make(map[string]bool)
	for tensor, file := range ix.WeightMap {
		if file == "" || file != filepath.Base(file) || strings.ContainsAny(file, `/\`) || file == "." || file == ".." {
			return nil, fmt.Errorf("%s: tensor %q maps to %q, which is not a file name in the same directory", path, tensor, file)
		}
		if !seen[file] {
			seen[file] = true
			names = append(names, file)
		}
	}
	sort.Strings(names)
	cfg, err := loadHFConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return openShards(cfg, paths, ix.WeightMap)
}

// openShards opens the files, parses their headers, checks them against the
// index's weight map (when there is one) and assembles the Model, which owns
// the files.
func openShards(cfg *HFConfig, paths []string, weightMap map[string]string) (m *Model, err error) {
	var files []*os.File
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	shards := make([]SafetensorsShard, len(paths))
	headers := make([]*stHeader, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		shards[i] = SafetensorsShard{Name: p, R: f, Size: st.Size()}
		if headers[i], err = parseSafetensorsHeader(f, st.Size()); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	if weightMap != nil {
		if err := checkWeightMap(weightMap, shards, headers); err != nil {
			return nil, err
		}
	}
	m, err = assembleSafetensors(cfg, shards, headers)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		m.closers = append(m.closers, f)
	}
	// GGUF conversions name the model after its directory; do the same so
	// inspect shows something useful.
	m.Meta.set("general.name", stringValue(filepath.Base(filepath.Dir(paths[0]))))
	return m, nil
}

func checkWeightMap(wm map[string]string, shards []SafetensorsShard, headers []*stHeader) error {
	found := 0
	for i, h := range headers {
		base := filepath.Base(shards[i].Name)
		for _, t := range h.tensors {
			want, ok := wm[t.name]
			if !ok {
				return fmt.Errorf("safetensors: %s holds %q, which the index does not list", base, t.name)
			}
			if want != base {
				return fmt.Errorf("safetensors: %s holds %q, which the index puts in %s", base, t.name, want)
			}
			found++
		}
	}
	if found != len(wm) {
		for name, file := range wm {
			if !shardHas(headers, shards, file, name) {
				return fmt.Errorf("safetensors: the index puts %q in %s, which does not hold it", name, file)
			}
		}
	}
	return nil
}

func shardHas(headers []*stHeader, shards []SafetensorsShard, file, name string) bool {
	for i, h := range headers {
		if filepath.Base(shards[i].Name) != file {
			continue
		}
		for _, t := range h.tensors {
			if t.name == name {
				return true
			}
		}
	}
	return false
}
