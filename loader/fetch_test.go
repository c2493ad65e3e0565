//go:build !js

package loader

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blobServer serves a model's manifest and blobs the way cmd/signal does
// (http.ServeContent, so Range works), with knobs to misbehave.
type blobServer struct {
	digest   string
	manifest []byte
	blobs    map[string][]byte // by sha256

	served atomic.Int64 // body bytes written

	mu        sync.Mutex
	cutAfter  int64    // >0: the next full response is cut after this many bytes
	tamper    bool     // flip a byte of every blob served
	lieLength bool     // announce a longer Content-Length than the blob
	noRange   bool     // ignore Range (always 200 with everything)
	down      bool     // answer 503 to blob requests
	ranges    []string // Range headers received
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts before writing, so a client that has the bytes always sees
// them counted; what the connection refused is taken back.
func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n - len(p)))
	return n, err
}

func newBlobServer(t *testing.T, man *Manifest, blobs map[string][]byte) (*blobServer, *httptest.Server) {
	t.Helper()
	s := &blobServer{blobs: make(map[string][]byte)}
	var err error
	if s.manifest, err = man.Encode(); err != nil {
		t.Fatal(err)
	}
	s.digest, _ = man.Digest()
	for _, ref := range man.Blobs {
		s.blobs[ref.SHA256] = blobs[ref.Name]
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func (s *blobServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := countingWriter{w, &s.served}
	if r.URL.Path == ManifestPath(s.digest) {
		http.ServeContent(cw, r, "manifest.json", time.Time{}, bytes.NewReader(s.manifest))
		return
	}
	sha, ok := strings.CutPrefix(r.URL.Path, ModelPath(s.digest)+"blobs/")
	data, found := s.blobs[sha]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	cut, tamper, lie, noRange, down := s.cutAfter, s.tamper, s.lieLength, s.noRange, s.down
	s.cutAfter = 0
	s.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if tamper {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0x40
	}
	switch {
	case cut > 0:
		// Announce everything, send part, then drop the connection.
		w.Header().Set("Content-Length", itoa(len(data)))
		cw.Write(data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case lie:
		w.Header().Set("Content-Length", itoa(len(data)+1000))
		cw.Write(data)
		panic(http.ErrAbortHandler)
	case noRange:
		cw.Write(data)
	default:
		http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(data))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// progressLog records events.
type progressLog struct {
	mu  sync.Mutex
	evs []FetchProgress
}

func (p *progressLog) add(ev FetchProgress) { p.mu.Lock(); p.evs = append(p.evs, ev); p.mu.Unlock() }

func (p *progressLog) last() FetchProgress {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.evs[len(p.evs)-1]
}

// A connection cut mid-blob resumes with a Range request from where it
// stopped, and the blob arrives whole and verified.
func TestFetchResumesAfterCut(t *testing.T) {
	_, man, blobs := splitFile(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	srv, hs := newBlobServer(t, man, blobs)
	ref, _ := man.Blob(BlobEmbed)
	cut := ref.Size * 2 / 5
	srv.cutAfter = cut
	var log progressLog
	f := &Fetcher{BaseURL: hs.URL, Progress: log.add}
	got, err := f.Blob(context.Background(), srv.digest, ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, blobs[BlobEmbed]) {
		t.Fatal("resumed blob differs")
	}
	want := "bytes=" + itoa(int(cut)) + "-"
	if len(srv.ranges) != 2 || srv.ranges[0] != "" || srv.ranges[1] != want {
		t.Fatalf("requests had Range %q, want [\"\" %q]", srv.ranges, want)
	}
	if ev := log.last(); ev.Done != ref.Size || ev.Total != ref.Size || ev.Resumed != 1 || ev.Cached {
		t.Fatalf("last progress %+v", ev)
	}
	if n := srv.served.Load(); n != ref.Size {
		t.Errorf("server sent %d bytes for a %d-byte blob", n, ref.Size)
	}
	if len(log.evs) < 3 {
		t.Errorf("only %d progress events for %d bytes", len(log.evs), ref.Size)
	}
	t.Logf("embed blob %d bytes, cut at %d, resumed with %q; %d progress events", ref.Size, cut, want, len(log.evs))
}

// A blob whose bytes do not match the manifest is refused, and nothing is
// cached.
func TestFetchRefusesTamperedBlob(t *testing.T) {
	man, blobs := tinyBlobs(t)
	srv, hs := newBlobServer(t, man, blobs)
	srv.tamper = true
	cache := &DirCache{Dir: t.TempDir()}
	f := &Fetcher{BaseURL: hs.URL, Cache: cache}
	ref, _ := man.Blob(LayerBlob(1))
	_, err := f.Blob(context.Background(), srv.digest, ref)
	if !errors.Is(err, ErrBlobHash) || !strings.Contains(err.Error(), "discarded") {
		t.Fatalf("tampered blob: %v", err)
	}
	t.Log(err)
	if _, ok, _ := cache.Get(context.Background(), ref.SHA256); ok {
		t.Fatal("tampered blob was cached")
	}
	// Through a BlobSource too: nothing is added.
	src, _ := NewBlobSource(man)
	if err := f.FetchInto(context.Background(), src, man.Blobs); !errors.Is(err, ErrBlobHash) {
		t.Fatalf("FetchInto: %v", err)
	}
	if src.Has(BlobMeta) {
		t.Fatal("tampered meta blob added")
	}
}

// bytesOnly hides a cache's Open, so Fetcher takes the in-memory path.
type bytesOnly struct{ BlobCache }

// The second load of a model with a warm cache downloads nothing, whether
// blobs are opened in place (DirCache) or read into memory.
func TestFetchCacheHitServesNothing(t *testing.T) {
	for _, inPlace := range []bool{true, false} {
		t.Run(map[bool]string{true: "in-place", false: "bytes"}[inPlace], func(t *testing.T) {
			testCacheHit(t, inPlace)
		})
	}
}

func testCacheHit(t *testing.T, inPlace bool) {
	man, blobs := tinyBlobs(t)
	srv, hs := newBlobServer(t, man, blobs)
	dir := &DirCache{Dir: t.TempDir()}
	var cache BlobCache = dir
	if !inPlace {
		cache = bytesOnly{dir}
	}
	load := func() (*BlobSource, *progressLog) {
		var log progressLog
		f := &Fetcher{BaseURL: hs.URL, Cache: cache, Progress: log.add}
		got, err := f.Manifest(context.Background(), srv.digest)
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewBlobSource(got)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		if err := f.FetchInto(context.Background(), src, got.Blobs); err != nil {
			t.Fatal(err)
		}
		return src, &log
	}
	var total int64
	for _, ref := range man.Blobs {
		total += ref.Size
	}
	src, log := load()
	first := srv.served.Load() - int64(len(srv.manifest))
	if first != total {
		t.Fatalf("first load: %d blob bytes served, want %d", first, total)
	}
	for _, ev := range log.evs {
		if ev.Cached || ev.CacheErr != nil {
			t.Fatalf("first load event %+v", ev)
		}
	}
	srv.served.Store(0)
	src2, log2 := load()
	if n := srv.served.Load() - int64(len(srv.manifest)); n != 0 {
		t.Fatalf("second load: %d blob bytes served, want 0", n)
	}
	if len(log2.evs) != len(man.Blobs) || !log2.evs[0].Cached {
		t.Fatalf("second load events %+v", log2.evs)
	}
	for _, ref := range man.Blobs {
		for _, mt := range ref.Tensors {
			a, err1 := src.ReadTensor(mt.Name)
			b, err2 := src2.ReadTensor(mt.Name)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) || len(a) == 0 {
				t.Fatalf("%s: cached tensor differs (%v %v)", mt.Name, err1, err2)
			}
		}
	}
	// A corrupted cache entry is dropped and downloaded again.
	ref, _ := man.Blob(BlobHead)
	os.WriteFile(filepath.Join(dir.Dir, ref.SHA256), bytes.Repeat([]byte("junk"), int(ref.Size/4)), 0o644)
	srv.served.Store(0)
	f := &Fetcher{BaseURL: hs.URL, Cache: cache}
	r, err := f.OpenBlob(context.Background(), srv.digest, ref)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if n := srv.served.Load(); n != ref.Size {
		t.Fatalf("corrupt cache entry: %d bytes served, want %d", n, ref.Size)
	}
	if data, ok, _ := dir.Get(context.Background(), ref.SHA256); !ok || !bytes.Equal(data, blobs[BlobHead]) {
		t.Fatal("corrupt entry was not replaced")
	}
	t.Logf("first load %d blob bytes from the server, second 0", first)
}

// What a server says is never trusted beyond the manifest.
func TestFetchRefusesServerLies(t *testing.T) {
	man, blobs := tinyBlobs(t)
	srv, hs := newBlobServer(t, man, blobs)
	ref, _ := man.Blob(LayerBlob(0))
	ctx := context.Background()
	f := &Fetcher{BaseURL: hs.URL, Attempts: 2}

	srv.lieLength = true
	if _, err := f.Blob(ctx, srv.digest, ref); err == nil || !strings.Contains(err.Error(), "manifest's size allows") {
		t.Fatalf("long Content-Length: %v", err)
	}
	srv.lieLength = false

	// A server ignoring Range: the resumed request restarts from 0.
	srv.noRange, srv.cutAfter = true, ref.Size/2
	if got, err := f.Blob(ctx, srv.digest, ref); err != nil || !bytes.Equal(got, blobs[ref.Name]) {
		t.Fatalf("server without Range: %v", err)
	}
	srv.noRange = false

	if _, err := f.Manifest(ctx, strings.Repeat("a", 64)); err == nil {
		t.Fatal("unknown manifest fetched")
	}
	if _, err := f.Manifest(ctx, "../etc"); err == nil {
		t.Fatal("bad digest accepted")
	}
	bad := ref
	bad.Size = 5 << 30
	if _, err := f.Blob(ctx, srv.digest, bad); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("oversized blob: %v", err)
	}
	if _, err := (&Fetcher{BaseURL: "http://127.0.0.1:1", Attempts: 1}).Blob(ctx, srv.digest, ref); err == nil {
		t.Fatal("fetch from a closed port succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Blob(cctx, srv.digest, ref); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled fetch: %v", err)
	}
}

// A download that fails part-way keeps what arrived in the cache, and a
// later call (a new process, say) resumes from there with Range; a saved
// part that turns out wrong is dropped and the blob fetched from scratch.
func TestFetchResumesSavedPartial(t *testing.T) {
	_, man, blobs := splitFile(t, "austen-22m/gguf/austen-22m-Q4_K_M.gguf")
	srv, hs := newBlobServer(t, man, blobs)
	ref, _ := man.Blob(LayerBlob(3))
	cache := &DirCache{Dir: t.TempDir()}
	ctx := context.Background()

	// The first request is cut half-way; the retry finds the server down.
	cut := ref.Size / 2
	srv.cutAfter = cut
	fail := &Fetcher{BaseURL: hs.URL, Cache: cache, Attempts: 1, Client: &http.Client{Transport: &downAfter{srv: srv}}}
	if _, err := fail.Blob(ctx, srv.digest, ref); err == nil {
		t.Fatal("download with the server down succeeded")
	}
	part, err := cache.GetPartial(ctx, ref.SHA256)
	if err != nil || int64(len(part)) != cut {
		t.Fatalf("saved partial: %d bytes (%v), want %d", len(part), err, cut)
	}

	srv.mu.Lock()
	srv.down, srv.ranges = false, nil
	srv.mu.Unlock()
	srv.served.Store(0)
	// A new fetcher (as in a restarted process) resumes from the saved part.
	var last FetchProgress
	f := &Fetcher{BaseURL: hs.URL, Cache: cache, Progress: func(ev FetchProgress) { last = ev }}
	got, err := f.Blob(ctx, srv.digest, ref)
	if err != nil || !bytes.Equal(got, blobs[ref.Name]) {
		t.Fatalf("resumed fetch: %v", err)
	}
	if want := "bytes=" + itoa(int(cut)) + "-"; len(srv.ranges) != 1 || srv.ranges[0] != want {
		t.Fatalf("ranges %q, want [%q]", srv.ranges, want)
	}
	if n := srv.served.Load(); n != ref.Size-cut || last.Resumed != 1 {
		t.Fatalf("served %d bytes (want %d), resumed %d", n, ref.Size-cut, last.Resumed)
	}
	if p, _ := cache.GetPartial(ctx, ref.SHA256); p != nil {
		t.Fatal("partial kept after the blob completed")
	}

	// A wrong saved part: the blob still arrives, fetched again whole.
	ref2, _ := man.Blob(LayerBlob(4))
	if err := cache.PutPartial(ctx, ref2.SHA256, bytes.Repeat([]byte{7}, 1000)); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Blob(ctx, srv.digest, ref2); err != nil || !bytes.Equal(got, blobs[ref2.Name]) {
		t.Fatalf("fetch over a bad partial: %v", err)
	}
}

// downAfter passes the first request through and makes the server answer
// 503 to the rest.
type downAfter struct {
	srv  *blobServer
	seen int
}

func (d *downAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	d.seen++
	if d.seen > 1 {
		d.srv.mu.Lock()
		d.srv.down = true
		d.srv.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}
