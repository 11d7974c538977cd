package datapath

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
)

// Copy streams one dump's data from src to dst under target while hashing
// it, then writes its manifest there, at most limit bytes a second (0: no
// cap). Data that does not match man is removed from dst, and the reason
// returned (skip, a non-empty string) instead of an error: the source's
// damage is not the copy's failure.
func Copy(ctx context.Context, src, dst store.Store, key, target string, man dump.Manifest, limit int64, m *Meter) (skip string, err error) {
	r, err := src.Get(ctx, key, 0)
	if errors.Is(err, store.ErrNotExist) {
		return "its data object is missing", nil
	} else if err != nil {
		return "", err
	}
	// Read at most one byte more than the manifest says, to notice a
	// longer object without copying all of it.
	sum := sha256.New()
	var counted dump.Counter
	data := io.TeeReader(meterOrNew(m).Reader(io.LimitReader(r, man.Size+1)), io.MultiWriter(sum, &counted))
	err = dst.Put(ctx, target, LimitReads(ctx, data, limit), -1)
	r.Close()
	if err != nil {
		return "", fmt.Errorf("copy %s: %w", key, err)
	}
	got, n := hex.EncodeToString(sum.Sum(nil)), int64(counted)
	if n != man.Size || got != man.SHA256 {
		if err := dst.Delete(ctx, target); err != nil {
			return "", err
		}
		return fmt.Sprintf("its data (%d bytes, sha256 %s) does not match its manifest (%d bytes, sha256 %s)", n, got, man.Size, man.SHA256), nil
	}
	man.Key = target
	body, err := man.Marshal()
	if err != nil {
		return "", err
	}
	if err := dst.Put(ctx, dump.ManifestKey(target), bytes.NewReader(body), int64(len(body))); err != nil {
		return "", fmt.Errorf("copy manifest of %s: %w", key, err)
	}
	return "", nil
}

// ReadManifest reads and checks the manifest of the dump key in st; a dump
// without one fails with *NoManifestError, a manifest that is not one
// with *BadManifestError.
func ReadManifest(ctx context.Context, st store.Store, key string) (dump.Manifest, error) {
	mkey := dump.ManifestKey(key)
	r, err := st.Get(ctx, mkey, 0)
	if errors.Is(err, store.ErrNotExist) {
		return dump.Manifest{}, &NoManifestError{Key: key}
	} else if err != nil {
		return dump.Manifest{}, fmt.Errorf("read manifest %s: %w", mkey, err)
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return dump.Manifest{}, fmt.Errorf("read manifest %s: %w", mkey, err)
	}
	m, err := dump.UnmarshalManifest(mkey, body)
	if err != nil {
		return m, &BadManifestError{Err: err}
	}
	return m, nil
}

// NoManifestError is a dump without a manifest: incomplete, never restored.
type NoManifestError struct{ Key string }

func (e *NoManifestError) Error() string {
	return fmt.Sprintf("dump %s has no manifest, so it is incomplete and will not be restored", e.Key)
}

// BadManifestError is a manifest that cannot be read as one.
type BadManifestError struct{ Err error }

func (e *BadManifestError) Error() string { return e.Err.Error() }
func (e *BadManifestError) Unwrap() error { return e.Err }
