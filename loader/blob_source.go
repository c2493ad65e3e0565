package loader

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
)

// BlobSource serves tensors from the blobs a node holds: a model.TensorSource
// over a subset of a manifest's blobs. Add each blob (already verified
// against its sha256, as Fetcher does) before loading; Tensor reports only
// tensors of added blobs.
type BlobSource struct {
	man *Manifest

	mu     sync.RWMutex
	blobs  map[string]*Model // by blob name
	owner  map[string]string // tensor name -> blob name
	closer []io.Closer
}

// NewBlobSource makes an empty source for man's blobs; man must be valid.
func NewBlobSource(man *Manifest) (*BlobSource, error) {
	if man == nil {
		return nil, fmt.Errorf("blobs: nil manifest")
	}
	if err := man.Validate(); err != nil {
		return nil, err
	}
	return &BlobSource{man: man, blobs: make(map[string]*Model), owner: make(map[string]string)}, nil
}

// Manifest is the manifest the source was made for.
func (s *BlobSource) Manifest() *Manifest { return s.man }

// AddBytes adds a blob held in memory.
func (s *BlobSource) AddBytes(name string, data []byte) error {
	return s.Add(name, bytes.NewReader(data), int64(len(data)), nil)
}

// Add opens the named blob from r (size bytes) and checks that it is the blob
// the manifest describes: its size, its component name and exactly its
// tensors with their types and dims. closer, if not nil, is closed by Close.
func (s *BlobSource) Add(name string, r io.ReaderAt, size int64, closer io.Closer) error {
	ref, ok := s.man.Blob(name)
	if !ok {
		return fmt.Errorf("blobs: manifest has no blob %q", name)
	}
	if size != ref.Size {
		return fmt.Errorf("blobs: blob %q is %d bytes, manifest says %d", name, size, ref.Size)
	}
	m, err := OpenGGUF(r, size)
	if err != nil {
		return fmt.Errorf("blobs: blob %q: %w", name, err)
	}
	if got, err := m.Meta.String(blobKeyName); err != nil || got != name {
		return fmt.Errorf("blobs: blob %q says it is %q (%v)", name, got, err)
	}
	if len(m.Tensors) != len(ref.Tensors) {
		return fmt.Errorf("blobs: blob %q holds %d tensors, manifest lists %d", name, len(m.Tensors), len(ref.Tensors))
	}
	for i, want := range ref.Tensors {
		got := m.Tensors[i]
		if got.Name != want.Name || got.Type.String() != want.Type || !slices.Equal(got.Dims, want.Dims) {
			return fmt.Errorf("blobs: blob %q tensor %d is %s %s %v, manifest says %s %s %v",
				name, i, got.Name, got.Type, got.Dims, want.Name, want.Type, want.Dims)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.blobs[name]; dup {
		return fmt.Errorf("blobs: blob %q was already added", name)
	}
	s.blobs[name] = m
	for _, t := range m.Tensors {
		s.owner[t.Name] = name
	}
	if closer != nil {
		s.closer = append(s.closer, closer)
	}
	return nil
}

// Has reports whether the named blob was added.
func (s *BlobSource) Has(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.blobs[name]
	return ok
}

// Meta is the model's metadata (tokenizer included), from the meta blob.
func (s *BlobSource) Meta() (*Metadata, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m, ok := s.blobs[BlobMeta]
	if !ok {
		return nil, fmt.Errorf("blobs: the meta blob has not been added")
	}
	return &m.Meta, nil
}

// Tensors lists every tensor of the model as the manifest declares it
// (whether or not its blob was added), for model.ConfigFromMeta.
func (s *BlobSource) Tensors() []TensorInfo { return s.man.TensorInfos() }

// Tensor describes a tensor of an added blob (Offset is within its blob).
func (s *BlobSource) Tensor(name string) (TensorInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.owner[name]
	if !ok {
		return TensorInfo{}, false
	}
	return s.blobs[b].Tensor(name)
}

// ReadTensor returns a tensor's bytes from its blob.
func (s *BlobSource) ReadTensor(name string) ([]byte, error) {
	s.mu.RLock()
	b, ok := s.owner[name]
	m := s.blobs[b]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("blobs: no tensor %q among the added blobs (it would be in blob %q)", name, componentOf(name))
	}
	return m.ReadTensor(name)
}

// Close closes the closers given to Add.
func (s *BlobSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, c := range s.closer {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closer = nil
	return first
}
