//go:build !js

package loader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirCache is a BlobCache in a directory: one file per blob, named by its
// sha256, and sha256.partial for an unfinished download (PartialCache).
// Files are written to a temporary name and renamed, so a crash never leaves
// a torn file under a real name (and Fetcher re-verifies whatever it reads
// anyway).
type DirCache struct {
	Dir string
}

// DefaultCache is the platform's blob cache: natively a directory under the
// user's cache directory ($XDG_CACHE_HOME/tabshard/blobs on Linux).
func DefaultCache() (BlobCache, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	return &DirCache{Dir: filepath.Join(base, "tabshard", "blobs")}, nil
}

func (c *DirCache) path(sha string) (string, error) {
	if !isHexDigest(sha) {
		return "", fmt.Errorf("blob cache: %q is not a sha256", sha)
	}
	if c.Dir == "" {
		return "", errors.New("blob cache: no directory set")
	}
	return filepath.Join(c.Dir, sha), nil
}

// Get reads a cached blob.
func (c *DirCache) Get(_ context.Context, sha string) ([]byte, bool, error) {
	p, err := c.path(sha)
	if err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("blob cache: %w", err)
	}
	return b, true, nil
}

// Put stores a blob.
func (c *DirCache) Put(_ context.Context, sha string, data []byte) error {
	p, err := c.path(sha)
	if err != nil {
		return err
	}
	return c.writeAtomic(p, data)
}

// writeAtomic writes data to a temporary file and renames it to p, so
// readers see the old file or the whole new one.
func (c *DirCache) writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	tmp, err := os.CreateTemp(c.Dir, filepath.Base(p)+".*.tmp")
	if err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), p)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("blob cache: %w", werr)
	}
	return nil
}

// GetPartial returns the saved beginning of an unfinished download.
func (c *DirCache) GetPartial(_ context.Context, sha string) ([]byte, error) {
	p, err := c.path(sha)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p + ".partial")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	return b, nil
}

// PutPartial saves the beginning of an unfinished download.
func (c *DirCache) PutPartial(_ context.Context, sha string, data []byte) error {
	p, err := c.path(sha)
	if err != nil {
		return err
	}
	return c.writeAtomic(p+".partial", data)
}

// DeletePartial drops a saved partial download (absent is not an error).
func (c *DirCache) DeletePartial(_ context.Context, sha string) error {
	p, err := c.path(sha)
	if err != nil {
		return err
	}
	if err := os.Remove(p + ".partial"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob cache: %w", err)
	}
	return nil
}

// Delete removes a blob (absent is not an error).
func (c *DirCache) Delete(_ context.Context, sha string) error {
	p, err := c.path(sha)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob cache: %w", err)
	}
	return nil
}

// Open opens a cached blob in place.
func (c *DirCache) Open(_ context.Context, sha string) (BlobReader, bool, error) {
	p, err := c.path(sha)
	if err != nil {
		return nil, false, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("blob cache: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("blob cache: %w", err)
	}
	return fileBlob{f, st.Size()}, true, nil
}

// fileBlob is a cached blob file; its size is fixed when opened (entries
// are replaced by rename, never rewritten in place).
type fileBlob struct {
	*os.File
	size int64
}

func (b fileBlob) Size() int64 { return b.size }
