//go:build !js

package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/model"
	"github.com/tabshard/tabshard/models"
)

// Paths of the model endpoints besides those under loader.ModelPath.
const (
	modelsListPath  = "/models"
	modelsStatsPath = "/models/stats"
)

// modelStore is one model prepared for serving: its manifest and blobs,
// built once at start-up into a private temporary directory (a large model
// does not sit in the server's memory), named by sha256.
type modelStore struct {
	name     string
	digest   string
	manifest []byte
	man      *loader.Manifest
	dir      string
	blobs    map[string]loader.BlobRef // by sha256
	cors     *corsPolicy
	started  time.Time
	cfg      model.Config     // for the planner
	tok      *model.Tokenizer // for the API

	bytesServed      atomic.Int64 // blob body bytes written (the acceptance counter)
	blobRequests     atomic.Int64
	manifestRequests atomic.Int64
}

// modelStats is the JSON of GET /models/stats.
type modelStats struct {
	Model            string `json:"model"`
	Digest           string `json:"digest"`
	BytesServed      int64  `json:"bytes_served"`
	BlobRequests     int64  `json:"blob_requests"`
	ManifestRequests int64  `json:"manifest_requests"`
}

// modelListEntry is one model in GET /models.
type modelListEntry struct {
	Name     string                `json:"name"`
	Digest   string                `json:"digest"`
	Manifest string                `json:"manifest"`
	Bytes    int64                 `json:"bytes"`
	Config   loader.ManifestConfig `json:"config"`
}

// modelList is the JSON of GET /models.
type modelList struct {
	Models []modelListEntry `json:"models"`
}

// prepareModel opens the model at path (GGUF file, safetensors file, index
// or directory), or the embedded default when path is "", and splits it
// into blobs under a new temporary directory that Close removes.
func prepareModel(path string, allowedOrigins []string) (*modelStore, error) {
	cors, err := newCORSPolicy(allowedOrigins)
	if err != nil {
		return nil, err
	}
	var m *loader.Model
	name := models.DefaultName
	if path == "" {
		m, err = loader.OpenGGUF(bytes.NewReader(models.Default), int64(len(models.Default)))
	} else {
		m, err = loader.Open(path)
		name = modelName(path)
	}
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer m.Close()
	cfg, err := model.ConfigFromMeta(&m.Meta, m.Tensors)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	tok, err := models.Tokenizer(m, cfg)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "tabshard-blobs-")
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	s := &modelStore{name: name, dir: dir, blobs: make(map[string]loader.BlobRef), cors: cors, started: time.Now(), cfg: cfg, tok: tok}
	s.man, err = loader.BuildBlobs(m, name, func(ref loader.BlobRef, data []byte) error {
		s.blobs[ref.SHA256] = ref
		return os.WriteFile(filepath.Join(dir, ref.SHA256), data, 0o600)
	})
	if err == nil {
		s.manifest, err = s.man.Encode()
	}
	if err == nil {
		s.digest, err = s.man.Digest()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return s, nil
}

// modelName is the file (or, for an index, directory) name without its
// extension: it tells quantizations of one model apart, which general.name
// does not, and the embedded default is named the same way.
func modelName(path string) string {
	base := filepath.Base(path)
	if strings.EqualFold(filepath.Ext(base), ".json") {
		base = filepath.Base(filepath.Dir(path))
	}
	for _, ext := range []string{".gguf", ".safetensors"} {
		if strings.EqualFold(filepath.Ext(base), ext) {
			return base[:len(base)-len(ext)]
		}
	}
	return base
}

func (s *modelStore) manifestPath() string { return loader.ManifestPath(s.digest) }

// Close removes the blob directory.
func (s *modelStore) Close() error { return os.RemoveAll(s.dir) }

func (s *modelStore) totalBytes() int64 {
	var n int64
	for _, r := range s.man.Blobs {
		n += r.Size
	}
	return n
}

func (s *modelStore) stats() modelStats {
	return modelStats{Model: s.name, Digest: s.digest, BytesServed: s.bytesServed.Load(),
		BlobRequests: s.blobRequests.Load(), ManifestRequests: s.manifestRequests.Load()}
}

// register mounts the model endpoints. GET also answers HEAD.
func (s *modelStore) register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+modelsListPath, s.cors.wrap(s.serveList))
	mux.HandleFunc("GET "+modelsStatsPath, s.cors.wrap(s.serveStats))
	mux.HandleFunc("GET /models/{digest}/manifest.json", s.cors.wrap(s.serveManifest))
	mux.HandleFunc("GET /models/{digest}/blobs/{sha}", s.cors.wrap(s.serveBlob))
	mux.HandleFunc("OPTIONS /models/", s.cors.preflight)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *modelStore) serveList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, modelList{Models: []modelListEntry{{
		Name: s.name, Digest: s.digest, Manifest: loader.ManifestPath(s.digest), Bytes: s.totalBytes(), Config: s.man.Config,
	}}})
}

func (s *modelStore) serveStats(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.stats()) }

func (s *modelStore) serveManifest(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("digest") != s.digest {
		http.Error(w, "no model with this digest", http.StatusNotFound)
		return
	}
	s.manifestRequests.Add(1)
	// The digest names the content, so it never changes.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+s.digest+`"`)
	http.ServeContent(w, r, "", s.started, bytes.NewReader(s.manifest))
}

func (s *modelStore) serveBlob(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	ref, ok := s.blobs[sha]
	if r.PathValue("digest") != s.digest || !ok {
		http.Error(w, "no such blob", http.StatusNotFound)
		return
	}
	f, err := os.Open(filepath.Join(s.dir, sha))
	if err != nil {
		http.Error(w, "blob unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	s.blobRequests.Add(1)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", `"`+ref.SHA256+`"`)
	// Nodes keep blobs in their own cache (a directory, Cache Storage);
	// letting the browser's HTTP cache keep a second copy of gigabytes of
	// weights would only waste the user's disk.
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(countingWriter{w, &s.bytesServed}, r, "", s.started, f)
}

// countingWriter counts body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts before writing, so a client that has received the bytes
// (a test reading the stats next) always finds them counted; what the
// connection did not take is subtracted again.
func (c countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n - len(p)))
	return n, err
}
