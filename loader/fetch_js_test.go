//go:build js && wasm

package loader

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// TestJSCacheStorage runs inside a Chromium tab (driven by
// TestCacheStorageInChromium): the page's server publishes a model, the tab
// fetches every blob into Cache Storage, then loads again from the cache.
// Under Node (no Cache Storage, no server) it skips.
func TestJSCacheStorage(t *testing.T) {
	base, digest := os.Getenv("TABSHARD_BLOB_BASE"), os.Getenv("TABSHARD_DIGEST")
	if base == "" || digest == "" {
		t.Skip("runs in a browser tab started by TestCacheStorageInChromium")
	}
	ctx := context.Background()
	cache, err := DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	cs := cache.(*CacheStorage)

	// The cache itself.
	sha := "0000000000000000000000000000000000000000000000000000000000000001"
	data := bytes.Repeat([]byte("tabshard"), 1000)
	if err := cs.Put(ctx, sha, data); err != nil {
		t.Fatal(err)
	}
	got, ok, err := cs.Get(ctx, sha)
	if err != nil || !ok || !bytes.Equal(got, data) {
		t.Fatalf("Get: ok %v err %v equal %v", ok, err, bytes.Equal(got, data))
	}
	r, ok, err := cs.Open(ctx, sha)
	if err != nil || !ok || r.Size() != int64(len(data)) {
		t.Fatalf("Open: %v %v", ok, err)
	}
	part := make([]byte, 10)
	if n, err := r.ReadAt(part, 3); n != 10 || err != nil || string(part) != "shardtabsh" {
		t.Fatalf("ReadAt: %d %v %q", n, err, part)
	}
	r.Close()
	if err := cs.Delete(ctx, sha); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cs.Get(ctx, sha); ok {
		t.Fatal("deleted entry still there")
	}

	// A model through the Fetcher, twice.
	for round := 1; round <= 2; round++ {
		var events, cached int
		f := &Fetcher{BaseURL: base, Cache: cache, Progress: func(ev FetchProgress) {
			events++
			if ev.Cached {
				cached++
			}
			if ev.CacheErr != nil {
				t.Errorf("cache error: %v", ev.CacheErr)
			}
		}}
		man, err := f.Manifest(ctx, digest)
		if err != nil {
			t.Fatal(err)
		}
		src, err := NewBlobSource(man)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.FetchInto(ctx, src, man.Blobs); err != nil {
			t.Fatal(err)
		}
		for _, ref := range man.Blobs {
			for _, mt := range ref.Tensors {
				if _, err := src.ReadTensor(mt.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
		src.Close()
		t.Logf("round %d: %d progress events, %d blobs from the cache", round, events, cached)
		if round == 2 && cached != len(man.Blobs) {
			t.Fatalf("round 2 took %d of %d blobs from the cache", cached, len(man.Blobs))
		}
	}
}
