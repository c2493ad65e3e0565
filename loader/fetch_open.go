package loader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
)

// BlobReader is a blob opened where it lies (a cache file, a Cache Storage
// entry, memory), read piecewise instead of being copied into the heap.
type BlobReader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// BlobOpener is a BlobCache that can open a cached blob in place.
type BlobOpener interface {
	BlobCache
	// Open returns the cached blob, ok=false when absent.
	Open(ctx context.Context, sha string) (r BlobReader, ok bool, err error)
}

// OpenBlob returns the verified blob opened in place: from the cache when
// there (its sha256 is checked by streaming through it), else downloaded,
// verified, stored and opened from the cache, so the downloaded bytes are
// dropped before tensors are read. Without a BlobOpener cache, or when
// storing fails (ev.CacheErr reports it), the blob is served from memory.
func (f *Fetcher) OpenBlob(ctx context.Context, digest string, ref BlobRef) (BlobReader, error) {
	if err := f.checkRef(digest, ref); err != nil {
		return nil, err
	}
	opener, _ := f.Cache.(BlobOpener)
	if opener == nil {
		data, err := f.Blob(ctx, digest, ref)
		if err != nil {
			return nil, err
		}
		return memBlob{bytes.NewReader(data)}, nil
	}
	ev := FetchProgress{Blob: ref.Name, SHA256: ref.SHA256, Total: ref.Size}
	r, ok, err := opener.Open(ctx, ref.SHA256)
	switch {
	case err != nil:
		ev.CacheErr = err // fall back to the network, and say so
	case ok:
		if verr := verifyReader(r, ref); verr == nil {
			ev.Done, ev.Cached = ref.Size, true
			f.report(ev)
			return r, nil
		}
		r.Close()
		_ = opener.Delete(ctx, ref.SHA256) // corrupted: download again
	}
	data, err := f.downloadVerified(ctx, digest, ref, &ev)
	if err != nil {
		return nil, err
	}
	ev.Done = ref.Size
	if ev.CacheErr != nil {
		f.report(ev)
		return memBlob{bytes.NewReader(data)}, nil
	}
	if ev.CacheErr = opener.Put(ctx, ref.SHA256, data); ev.CacheErr == nil {
		r, ok, err := opener.Open(ctx, ref.SHA256)
		switch {
		case err == nil && ok && r.Size() == ref.Size:
			f.report(ev)
			return r, nil
		case err == nil && ok:
			r.Close()
			ev.CacheErr = fmt.Errorf("blob cache: stored %d bytes, reads back %d", ref.Size, r.Size())
		case err == nil:
			ev.CacheErr = fmt.Errorf("blob cache: blob %s vanished right after it was stored", ref.SHA256)
		default:
			ev.CacheErr = err
		}
	}
	f.report(ev)
	return memBlob{bytes.NewReader(data)}, nil
}

// verifyReader hashes a blob through its ReaderAt in chunks.
func verifyReader(r BlobReader, ref BlobRef) error {
	if r.Size() != ref.Size {
		return fmt.Errorf("blob %q is %d bytes, want %d", ref.Name, r.Size(), ref.Size)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, r.Size()), make([]byte, 1<<20)); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != ref.SHA256 {
		return fmt.Errorf("blob %q: %w", ref.Name, ErrBlobHash)
	}
	return nil
}

// memBlob is a BlobReader over bytes in memory.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }
