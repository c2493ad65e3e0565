//go:build js && wasm

package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall/js"
)

// CacheStorage is a BlobCache in the browser's Cache Storage (the caches
// global), under cache Name. Entries are keyed by a same-origin URL made
// from the sha256, so they survive reloads of the tab. Calls block on
// JavaScript promises: make them from a goroutine, never inside a JS
// callback (that deadlocks Go-wasm).
type CacheStorage struct {
	Name string
}

// DefaultCache is the platform's blob cache: in a tab, Cache Storage
// "tabshard-blobs". It fails where Cache Storage is unavailable (pages not
// served over https or from localhost).
func DefaultCache() (BlobCache, error) {
	if c := js.Global().Get("caches"); c.IsUndefined() || c.IsNull() {
		return nil, errors.New("blob cache: Cache Storage is unavailable (needs a secure context: https or localhost)")
	}
	return &CacheStorage{Name: "tabshard-blobs"}, nil
}

// cacheKey is the request URL an entry is stored under; relative, so it
// resolves against the page's origin.
func cacheKey(sha string) string { return "/tabshard-blob-cache/" + sha }

func (c *CacheStorage) open(ctx context.Context, sha string) (js.Value, error) {
	if !isHexDigest(sha) {
		return js.Value{}, fmt.Errorf("blob cache: %q is not a sha256", sha)
	}
	caches := js.Global().Get("caches")
	if caches.IsUndefined() || caches.IsNull() {
		return js.Value{}, errors.New("blob cache: Cache Storage is unavailable")
	}
	return await(ctx, caches.Call("open", c.Name))
}

// Get reads a cached blob.
func (c *CacheStorage) Get(ctx context.Context, sha string) ([]byte, bool, error) {
	cache, err := c.open(ctx, sha)
	if err != nil {
		return nil, false, err
	}
	resp, err := await(ctx, cache.Call("match", cacheKey(sha)))
	if err != nil {
		return nil, false, err
	}
	if resp.IsUndefined() || resp.IsNull() {
		return nil, false, nil
	}
	ab, err := await(ctx, resp.Call("arrayBuffer"))
	if err != nil {
		return nil, false, err
	}
	u8 := js.Global().Get("Uint8Array").New(ab)
	out := make([]byte, u8.Get("length").Int())
	js.CopyBytesToGo(out, u8)
	return out, true, nil
}

// Put stores a blob.
func (c *CacheStorage) Put(ctx context.Context, sha string, data []byte) error {
	cache, err := c.open(ctx, sha)
	if err != nil {
		return err
	}
	u8 := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	resp := js.Global().Get("Response").New(u8)
	_, err = await(ctx, cache.Call("put", cacheKey(sha), resp))
	return err
}

// Delete removes a blob (absent is not an error).
func (c *CacheStorage) Delete(ctx context.Context, sha string) error {
	cache, err := c.open(ctx, sha)
	if err != nil {
		return err
	}
	_, err = await(ctx, cache.Call("delete", cacheKey(sha)))
	return err
}

// await blocks until the promise settles or ctx ends. The callbacks only
// send on a buffered channel, so they never block the JS event loop.
func await(ctx context.Context, promise js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	onOK := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v := js.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		done <- result{v: v}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: fmt.Errorf("blob cache: %s", msg)}
		return nil
	})
	promise.Call("then", onOK, onErr)
	select {
	case r := <-done:
		onOK.Release()
		onErr.Release()
		return r.v, r.err
	case <-ctx.Done():
		// The callbacks may still fire; the channel is buffered so they
		// complete, but they must stay alive until then: release them when
		// the promise settles.
		go func() {
			<-done
			onOK.Release()
			onErr.Release()
		}()
		return js.Value{}, fmt.Errorf("blob cache: %w", ctx.Err())
	}
}

// Open returns a cached blob without copying it into the Go heap: reads
// slice the entry's JavaScript Blob.
func (c *CacheStorage) Open(ctx context.Context, sha string) (BlobReader, bool, error) {
	cache, err := c.open(ctx, sha)
	if err != nil {
		return nil, false, err
	}
	resp, err := await(ctx, cache.Call("match", cacheKey(sha)))
	if err != nil {
		return nil, false, err
	}
	if resp.IsUndefined() || resp.IsNull() {
		return nil, false, nil
	}
	blob, err := await(ctx, resp.Call("blob"))
	if err != nil {
		return nil, false, err
	}
	return &jsBlob{blob: blob, size: int64(blob.Get("size").Float())}, true, nil
}

// jsBlob reads a JavaScript Blob piecewise. Reads come later than Open
// (while tensors load) and have no context of their own; a Blob read always
// settles, so they wait for it.
type jsBlob struct {
	blob js.Value
	size int64
}

func (b *jsBlob) Size() int64  { return b.size }
func (b *jsBlob) Close() error { b.blob = js.Undefined(); return nil }

func (b *jsBlob) ReadAt(p []byte, off int64) (int, error) {
	if b.blob.IsUndefined() {
		return 0, errors.New("blob cache: read of a closed blob")
	}
	if off < 0 {
		return 0, errors.New("blob cache: negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), b.size)
	ab, err := await(context.Background(), b.blob.Call("slice", float64(off), float64(end)).Call("arrayBuffer"))
	if err != nil {
		return 0, err
	}
	n := js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(ab))
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}
