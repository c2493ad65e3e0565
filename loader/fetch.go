package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ModelPath is where a server publishes the model with the given manifest
// digest: ModelPath(d)+"manifest.json" and ModelPath(d)+"blobs/"+sha256.
func ModelPath(digest string) string { return "/models/" + digest + "/" }

// ManifestPath is the URL path of a model's manifest.
func ManifestPath(digest string) string { return ModelPath(digest) + "manifest.json" }

// BlobPath is the URL path of one blob of a model.
func BlobPath(digest, sha string) string { return ModelPath(digest) + "blobs/" + sha }

// ErrBlobHash is wrapped by the error for a blob whose bytes do not hash to
// the manifest's sha256; such bytes are discarded, never cached or used.
var ErrBlobHash = errors.New("blob does not match its sha256")

// BlobCache keeps verified blobs by sha256 (lowercase hex): a directory
// natively (DirCache), Cache Storage in a browser tab (CacheStorage).
// Implementations must be safe for concurrent use.
type BlobCache interface {
	// Get returns the cached blob, ok=false when absent.
	Get(ctx context.Context, sha string) (data []byte, ok bool, err error)
	Put(ctx context.Context, sha string, data []byte) error
	Delete(ctx context.Context, sha string) error
}

// PartialCache is a BlobCache that also keeps unfinished downloads, so a
// blob cut off (or stopped) part-way resumes where it stopped on the next
// call, even in a new process. DirCache is one.
type PartialCache interface {
	BlobCache
	// GetPartial returns the saved beginning of a blob, nil when none.
	GetPartial(ctx context.Context, sha string) ([]byte, error)
	PutPartial(ctx context.Context, sha string, data []byte) error
	DeletePartial(ctx context.Context, sha string) error
}

// FetchProgress reports a blob's download: Done of Total bytes so far.
// The last event of a blob has Done == Total (or Err set).
type FetchProgress struct {
	Blob   string
	SHA256 string
	Done   int64
	Total  int64
	// Cached is set when the blob came from the cache (nothing downloaded).
	Cached bool
	// Resumed counts the times a cut download continued with a Range request.
	Resumed int
	// CacheErr is a failure to store the verified blob in the cache: the
	// blob is still returned, the next load downloads it again.
	CacheErr error
}

// Fetcher downloads a model's blobs from a server with HTTP GET, resuming a
// cut transfer with Range, verifying each blob's sha256 against the manifest
// and keeping verified blobs in a cache. A Fetcher is safe for concurrent use
// when its Cache and Progress are.
type Fetcher struct {
	// BaseURL is the server's root, e.g. "https://host:8080" (no trailing path).
	BaseURL string
	// Client does the requests; nil means http.DefaultClient.
	Client *http.Client
	// Cache, when not nil, is consulted first and filled after verification.
	Cache BlobCache
	// Progress, when not nil, receives events as bytes arrive.
	Progress func(FetchProgress)
	// Attempts bounds consecutive requests that bring no new bytes before a
	// blob fails (0 means 4). A request that makes progress resets the count.
	Attempts int
	// MaxBlobBytes refuses manifests declaring larger blobs (0 means 4 GiB,
	// the wasm address space).
	MaxBlobBytes int64
}

// progressStep is how often (in bytes) progress is reported mid-blob.
const progressStep = 256 << 10

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return http.DefaultClient
}

func (f *Fetcher) url(path string) string { return strings.TrimRight(f.BaseURL, "/") + path }

// Manifest downloads and decodes the manifest with the given digest,
// refusing one whose bytes do not hash to it.
func (f *Fetcher) Manifest(ctx context.Context, digest string) (*Manifest, error) {
	if !isHexDigest(digest) {
		return nil, fmt.Errorf("fetch: model digest %q is not 64 lowercase hex digits", digest)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url(ManifestPath(digest)), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch: manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch: manifest %s: server answered %s", digest, resp.Status)
	}
	if resp.ContentLength > MaxManifestBytes {
		return nil, fmt.Errorf("fetch: manifest of %d bytes exceeds the %d-byte limit", resp.ContentLength, MaxManifestBytes)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch: manifest: %w", err)
	}
	return DecodeManifestDigest(b, digest)
}

// Blob returns the verified bytes of one blob of the model with the given
// manifest digest: from the cache when there, else downloaded.
func (f *Fetcher) Blob(ctx context.Context, digest string, ref BlobRef) ([]byte, error) {
	if err := f.checkRef(digest, ref); err != nil {
		return nil, err
	}
	ev := FetchProgress{Blob: ref.Name, SHA256: ref.SHA256, Total: ref.Size}
	if f.Cache != nil {
		data, ok, err := f.Cache.Get(ctx, ref.SHA256)
		ev.CacheErr = err // an unreadable cache falls back to the network, and says so
		if err == nil && ok {
			if hashOK(data, ref) {
				ev.Done, ev.Cached = ref.Size, true
				f.report(ev)
				return data, nil
			}
			// A corrupted entry is dropped and downloaded again.
			_ = f.Cache.Delete(ctx, ref.SHA256)
		}
	}
	data, err := f.downloadVerified(ctx, digest, ref, &ev)
	if err != nil {
		return nil, err
	}
	if f.Cache != nil && ev.CacheErr == nil {
		ev.CacheErr = f.Cache.Put(ctx, ref.SHA256, data)
	}
	ev.Done = ref.Size
	f.report(ev)
	return data, nil
}

// checkRef refuses malformed names and sizes beyond MaxBlobBytes before
// anything is requested or allocated.
func (f *Fetcher) checkRef(digest string, ref BlobRef) error {
	maxBytes := f.MaxBlobBytes
	if maxBytes <= 0 {
		maxBytes = 4 << 30
	}
	if !isHexDigest(digest) || !isHexDigest(ref.SHA256) {
		return fmt.Errorf("fetch: blob %q: digest or sha256 is not 64 lowercase hex digits", ref.Name)
	}
	if ref.Size <= 0 || ref.Size > maxBytes {
		return fmt.Errorf("fetch: blob %q size %d is out of range (limit %d)", ref.Name, ref.Size, maxBytes)
	}
	return nil
}

// downloadVerified downloads the blob and checks its sha256; bytes that do
// not match are dropped here and never reach a cache or a caller. With a
// PartialCache, a download that fails or is cancelled keeps what arrived,
// and the next call resumes from there with a Range request.
func (f *Fetcher) downloadVerified(ctx context.Context, digest string, ref BlobRef, ev *FetchProgress) ([]byte, error) {
	pc, _ := f.Cache.(PartialCache)
	var start []byte
	if pc != nil {
		if p, err := pc.GetPartial(ctx, ref.SHA256); err == nil && int64(len(p)) < ref.Size {
			start = p
		}
	}
	data, err := f.download(ctx, digest, ref, ev, start)
	if err != nil {
		var fatal *fatalFetchError
		if pc != nil && len(data) > 0 && !errors.As(err, &fatal) {
			// Saved even when ctx is done: that is the stop being resumed.
			_ = pc.PutPartial(context.WithoutCancel(ctx), ref.SHA256, data)
		}
		return nil, err
	}
	if pc != nil && len(start) > 0 {
		_ = pc.DeletePartial(ctx, ref.SHA256)
	}
	if !hashOK(data, ref) {
		if len(start) > 0 {
			// The saved part may be what is wrong (written by an older
			// process, damaged on disk): try once more from scratch.
			ev.Resumed = 0
			if data, err = f.download(ctx, digest, ref, ev, nil); err != nil {
				return nil, err
			}
			if hashOK(data, ref) {
				return data, nil
			}
		}
		sum := sha256.Sum256(data)
		return nil, fmt.Errorf("fetch: blob %q from %s: content hashes to %x, manifest says %s; %d bytes discarded: %w",
			ref.Name, f.BaseURL, sum, ref.SHA256, len(data), ErrBlobHash)
	}
	return data, nil
}

// FetchInto fetches refs (typically man.BlobsFor(first, last)) and adds them
// to src, one blob at a time. With a cache that can open blobs in place
// (BlobOpener: DirCache, CacheStorage) each blob is read from the cache as
// tensors are loaded, so the Go heap holds at most one blob at a time;
// otherwise src keeps the blobs' bytes.
func (f *Fetcher) FetchInto(ctx context.Context, src *BlobSource, refs []BlobRef) error {
	digest, err := src.Manifest().Digest()
	if err != nil {
		return err
	}
	_, inPlace := f.Cache.(BlobOpener)
	for _, ref := range refs {
		if src.Has(ref.Name) {
			continue
		}
		if inPlace {
			r, err := f.OpenBlob(ctx, digest, ref)
			if err != nil {
				return err
			}
			if err := src.Add(ref.Name, r, r.Size(), r); err != nil {
				r.Close()
				return err
			}
			continue
		}
		data, err := f.Blob(ctx, digest, ref)
		if err != nil {
			return err
		}
		if err := src.AddBytes(ref.Name, data); err != nil {
			return err
		}
	}
	return nil
}

func hashOK(data []byte, ref BlobRef) bool {
	if int64(len(data)) != ref.Size {
		return false
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == ref.SHA256
}

func (f *Fetcher) report(ev FetchProgress) {
	if f.Progress != nil {
		f.Progress(ev)
	}
}

// download reads the blob from len(start) on (start is what an earlier
// attempt received), resuming with Range after a cut connection. It never
// reads more than ref.Size bytes whatever the server claims. On failure it
// returns what did arrive with the error.
func (f *Fetcher) download(ctx context.Context, digest string, ref BlobRef, ev *FetchProgress, start []byte) ([]byte, error) {
	attempts := f.Attempts
	if attempts <= 0 {
		attempts = 4
	}
	buf := make([]byte, 0, min(ref.Size, 64<<20))
	buf = append(buf, start...)
	if len(buf) > 0 {
		ev.Resumed++
	}
	var lastErr error
	for failures := 0; failures < attempts; {
		if err := ctx.Err(); err != nil {
			return buf, fmt.Errorf("fetch: blob %q: %w", ref.Name, err)
		}
		before := len(buf)
		var err error
		buf, err = f.request(ctx, digest, ref, buf, ev)
		if err == nil {
			return buf, nil
		}
		if ctx.Err() != nil {
			return buf, fmt.Errorf("fetch: blob %q: %w", ref.Name, ctx.Err())
		}
		lastErr = err
		var fatal *fatalFetchError
		if errors.As(err, &fatal) {
			return buf, err
		}
		if len(buf) > before {
			failures = 0 // progress: the next request resumes where this one stopped
		} else {
			failures++
			if !sleepCtx(ctx, time.Duration(failures)*100*time.Millisecond) {
				return buf, fmt.Errorf("fetch: blob %q: %w", ref.Name, ctx.Err())
			}
		}
		if len(buf) > 0 {
			ev.Resumed++
		}
	}
	return buf, fmt.Errorf("fetch: blob %q: giving up after %d attempts without progress: %w", ref.Name, attempts, lastErr)
}

// fatalFetchError is a failure retrying cannot fix (the server answered
// something that contradicts the manifest).
type fatalFetchError struct{ err error }

func (e *fatalFetchError) Error() string { return e.err.Error() }
func (e *fatalFetchError) Unwrap() error { return e.err }

func fatalf(format string, args ...any) error {
	return &fatalFetchError{fmt.Errorf(format, args...)}
}

// request does one GET from len(have) on, appending what arrives to have.
func (f *Fetcher) request(ctx context.Context, digest string, ref BlobRef, have []byte, ev *FetchProgress) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url(BlobPath(digest, ref.SHA256)), nil)
	if err != nil {
		return have, fatalf("fetch: %w", err)
	}
	start := int64(len(have))
	if start > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(start, 10)+"-")
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return have, fmt.Errorf("fetch: blob %q: %w", ref.Name, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		// The server sent the whole blob (it ignored or never got a Range).
		have, start = have[:0], 0
	case resp.StatusCode == http.StatusPartialContent && start > 0:
		if err := checkContentRange(resp.Header.Get("Content-Range"), start, ref.Size); err != nil {
			return have, fatalf("fetch: blob %q: %w", ref.Name, err)
		}
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusForbidden:
		return have, fatalf("fetch: blob %q: server answered %s", ref.Name, resp.Status)
	default:
		return have, fmt.Errorf("fetch: blob %q: server answered %s", ref.Name, resp.Status)
	}
	want := ref.Size - start
	if resp.ContentLength > want {
		return have, fatalf("fetch: blob %q: server announces %d bytes from byte %d, the manifest's size allows %d", ref.Name, resp.ContentLength, start, want)
	}
	body := io.LimitReader(resp.Body, want)
	chunk := make([]byte, 64<<10)
	lastReport := int64(len(have))
	for int64(len(have)) < ref.Size {
		n, err := body.Read(chunk)
		have = append(have, chunk[:n]...)
		if done := int64(len(have)); done-lastReport >= progressStep && done < ref.Size {
			ev.Done, lastReport = done, done
			f.report(*ev)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return have, fmt.Errorf("fetch: blob %q cut at byte %d of %d: %w", ref.Name, len(have), ref.Size, err)
		}
	}
	if int64(len(have)) < ref.Size {
		return have, fmt.Errorf("fetch: blob %q: response ended at byte %d of %d", ref.Name, len(have), ref.Size)
	}
	return have, nil
}

// checkContentRange accepts "bytes start-(size-1)/size" only.
func checkContentRange(h string, start, size int64) error {
	want := "bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(size-1, 10) + "/" + strconv.FormatInt(size, 10)
	if h != want {
		return fmt.Errorf("server answered Content-Range %q to a request from byte %d, want %q", h, start, want)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
