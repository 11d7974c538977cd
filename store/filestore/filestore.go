// Package filestore keeps dumps in a local directory: the embedded default,
// and a plain way to use a mounted file server.
package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/envsync/envsync/store"
)

// Store is a directory; keys are paths below it.
type Store struct{ root string }

// New returns a store rooted at dir, creating it if needed.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file store: create %s: %w", dir, err)
	}
	return &Store{root: dir}, nil
}

func (s *Store) path(key string) (string, error) {
	clean := filepath.Clean("/" + key)
	if key == "" || clean != "/"+key {
		return "", fmt.Errorf("file store: key %q is not a clean relative path", key)
	}
	return filepath.Join(s.root, clean), nil
}

// Put writes to a hidden temporary file in the same directory and renames
// it into place, so a failed write never leaves a partial object visible.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".partial-"+filepath.Base(p)+"-*")
	if err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := io.Copy(tmp, contextReader{ctx, r})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("wrote %d bytes, expected %d", n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file store: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("file store: put %s: %w", key, err)
	}
	return nil
}

// Get opens key at offset.
func (s *Store) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file store: %s: %w", key, store.ErrNotExist)
	} else if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("file store: seek %s: %w", key, err)
	}
	return f, nil
}

// Stat describes key.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return store.Object{}, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return store.Object{}, fmt.Errorf("file store: %s: %w", key, store.ErrNotExist)
	} else if err != nil {
		return store.Object{}, fmt.Errorf("file store: %w", err)
	}
	return store.Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// List walks the directory under prefix, skipping in-flight partial files.
func (s *Store) List(ctx context.Context, prefix string) ([]store.Object, error) {
	dir := s.root
	if prefix != "" {
		p, err := s.path(prefix)
		if err != nil {
			return nil, err
		}
		dir = p
	}
	var out []store.Object
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".partial-") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		out = append(out, store.Object{Key: filepath.ToSlash(rel), Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file store: list %s: %w", prefix, err)
	}
	return out, nil
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file store: %w", err)
	}
	return nil
}

// contextReader stops a long copy when the activity is cancelled.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
