package activities

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
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/store"
)

// ResolveInput asks which dump a pull restores.
type ResolveInput struct {
	Task config.Task
	// Minute, when set, picks the newest dump taken in that UTC minute
	// (the original's -t); zero means the newest dump.
	Minute time.Time
	// Key, when set, names the exact dump (a chained pull restores the
	// dump its push wrote); it wins over Minute.
	Key string
	// Hold writes a hold on the chosen dump, so no prune removes it while
	// this pull runs; the pull releases it when it ends (ReleaseHold).
	Hold bool `json:",omitempty"`
}

// ResolveResult is the chosen dump, as its manifest describes it.
type ResolveResult struct {
	Key           string
	Size          int64
	SHA256        string
	CreatedAt     time.Time
	SourceHost    string
	ServerVersion string
	// Compression is how the dump is stored.
	Compression string
	// Origin is the source database's settings, for a target that lacks
	// the database.
	Origin dump.Origin
	// Staging is the name of the copy this run restores into: the live
	// name and a hash of the run, cut to the engine's limit.
	Staging string `json:",omitempty"`
	// Encrypted says the dump is encrypted with age; the worker holds an
	// identity that opens it (checked here, before anything is restored).
	Encrypted bool `json:",omitempty"`
	// Native says the dump is a snapshot in the server's own repository:
	// the server restores it by name; there is nothing to download.
	Native bool `json:",omitempty"`
	// Hold is the key of the hold written for this pull; HoldError says
	// why none could be (the pull goes on, unprotected).
	Hold      string `json:",omitempty"`
	HoldError string `json:",omitempty"`
}

// Resolve lists the store and picks a complete dump (one with a manifest)
// of exactly this database.
//
// It also names the staging copy, as only the engine knows how long a name
// its server takes.
func (a *Activities) Resolve(ctx context.Context, in ResolveInput) (res ResolveResult, err error) {
	info, err := engineInfo(in.Task)
	if err != nil {
		return res, err
	}
	defer func() {
		res.Staging = engine.StagingName(in.Task.Database, activity.GetInfo(ctx).WorkflowExecution.RunID, info.MaxName)
	}()
	if s, ok, err := a.native(in.Task); err != nil || ok {
		if err != nil {
			return res, err
		}
		return snapshotResolve(ctx, s, in)
	}
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return ResolveResult{}, err
	}
	loc := store.Describe(in.Task.StorageBackend, in.Task.URL, in.Task.Path)
	key := in.Key
	if key == "" {
		objs, err := st.List(ctx, in.Task.Path)
		if err != nil {
			return ResolveResult{}, fmt.Errorf("list dumps in %s: %w", loc, err)
		}
		keys := make([]string, len(objs))
		for i, o := range objs {
			keys[i] = o.Key
		}
		c, err := dump.Choose(dump.Candidates(in.Task.Path, in.Task.DumpName(), keys), in.Minute)
		if err != nil {
			return ResolveResult{}, permanent(ErrNoDump, fmt.Errorf("dumps of %s in %s: %w", in.Task.DumpName(), loc, err))
		}
		key = c.Key
	} else if db, _, ok := dump.Parse(in.Task.Path, key); !ok || db != in.Task.DumpName() {
		return ResolveResult{}, permanent(ErrNoDump, fmt.Errorf("key %s is not a dump of %s under %s", key, in.Task.DumpName(), loc))
	}
	// The hold goes down before the manifest is read: a prune that did
	// not see it deletes the manifest first, so this read fails cleanly,
	// and one that sees it after deleting the manifest keeps the data.
	var hold, holdErr string
	if in.Hold {
		hold, holdErr = a.holdForPull(ctx, st, in.Task, key)
		defer func() {
			if err != nil && hold != "" {
				if derr := st.Delete(context.WithoutCancel(ctx), hold); derr != nil {
					a.cfg.Logger.Warn("could not remove the hold of a pull that found no dump to restore; it expires by itself", "hold", hold, "error", derr)
				}
			}
		}()
	}
	m, err := a.readManifest(ctx, st, key)
	if err != nil {
		return ResolveResult{}, err
	}
	if m.DBMS != in.Task.DBMS || m.Database != in.Task.DumpName() {
		return ResolveResult{}, permanent(ErrWrongDump, fmt.Errorf("dump %s is a %s dump of %s, but the task restores %s dumps of %s",
			key, m.DBMS, m.Database, in.Task.DBMS, in.Task.DumpName()))
	}
	if in.Task.RequireSanitised && (m.Sanitised == nil || !m.Sanitised.Verified || m.Sanitised.RulesSHA256 == "") {
		return ResolveResult{}, permanent(ErrNotSanitised, fmt.Errorf("dump %s was not sanitised before upload, and this task requires sanitised dumps; point it at the sanitised_path of a before_upload push", key))
	}
	if err := a.canOpen(key, m.Encrypted); err != nil {
		return ResolveResult{}, err
	}
	res = ResolveResult{Encrypted: m.Encrypted != nil, Key: key, Size: m.Size, SHA256: m.SHA256, CreatedAt: m.CreatedAt, SourceHost: m.SourceHost, ServerVersion: m.ServerVersion,
		Compression: m.Compression, Origin: m.Origin}
	res.Hold, res.HoldError = hold, holdErr
	return res, nil
}

func (a *Activities) readManifest(ctx context.Context, st store.Store, key string) (dump.Manifest, error) {
	mkey := dump.ManifestKey(key)
	r, err := st.Get(ctx, mkey, 0)
	if errors.Is(err, store.ErrNotExist) {
		return dump.Manifest{}, permanent(ErrNoDump, fmt.Errorf("dump %s has no manifest, so it is incomplete and will not be restored", key))
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
		return m, permanent(ErrBadManifest, err)
	}
	return m, nil
}

// DownloadInput names the dump to fetch.
type DownloadInput struct {
	Task config.Task
	Dump ResolveResult
}

// DownloadResult is the verified dump on this host.
type DownloadResult struct {
	Path    string
	Seconds float64
	// ResumedAt is the offset an interrupted download continued from.
	ResumedAt int64
}

// Download copies the dump to this host's temp dir and checks its size and
// sha256 against the manifest before anything is restored. A retry resumes
// from the bytes already on disk.
func (a *Activities) Download(ctx context.Context, in DownloadInput) (DownloadResult, error) {
	// Heartbeat from the start: hashing what an earlier attempt fetched
	// takes as long as reading it.
	m := startPhase(ctx, "download", in.Dump.Size)
	defer m.Stop()
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return DownloadResult{}, err
	}
	obj, err := st.Stat(ctx, in.Dump.Key)
	if err != nil {
		return DownloadResult{}, fmt.Errorf("download %s: %w", in.Dump.Key, err)
	}
	if obj.Size != in.Dump.Size {
		return DownloadResult{}, permanent(ErrCorruptDump, fmt.Errorf("dump %s is %d bytes but its manifest says %d (truncated or replaced); refusing to restore it, the live database is untouched",
			in.Dump.Key, obj.Size, in.Dump.Size))
	}
	path, err := a.tempPath(ctx, in.Task, "pull")
	if err != nil {
		return DownloadResult{}, err
	}
	dir := filepath.Dir(path)
	if err := checkSpace(dir, in.Dump.Size-partialSize(path)); err != nil {
		return DownloadResult{}, err
	}
	start := time.Now()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return DownloadResult{}, fmt.Errorf("create download file: %w", err)
	}
	defer f.Close()
	// Hash what an earlier attempt already fetched, then fetch the rest.
	sum := sha256.New()
	have, err := io.Copy(sum, m.Reader(f))
	if err != nil {
		return DownloadResult{}, fmt.Errorf("read partial download %s: %w", path, err)
	}
	if have > in.Dump.Size {
		if err := f.Truncate(0); err != nil {
			return DownloadResult{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return DownloadResult{}, err
		}
		sum.Reset()
		have = 0
	}
	if fg, ok := st.(store.FileGetter); ok && have < in.Dump.Size {
		// The store completes the partial file itself; hash the result.
		err := fg.GetFile(ctx, in.Dump.Key, path)
		if err != nil && (isNoSpace(err) || strings.Contains(err.Error(), "No space left on device")) {
			return DownloadResult{}, noSpace(dir, in.Dump.Size, false)
		} else if err != nil {
			return DownloadResult{}, fmt.Errorf("download %s: %w", in.Dump.Key, err)
		}
		sum.Reset()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return DownloadResult{}, err
		}
		if _, err := io.Copy(sum, m.Reader(f)); err != nil {
			return DownloadResult{}, err
		}
	} else if have < in.Dump.Size {
		r, err := st.Get(ctx, in.Dump.Key, have)
		if err != nil {
			return DownloadResult{}, fmt.Errorf("download %s: %w", in.Dump.Key, err)
		}
		_, err = io.Copy(io.MultiWriter(f, sum), m.Reader(io.LimitReader(r, in.Dump.Size-have)))
		r.Close()
		if isNoSpace(err) {
			return DownloadResult{}, noSpace(dir, in.Dump.Size, false)
		}
		if err != nil {
			return DownloadResult{}, fmt.Errorf("download %s: %w (will resume)", in.Dump.Key, err)
		}
	}
	if err := f.Sync(); err != nil {
		return DownloadResult{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return DownloadResult{}, err
	}
	got := hex.EncodeToString(sum.Sum(nil))
	if fi.Size() != in.Dump.Size || got != in.Dump.SHA256 {
		os.Remove(path)
		err := fmt.Errorf("dump %s failed verification: %d bytes with sha256 %s, manifest says %d bytes with sha256 %s; refusing to restore it, the live database is untouched",
			in.Dump.Key, fi.Size(), got, in.Dump.Size, in.Dump.SHA256)
		if have > 0 {
			return DownloadResult{}, err // the resumed part may be at fault: retry from scratch
		}
		return DownloadResult{}, permanent(ErrCorruptDump, err)
	}
	return DownloadResult{Path: path, Seconds: time.Since(start).Seconds(), ResumedAt: have}, nil
}

// partialSize is how much of a download an earlier attempt left at path.
func partialSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// RestoreInput names the dump to restore into the staging database.
type RestoreInput struct {
	Task config.Task
	// Key names the dump in the store; Size, SHA256 and Compression are
	// its manifest's.
	Key         string
	Size        int64
	SHA256      string
	Compression string
	// Path is a verified download of the dump on this host; empty streams
	// it from the store, verifying it on the way.
	Path    string
	Staging string
	// Origin is the source database's settings, from the manifest.
	Origin dump.Origin
	// Jobs > 1 restores with that many parallel jobs (engines that can).
	Jobs int
	// Encrypted: decrypt with this worker's age identities.
	Encrypted bool `json:",omitempty"`
}

// RestoreResult reports the restore's duration, and what a person should
// know about the new database (a setting of the source it could not keep).
type RestoreResult struct {
	Seconds float64
	Notes   []string `json:",omitempty"`
}

// Restore loads the dump into the staging database; the live database is
// not touched. Streaming from the store, download, verification,
// decompression and restore run at once: the staging copy fills from the
// first bytes, and the step succeeds only once the whole object has
// matched its manifest's size and sha256. A dump that does not is
// reported as damaged, naming its key, whatever the database tool made of
// it; the workflow then drops the staging copy.
func (a *Activities) Restore(ctx context.Context, in RestoreInput) (RestoreResult, error) {
	if s, ok, err := a.native(in.Task); err != nil || ok {
		if err != nil {
			return RestoreResult{}, err
		}
		return snapshotRestore(ctx, s, in)
	}
	m := startPhase(ctx, "restore", in.Size)
	defer m.Stop()
	eng, err := a.engine(in.Task)
	if err != nil {
		return RestoreResult{}, err
	}
	key := in.Key
	start := time.Now()
	if in.Path != "" {
		f, err := os.Open(in.Path)
		if err != nil {
			return RestoreResult{}, permanent(ErrDumpFileMissing, fmt.Errorf("downloaded dump %s is gone from this host; run the pull again", in.Path))
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			m.total.Store(fi.Size())
		}
		var notes []string
		if in.Jobs > 1 {
			notes, err = a.restoreParallel(ctx, eng, m.Reader(f), in)
		} else {
			notes, err = restoreCompressed(ctx, eng, m.Reader(f), in.Staging, key, in.Origin, in.Compression, a.decryptFor(in)...)
		}
		if err != nil {
			return RestoreResult{}, err
		}
		return RestoreResult{Seconds: time.Since(start).Seconds(), Notes: notes}, nil
	}

	st, err := a.store(ctx, in.Task)
	if err != nil {
		return RestoreResult{}, err
	}
	if obj, err := st.Stat(ctx, key); err != nil {
		return RestoreResult{}, storeError(fmt.Errorf("restore %s: %w", key, err))
	} else if obj.Size != in.Size {
		return RestoreResult{}, permanent(ErrCorruptDump, fmt.Errorf("dump %s is %d bytes but its manifest says %d (truncated or replaced); refusing to restore it, the live database is untouched",
			key, obj.Size, in.Size))
	}
	body, err := st.Get(ctx, key, 0)
	if err != nil {
		return RestoreResult{}, storeError(fmt.Errorf("restore %s: %w", key, err))
	}
	defer body.Close()
	src := &verifying{r: m.Reader(body), sum: sha256.New()}
	notes, rerr := restoreCompressed(ctx, eng, src, in.Staging, key, in.Origin, in.Compression, a.decryptFor(in)...)
	if src.err == nil && ctx.Err() == nil && (rerr == nil || in.Size-src.n <= 256<<20) {
		// What the restore left unread still has to match the manifest:
		// all of it after a restore that succeeded; after one that
		// failed, only if little is left, to tell damage from the
		// database tool's own error without reading a large dump.
		_, _ = io.Copy(io.Discard, src)
	}
	switch {
	case src.err != nil:
		return RestoreResult{}, fmt.Errorf("download of %s broke off after %d bytes: %w; the restore starts again", key, src.n, src.err)
	case ctx.Err() != nil, rerr != nil && src.n < in.Size:
		// The restore failed before the end of the dump: its reason
		// stands, and the rest of a large dump is not read to check it.
		return RestoreResult{}, rerr
	case src.n != in.Size || src.sha256() != in.SHA256:
		return RestoreResult{}, permanent(ErrCorruptDump, fmt.Errorf("dump %s is damaged: it has %d bytes with sha256 %s, its manifest says %d bytes with sha256 %s; the staging copy is dropped and the live database is untouched",
			key, src.n, src.sha256(), in.Size, in.SHA256))
	case rerr != nil:
		return RestoreResult{}, rerr
	}
	return RestoreResult{Seconds: time.Since(start).Seconds(), Notes: notes}, nil
}

// decryptFor is the identities to decrypt in's dump with: none for a dump
// that is not encrypted.
func (a *Activities) decryptFor(in RestoreInput) []age.Identity {
	if !in.Encrypted {
		return nil
	}
	return a.cfg.AgeIdentities
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

// restoreCompressed decompresses a stored dump into the engine's restore.
// Damage to the compressed stream is reported as damage to the dump named
// key, whatever the database tool made of its input ending early.
func restoreCompressed(ctx context.Context, eng engine.Engine, r io.Reader, staging, key string, origin dump.Origin, compression string, ids ...age.Identity) ([]string, error) {
	zr, err := dump.NewReader(r, compression, ids...)
	if err != nil {
		return nil, permanent(ErrCorruptDump, fmt.Errorf("dump %s is damaged: not %s data (%v); the live database is untouched", key, compression, err))
	}
	defer zr.Close()
	notes, err := eng.Restore(ctx, zr, staging, origin)
	limit := int64(math.MaxInt64)
	if err != nil {
		limit = 64 << 20
	}
	if damage := zr.Finish(limit); damage != nil {
		return nil, permanent(ErrCorruptDump, fmt.Errorf("dump %s is damaged: decompressing it failed (%v); the live database is untouched", key, damage))
	}
	return notes, classify(err)
}

// restoreParallel decompresses a downloaded dump into an archive file on
// this host and has the engine restore it with in.Jobs parallel jobs
// (pg_restore -j reads the archive out of order, so it needs a file).
func (a *Activities) restoreParallel(ctx context.Context, eng engine.Engine, r io.Reader, in RestoreInput) ([]string, error) {
	pr, ok := eng.(engine.ParallelRestorer)
	if !ok {
		return nil, permanent(ErrInvalidTask, fmt.Errorf("dbms %s cannot restore in parallel; remove restore_jobs", in.Task.DBMS))
	}
	path, err := a.tempPath(ctx, in.Task, "pull-archive")
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create archive file: %w", err)
	}
	zr, err := dump.NewReader(r, in.Compression, a.decryptFor(in)...)
	if err != nil {
		f.Close()
		return nil, permanent(ErrCorruptDump, fmt.Errorf("dump %s is damaged: not %s data (%v); the live database is untouched", in.Key, in.Compression, err))
	}
	_, err = io.Copy(f, zr)
	zr.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case zr.Damage() != nil:
		return nil, permanent(ErrCorruptDump, fmt.Errorf("dump %s is damaged: decompressing it failed (%v); the live database is untouched", in.Key, zr.Damage()))
	case isNoSpace(err):
		return nil, noSpace(filepath.Dir(path), in.Size*3, true)
	case err != nil:
		return nil, fmt.Errorf("decompress %s into %s: %w", in.Key, path, err)
	}
	notes, err := pr.RestoreFile(ctx, path, in.Staging, in.Origin, in.Jobs)
	return notes, classify(err)
}

// SwapInput names the staging database to make live.
type SwapInput struct {
	Task    config.Task
	Staging string
	// Label is recorded on the new live database (which dump, which run).
	Label string
}

// Swap makes the staging database live.
func (a *Activities) Swap(ctx context.Context, in SwapInput) error {
	eng, err := a.engine(in.Task)
	if err != nil {
		return err
	}
	return classify(eng.Swap(ctx, in.Staging, in.Label))
}

// DropInput names a staging database to remove.
type DropInput struct {
	Task    config.Task
	Staging string
}

// DropStaging removes a staging database left by a pull that did not swap.
func (a *Activities) DropStaging(ctx context.Context, in DropInput) error {
	eng, err := a.engine(in.Task)
	if err != nil {
		return err
	}
	return classify(eng.Drop(ctx, in.Staging))
}
