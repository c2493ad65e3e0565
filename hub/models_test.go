//go:build !js

package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tabshard/tabshard/internal/testdata"
	"github.com/tabshard/tabshard/loader"
	"github.com/tabshard/tabshard/models"
)

func serveModel(t *testing.T, path string, origins ...string) (*modelStore, *httptest.Server) {
	t.Helper()
	ms, err := prepareModel(path, origins)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	mux := http.NewServeMux()
	ms.register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return ms, hs
}

func getStats(t *testing.T, base string) modelStats {
	t.Helper()
	resp, err := http.Get(base + modelsStatsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st modelStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A node loads the embedded model from the server blob by blob; with a warm
// cache the second load takes no model bytes from the server.
func TestServeModelToFetcher(t *testing.T) {
	ms, hs := serveModel(t, "")
	resp, err := http.Get(hs.URL + modelsListPath)
	if err != nil {
		t.Fatal(err)
	}
	var list modelList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Models) != 1 || list.Models[0].Digest != ms.digest || list.Models[0].Name != models.DefaultName {
		t.Fatalf("model list %+v %v", list, err)
	}
	cache := &loader.DirCache{Dir: t.TempDir()}
	load := func() *loader.BlobSource {
		f := &loader.Fetcher{BaseURL: hs.URL, Cache: cache}
		man, err := f.Manifest(context.Background(), list.Models[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		src, err := loader.NewBlobSource(man)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		if err := f.FetchInto(context.Background(), src, man.Blobs); err != nil {
			t.Fatal(err)
		}
		return src
	}
	src := load()
	st := getStats(t, hs.URL)
	if st.BytesServed != ms.totalBytes() || st.BlobRequests != int64(len(ms.man.Blobs)) || st.ManifestRequests != 1 {
		t.Fatalf("after first load: %+v, want %d bytes", st, ms.totalBytes())
	}
	orig, _ := loader.OpenGGUF(bytes.NewReader(models.Default), int64(len(models.Default)))
	for _, info := range orig.Tensors {
		a, _ := orig.ReadTensor(info.Name)
		b, err := src.ReadTensor(info.Name)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs (%v)", info.Name, err)
		}
	}
	load()
	if st2 := getStats(t, hs.URL); st2.BytesServed != st.BytesServed || st2.BlobRequests != st.BlobRequests {
		t.Fatalf("second load with a warm cache took bytes from the server: %+v then %+v", st, st2)
	}
	t.Logf("model %s digest %s: %d blobs, %d bytes served once, 0 the second time", ms.name, ms.digest, st.BlobRequests, st.BytesServed)
}

// Range requests are answered with 206 and only the range is counted.
func TestServeBlobRange(t *testing.T) {
	ms, hs := serveModel(t, "")
	ref := ms.man.Blobs[1]
	req, _ := http.NewRequest("GET", hs.URL+loader.BlobPath(ms.digest, ref.SHA256), nil)
	req.Header.Set("Range", "bytes=100-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || int64(len(body)) != ref.Size-100 {
		t.Fatalf("range: %s, %d bytes", resp.Status, len(body))
	}
	if got := getStats(t, hs.URL).BytesServed; got != ref.Size-100 {
		t.Fatalf("counted %d bytes, want %d", got, ref.Size-100)
	}
	for _, path := range []string{
		loader.BlobPath(ms.digest, strings.Repeat("0", 64)),
		loader.BlobPath(strings.Repeat("0", 64), ref.SHA256),
		loader.ManifestPath(strings.Repeat("0", 64)),
	} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMovedPermanently {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// cutProxy forwards TCP to a backend and cuts the first connection after
// limit response bytes, like a network dropping mid-download.
type cutProxy struct {
	ln      net.Listener
	backend string
	limit   int64
	conns   atomic.Int32
	wg      sync.WaitGroup
}

func newCutProxy(t *testing.T, backend string, limit int64) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend, limit: limit}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := p.conns.Add(1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				return
			}
			defer b.Close()
			go func() { io.Copy(b, c); b.Close() }() // ends when either side closes
			if n == 1 {
				io.CopyN(c, b, p.limit)
				return
			}
			io.Copy(c, b)
		}()
	}
}

// A download cut by the network resumes with Range against the real server.
func TestServeResumeAfterCut(t *testing.T) {
	ms, hs := serveModel(t, "")
	ref := ms.man.Blobs[1] // embed, the largest
	proxy := newCutProxy(t, hs.Listener.Addr().String(), ref.Size/3)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var resumed int
	f := &loader.Fetcher{BaseURL: "http://" + proxy.ln.Addr().String(), Client: client,
		Progress: func(ev loader.FetchProgress) { resumed = ev.Resumed }}
	got, err := f.Blob(context.Background(), ms.digest, ref)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) != ref.Size || resumed != 1 || proxy.conns.Load() != 2 {
		t.Fatalf("%d bytes, resumed %d times over %d connections", len(got), resumed, proxy.conns.Load())
	}
	st := getStats(t, hs.URL)
	// The server's count includes what the kernel buffered for the cut
	// connection and never delivered.
	t.Logf("blob of %d bytes cut after %d, resumed; server wrote %d bytes in %d requests", ref.Size, ref.Size/3, st.BytesServed, st.BlobRequests)
}

// Pages of allowed origins get CORS headers; others are refused before any
// byte is sent; native requests (no Origin) pass.
func TestServeModelCORS(t *testing.T) {
	ms, hs := serveModel(t, "", "https://tabs.example:8443")
	url := hs.URL + loader.BlobPath(ms.digest, ms.man.Blobs[0].SHA256)
	do := func(method, origin string) *http.Response {
		req, _ := http.NewRequest(method, url, nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := do("GET", "https://TABS.example:8443"); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://tabs.example:8443" ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Content-Range") {
		t.Fatalf("allowed origin: %s %v", r.Status, r.Header)
	}
	before := getStats(t, hs.URL).BytesServed
	if r := do("GET", "https://evil.example"); r.StatusCode != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %s", r.Status)
	}
	if after := getStats(t, hs.URL).BytesServed; after != before {
		t.Fatalf("refused origin was sent %d bytes", after-before)
	}
	if r := do("GET", hs.URL); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("same origin: %s", r.Status)
	}
	if r := do("GET", ""); r.StatusCode != 200 {
		t.Fatalf("no origin: %s", r.Status)
	}
	if r := do("OPTIONS", "https://tabs.example:8443"); r.StatusCode != http.StatusNoContent || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Range") {
		t.Fatalf("preflight: %s %v", r.Status, r.Header)
	}
	if r := do("OPTIONS", "https://evil.example"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("preflight from other origin: %s", r.Status)
	}
	if _, err := prepareModel("", []string{"ftp://x"}); err == nil {
		t.Fatal("bad allowlist entry accepted")
	}
}

// -model serves a file from disk under its own digest.
func TestServeModelFromPath(t *testing.T) {
	path := testdata.Path(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	ms, _ := serveModel(t, path)
	def, _ := serveModel(t, "")
	// The embedded default is this very file: same name, same digest.
	if ms.name != models.DefaultName || ms.digest != def.digest {
		t.Errorf("file model %q %s, embedded %q %s", ms.name, ms.digest, def.name, def.digest)
	}
	t.Logf("file model %q digest %s, embedded %q digest %s", ms.name, ms.digest, def.name, def.digest)
	if _, err := prepareModel(t.TempDir()+"/missing.gguf", nil); err == nil {
		t.Fatal("missing model accepted")
	}
}
