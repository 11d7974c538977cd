package datapath

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/store"
)

// Source is a stored dump as its manifest describes it, and how to open
// it.
type Source struct {
	Key         string
	Size        int64
	SHA256      string
	Compression string
	// Identities decrypt an encrypted dump (none: not encrypted).
	Identities []age.Identity
}

// Target is where a dump is restored: the engine and the staging copy it
// fills, with the source database's own settings for one that is new.
type Target struct {
	Engine  engine.Engine
	Staging string
	Origin  dump.Origin
	// Plan, when set, sanitises the rows as they pass: the engine must be
	// an engine.PlanRestorer.
	Plan *sanitise.Plan
}

// Restore streams src from st into the staging copy: download,
// verification, decryption, decompression and restore run at once, so the
// copy fills from the first bytes. It succeeds only once the whole object
// has matched its manifest's size and sha256; one that does not is
// reported as damaged (*DamagedError), naming its key, whatever the
// database tool made of it. A download that broke off is a plain error:
// the retry starts again.
func Restore(ctx context.Context, st store.Store, src Source, to Target, m *Meter) ([]string, error) {
	if err := checkStored(ctx, st, src, "restore"); err != nil {
		return nil, err
	}
	body, err := st.Get(ctx, src.Key, 0)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", src.Key, err)
	}
	defer body.Close()
	v := &verifying{r: meterOrNew(m).Reader(body), sum: sha256.New()}
	notes, rerr := restoreStream(ctx, v, src, to)
	if v.err == nil && ctx.Err() == nil && (rerr == nil || src.Size-v.n <= 256<<20) {
		// What the restore left unread still has to match the manifest:
		// all of it after a restore that succeeded; after one that
		// failed, only if little is left, to tell damage from the
		// database tool's own error without reading a large dump.
		_, _ = io.Copy(io.Discard, v)
	}
	switch {
	case v.err != nil:
		return nil, fmt.Errorf("download of %s broke off after %d bytes: %w; the restore starts again", src.Key, v.n, v.err)
	case ctx.Err() != nil, rerr != nil && v.n < src.Size:
		// The restore failed before the end of the dump: its reason
		// stands, and the rest of a large dump is not read to check it.
		return nil, rerr
	case v.n != src.Size || v.sha256() != src.SHA256:
		return nil, damaged("dump %s is damaged: it has %d bytes with sha256 %s, its manifest says %d bytes with sha256 %s; the staging copy is dropped and the live database is untouched",
			src.Key, v.n, v.sha256(), src.Size, src.SHA256)
	}
	return notes, rerr
}

// checkStored refuses an object whose size is not its manifest's, before
// what (a restore, a download) reads any of it.
func checkStored(ctx context.Context, st store.Store, src Source, what string) error {
	obj, err := st.Stat(ctx, src.Key)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, src.Key, err)
	}
	if obj.Size != src.Size {
		return damaged("dump %s is %d bytes but its manifest says %d (truncated or replaced); refusing to restore it, the live database is untouched",
			src.Key, obj.Size, src.Size)
	}
	return nil
}

// RestoreFile restores a verified copy of src on this host (Download)
// into the staging copy.
func RestoreFile(ctx context.Context, path string, src Source, to Target, m *Meter) ([]string, error) {
	f, err := openDownload(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && m != nil {
		m.SetTotal(fi.Size())
	}
	return restoreStream(ctx, meterOrNew(m).Reader(f), src, to)
}

func openDownload(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &MissingError{Err: fmt.Errorf("downloaded dump %s is gone from this host; run the pull again", path)}
	}
	return f, nil
}

// restoreStream decrypts and decompresses a stored dump into the engine's
// restore. Damage to the compressed stream is reported as damage to the
// dump, whatever the database tool made of its input ending early.
func restoreStream(ctx context.Context, r io.Reader, src Source, to Target) ([]string, error) {
	zr, err := dump.NewReader(r, src.Compression, src.Identities...)
	if err != nil {
		return nil, damaged("dump %s is damaged: not %s data (%v); the live database is untouched", src.Key, src.Compression, err)
	}
	defer zr.Close()
	var notes []string
	if to.Plan != nil {
		pr, ok := to.Engine.(engine.PlanRestorer)
		if !ok {
			return nil, engine.Permanent(errors.New("this dbms cannot sanitise a dump as it restores it"))
		}
		notes, err = pr.RestorePlan(ctx, zr, to.Staging, to.Origin, to.Plan)
	} else {
		notes, err = to.Engine.Restore(ctx, zr, to.Staging, to.Origin)
	}
	limit := int64(math.MaxInt64)
	if err != nil {
		limit = 64 << 20
	}
	if d := zr.Finish(limit); d != nil {
		return nil, damaged("dump %s is damaged: decompressing it failed (%v); the live database is untouched", src.Key, d)
	}
	return notes, err
}

// RestoreParallel decompresses a verified copy of src on this host into
// an archive file (at archive, removed after) and has the engine restore
// it with jobs parallel jobs: pg_restore -j reads the archive out of
// order, so it needs a file, not a stream.
func RestoreParallel(ctx context.Context, path, archive string, jobs int, src Source, to Target, m *Meter) ([]string, error) {
	pr, ok := to.Engine.(engine.ParallelRestorer)
	if !ok {
		return nil, engine.Permanent(errors.New("this dbms cannot restore in parallel; remove restore_jobs"))
	}
	in, err := openDownload(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if err := decompressTo(archive, meterOrNew(m).Reader(in), src); err != nil {
		return nil, err
	}
	defer os.Remove(archive)
	return pr.RestoreFile(ctx, archive, to.Staging, to.Origin, jobs)
}

// decompressTo writes src, decrypted and decompressed from r, to path.
func decompressTo(path string, r io.Reader, src Source) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create archive file: %w", err)
	}
	zr, err := dump.NewReader(r, src.Compression, src.Identities...)
	if err != nil {
		f.Close()
		os.Remove(path)
		return damaged("dump %s is damaged: not %s data (%v); the live database is untouched", src.Key, src.Compression, err)
	}
	_, err = io.Copy(f, zr)
	zr.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || zr.Damage() != nil {
		os.Remove(path)
	}
	switch {
	case zr.Damage() != nil:
		return damaged("dump %s is damaged: decompressing it failed (%v); the live database is untouched", src.Key, zr.Damage())
	case IsNoSpace(err):
		return &NoSpaceError{Dir: filepath.Dir(path), Need: src.Size * 3, AtLeast: true}
	case err != nil:
		return fmt.Errorf("decompress %s into %s: %w", src.Key, path, err)
	}
	return nil
}

// Download copies src to path on this host and checks its size and sha256
// against the manifest before anything is restored. A retry resumes from
// the bytes an earlier attempt left at path; it returns where it resumed.
func Download(ctx context.Context, st store.Store, src Source, path string, m *Meter) (int64, error) {
	m = meterOrNew(m)
	if err := checkStored(ctx, st, src, "download"); err != nil {
		return 0, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("create temp directory %s: %w", dir, err)
	}
	if err := CheckSpace(dir, src.Size-partialSize(path)); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create download file: %w", err)
	}
	defer f.Close()
	sum, have, err := fetch(ctx, st, src, f, m)
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if got := hex.EncodeToString(sum.Sum(nil)); fi.Size() != src.Size || got != src.SHA256 {
		os.Remove(path)
		err := fmt.Errorf("dump %s failed verification: %d bytes with sha256 %s, manifest says %d bytes with sha256 %s; refusing to restore it, the live database is untouched",
			src.Key, fi.Size(), got, src.Size, src.SHA256)
		if have > 0 {
			return 0, err // the resumed part may be at fault: retry from scratch
		}
		return 0, &DamagedError{Err: err}
	}
	return have, nil
}

// fetch hashes what an earlier attempt already fetched into f, then
// fetches the rest (stores that complete a partial file themselves do),
// returning the hash of the whole and where it resumed.
func fetch(ctx context.Context, st store.Store, src Source, f *os.File, m *Meter) (hash.Hash, int64, error) {
	sum := sha256.New()
	have, err := io.Copy(sum, m.Reader(f))
	if err != nil {
		return nil, 0, fmt.Errorf("read partial download %s: %w", f.Name(), err)
	}
	if have > src.Size {
		if err := restart(f); err != nil {
			return nil, 0, err
		}
		sum.Reset()
		have = 0
	}
	dir := filepath.Dir(f.Name())
	if fg, ok := st.(store.FileGetter); ok && have < src.Size {
		err := fg.GetFile(ctx, src.Key, f.Name())
		if err != nil && (IsNoSpace(err) || strings.Contains(err.Error(), "No space left on device")) {
			return nil, 0, &NoSpaceError{Dir: dir, Need: src.Size}
		} else if err != nil {
			return nil, 0, fmt.Errorf("download %s: %w", src.Key, err)
		}
		sum.Reset()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, 0, err
		}
		if _, err := io.Copy(sum, m.Reader(f)); err != nil {
			return nil, 0, err
		}
	} else if have < src.Size {
		r, err := st.Get(ctx, src.Key, have)
		if err != nil {
			return nil, 0, fmt.Errorf("download %s: %w", src.Key, err)
		}
		_, err = io.Copy(io.MultiWriter(f, sum), m.Reader(io.LimitReader(r, src.Size-have)))
		r.Close()
		if IsNoSpace(err) {
			return nil, 0, &NoSpaceError{Dir: dir, Need: src.Size}
		}
		if err != nil {
			return nil, 0, fmt.Errorf("download %s: %w (will resume)", src.Key, err)
		}
	}
	return sum, have, nil
}

// restart empties f for a download from the start.
func restart(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// partialSize is how much of a download an earlier attempt left at path.
func partialSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// verifying hashes and counts the stored bytes as they stream past, and
// remembers a failed read: a network error is not damage to the dump.
type verifying struct {
	r   io.Reader
	sum hash.Hash
	n   int64
	err error
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.sum.Write(p[:n])
	v.n += int64(n)
	if err != nil && err != io.EOF && v.err == nil {
		v.err = err
	}
	return n, err
}

func (v *verifying) sha256() string { return hex.EncodeToString(v.sum.Sum(nil)) }
