package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/tabshard/tabshard/quant"
)

// ManifestVersion is the manifest format this package writes and reads.
const ManifestVersion = 1

// Blob names. A model splits into one blob per component: BlobMeta (all
// metadata, the tokenizer included, and any tensor that belongs to no single
// component), BlobEmbed (token_embd), one LayerBlob(i) per block (every
// blk.i.* tensor) and BlobHead (output_norm and, unless the head is tied to
// the embeddings, output).
const (
	BlobMeta  = "meta"
	BlobEmbed = "embed"
	BlobHead  = "head"
)

// LayerBlob names the blob of block i.
func LayerBlob(i int) string { return "layer." + strconv.Itoa(i) }

// Limits on what a manifest may declare. They bound what a decoder allocates
// and how much a fetcher downloads on the word of a server, far above any
// LLaMA that fits a swarm of tabs.
const (
	MaxManifestBytes  = 4 << 20
	maxManifestLayers = 1024
	maxBlobTensors    = 64
	maxBlobBytes      = 1 << 40
	maxNameLen        = 256
	maxConfigWidth    = 1 << 20
)

// ManifestConfig summarises the model's shape, so a planner can place layers
// before any blob is fetched.
type ManifestConfig struct {
	Arch       string `json:"arch"`
	Layers     int    `json:"layers"`
	Dim        int    `json:"dim"`
	FFN        int    `json:"ffn"`
	Heads      int    `json:"heads"`
	KVHeads    int    `json:"kv_heads"`
	HeadDim    int    `json:"head_dim"`
	Vocab      int    `json:"vocab"`
	Context    int    `json:"context"`
	TiedOutput bool   `json:"tied_output"`
}

// ManifestTensor is one tensor of a blob: name, ggml type name, ggml-order dims.
type ManifestTensor struct {
	Name string   `json:"name"`
	Type string   `json:"type"`
	Dims []uint64 `json:"dims"`
}

// BlobRef describes one blob: its name, exact size, sha256 (lowercase hex) and
// the tensors it holds.
type BlobRef struct {
	Name    string           `json:"name"`
	Size    int64            `json:"size"`
	SHA256  string           `json:"sha256"`
	Tensors []ManifestTensor `json:"tensors"`
}

// Manifest lists a model's blobs. Its digest (Digest) is the sha256 of its
// canonical encoding (Encode): the identity peers compare in the pipeline
// Hello, and the name under which a server publishes the model.
type Manifest struct {
	Version int            `json:"version"`
	Model   string         `json:"model"`
	Config  ManifestConfig `json:"config"`
	Blobs   []BlobRef      `json:"blobs"`
}

// Encode returns the canonical encoding: compact JSON, fields in struct
// order, blobs in order meta, embed, layer.0…layer.N-1, head.
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// Digest is the lowercase hex sha256 of the canonical encoding.
func (m *Manifest) Digest() (string, error) {
	b, err := m.Encode()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// DecodeManifest parses and validates a manifest. It accepts only the
// canonical encoding (unknown fields, duplicate or reordered fields, extra
// whitespace and trailing data are all refused), so the digest of the bytes
// received is the digest of the manifest decoded.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("manifest: %d bytes exceeds the %d-byte limit", len(b), MaxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("manifest: trailing data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	canon, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("manifest: not in canonical form (re-encode it with Manifest.Encode)")
	}
	return &m, nil
}

// DecodeManifestDigest decodes b and checks that it is the manifest named by
// digest (lowercase hex sha256 of b).
func DecodeManifestDigest(b []byte, digest string) (*Manifest, error) {
	if !isHexDigest(digest) {
		return nil, fmt.Errorf("manifest: digest %q is not 64 lowercase hex digits", digest)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != digest {
		return nil, fmt.Errorf("manifest: content hashes to %s, not the requested %s", got, digest)
	}
	return DecodeManifest(b)
}

// Validate checks every field: version, a printable model name, a sane
// config, and exactly the blobs the config implies, in order, each with a
// plausible size, a hex sha256 and tensors named after its component.
func (m *Manifest) Validate() error {
	if m.Version != ManifestVersion {
		return fmt.Errorf("manifest: version %d, want %d", m.Version, ManifestVersion)
	}
	if err := checkName("model name", m.Model); err != nil {
		return err
	}
	if err := m.Config.validate(); err != nil {
		return err
	}
	if want := m.Config.Layers + 3; len(m.Blobs) != want {
		return fmt.Errorf("manifest: %d blobs, want %d (meta, embed, %d layers, head)", len(m.Blobs), want, m.Config.Layers)
	}
	digests := make(map[string]string, len(m.Blobs))
	tensors := make(map[string]bool)
	for i, b := range m.Blobs {
		if want := m.blobNameAt(i); b.Name != want {
			return fmt.Errorf("manifest: blob %d is named %q, want %q", i, b.Name, want)
		}
		if b.Size <= 0 || b.Size > maxBlobBytes {
			return fmt.Errorf("manifest: blob %q size %d is out of range", b.Name, b.Size)
		}
		if !isHexDigest(b.SHA256) {
			return fmt.Errorf("manifest: blob %q sha256 %q is not 64 lowercase hex digits", b.Name, b.SHA256)
		}
		if other, dup := digests[b.SHA256]; dup {
			return fmt.Errorf("manifest: blobs %q and %q have the same sha256", other, b.Name)
		}
		digests[b.SHA256] = b.Name
		if err := m.checkBlobTensors(b, tensors); err != nil {
			return err
		}
	}
	return nil
}

// blobNameAt is the name the i-th blob must have.
func (m *Manifest) blobNameAt(i int) string {
	switch {
	case i == 0:
		return BlobMeta
	case i == 1:
		return BlobEmbed
	case i == m.Config.Layers+2:
		return BlobHead
	}
	return LayerBlob(i - 2)
}

func (m *Manifest) checkBlobTensors(b BlobRef, seen map[string]bool) error {
	if len(b.Tensors) > maxBlobTensors {
		return fmt.Errorf("manifest: blob %q lists %d tensors, at most %d are allowed", b.Name, len(b.Tensors), maxBlobTensors)
	}
	if b.Tensors == nil {
		return fmt.Errorf("manifest: blob %q has no tensor list (want [] when empty)", b.Name)
	}
	if b.Name != BlobMeta && len(b.Tensors) == 0 {
		return fmt.Errorf("manifest: blob %q lists no tensors", b.Name)
	}
	var total int64
	for _, t := range b.Tensors {
		if err := checkName("tensor name", t.Name); err != nil {
			return fmt.Errorf("manifest: blob %q: %w", b.Name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("manifest: tensor %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		if got := componentOf(t.Name); got != b.Name {
			return fmt.Errorf("manifest: tensor %q belongs in blob %q, not %q", t.Name, got, b.Name)
		}
		spec, err := t.spec()
		if err != nil {
			return fmt.Errorf("manifest: blob %q: %w", b.Name, err)
		}
		if len(spec.Dims) == 0 {
			return fmt.Errorf("manifest: tensor %q has no dims", t.Name)
		}
		for _, d := range spec.Dims {
			if d == 0 {
				return fmt.Errorf("manifest: tensor %q has a zero dimension", t.Name)
			}
		}
		n, err := spec.Size()
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		if total += n; total > b.Size {
			return fmt.Errorf("manifest: blob %q tensors need more than its %d bytes", b.Name, b.Size)
		}
	}
	return nil
}

// spec converts the manifest form to a TensorSpec, checking the type name.
func (t ManifestTensor) spec() (TensorSpec, error) {
	typ, err := quant.ParseType(t.Type)
	if err != nil {
		return TensorSpec{}, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return TensorSpec{Name: t.Name, Type: typ, Dims: t.Dims}, nil
}

func (c ManifestConfig) validate() error {
	if err := checkName("architecture", c.Arch); err != nil {
		return err
	}
	switch {
	case c.Layers <= 0 || c.Layers > maxManifestLayers:
		return fmt.Errorf("manifest: %d layers is out of range (1..%d)", c.Layers, maxManifestLayers)
	case c.Dim <= 0 || c.Dim > maxConfigWidth, c.FFN <= 0 || c.FFN > maxConfigWidth:
		return fmt.Errorf("manifest: widths dim=%d ffn=%d are out of range", c.Dim, c.FFN)
	case c.Heads <= 0 || c.Heads > c.Dim || c.KVHeads <= 0 || c.KVHeads > c.Heads:
		return fmt.Errorf("manifest: heads=%d kv_heads=%d are out of range", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim > maxConfigWidth:
		return fmt.Errorf("manifest: head_dim %d is out of range", c.HeadDim)
	case c.Vocab <= 0 || c.Vocab > 1<<24:
		return fmt.Errorf("manifest: vocabulary %d is out of range", c.Vocab)
	case c.Context <= 0 || c.Context > 1<<24:
		return fmt.Errorf("manifest: context %d is out of range", c.Context)
	}
	return nil
}

// checkName refuses empty, overlong and non-printable names (they end up in
// logs, file names and web pages).
func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("manifest: %s %q must be 1..%d bytes", what, s, maxNameLen)
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return fmt.Errorf("manifest: %s %q has a non-printable character", what, s)
		}
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// componentOf is the blob a tensor belongs in, by its GGUF name.
func componentOf(name string) string {
	switch name {
	case "token_embd.weight":
		return BlobEmbed
	case "output_norm.weight", "output.weight":
		return BlobHead
	}
	if i, ok := layerOf(name); ok {
		return LayerBlob(i)
	}
	return BlobMeta
}

// layerOf is the block number of a "blk.N.*" tensor name (N in canonical
// decimal form, so each layer has exactly one spelling).
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || strconv.Itoa(i) != num {
		return 0, false
	}
	return i, true
}

// Blob returns the named blob's reference.
func (m *Manifest) Blob(name string) (BlobRef, bool) {
	for _, b := range m.Blobs {
		if b.Name == name {
			return b, true
		}
	}
	return BlobRef{}, false
}

// BlobsFor lists the blobs a node holding layers [first, last) needs: meta
// always, embed on the first stage, head on the last (with embed too when
// the head is tied to the embeddings), and its layers.
func (m *Manifest) BlobsFor(first, last int) ([]BlobRef, error) {
	L := m.Config.Layers
	if first < 0 || last > L || first >= last {
		return nil, fmt.Errorf("manifest: layer range [%d,%d) is not within the model's %d layers", first, last, L)
	}
	if len(m.Blobs) != L+3 {
		return nil, fmt.Errorf("manifest: has %d blobs for %d layers (not validated?)", len(m.Blobs), L)
	}
	out := []BlobRef{m.Blobs[0]}
	if first == 0 || (last == L && m.Config.TiedOutput) {
		out = append(out, m.Blobs[1])
	}
	out = append(out, m.Blobs[2+first:2+last]...)
	if last == L {
		out = append(out, m.Blobs[L+2])
	}
	return out, nil
}

// TensorInfos lists every tensor of the model (name, type, dims, size) as
// the manifest declares them, so a node holding only some blobs can still
// derive the full configuration (model.ConfigFromMeta wants the table).
// Offsets and files are not meaningful here.
func (m *Manifest) TensorInfos() []TensorInfo {
	var out []TensorInfo
	for _, b := range m.Blobs {
		for _, t := range b.Tensors {
			spec, err := t.spec()
			if err != nil {
				continue // Validate refuses these; a caller skipping it gets fewer tensors
			}
			n, _ := spec.Size()
			out = append(out, TensorInfo{Name: t.Name, Type: spec.Type, Dims: append([]uint64(nil), t.Dims...), Size: n, File: -1})
		}
	}
	return out
}
