package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/buildinfo"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/store"
)

// DumpInput asks for a dump of Task's database.
type DumpInput struct {
	Task config.Task
	// Upload streams the dump to the task's store while it is taken, and
	// writes its manifest. Without it the dump only goes to this host's
	// temp dir (before_upload sanitises it there first).
	Upload bool
}

// DumpResult describes a dump: where it went, what it holds. No data.
type DumpResult struct {
	// Key is the dump's data key in the store (set even before it is
	// uploaded: the upload from the spool uses it).
	Key         string
	ManifestKey string
	Location    string
	// Uploaded says the dump and its manifest are in the store.
	Uploaded bool
	// UploadError says why streaming to the store failed, when the
	// spooled copy at Path is complete: Upload retries from it.
	UploadError string
	// Path is the spooled copy on this host; empty once uploaded or when
	// the task spools nothing.
	Path        string
	Size        int64
	SHA256      string
	Compression string
	// RawBytes is what the database tool wrote, before compression.
	RawBytes      int64
	ServerVersion string
	Format        string
	// Origin is the source database's own settings, for the manifest.
	Origin dump.Origin
	// StartedAt is when the dump began; it names the dump in the store.
	StartedAt time.Time
	Seconds   float64
	// Sanitised is set for a dump sanitised on this host before upload.
	Sanitised *dump.Sanitised
	// Recipients fingerprint the age recipients the dump is encrypted to
	// (none: not encrypted).
	Recipients []string `json:",omitempty"`
	// Counted summarises the counts the manifest records (verify:
	// counts); the counts themselves are not in history.
	Counted *Tally `json:",omitempty"`
	// Native says the dump is a snapshot the database server keeps in its
	// own repository (Key names it): nothing was moved, and there is no
	// manifest, size or checksum.
	Native bool `json:",omitempty"`
	// Reused says an earlier attempt of this run had stored the dump
	// complete (its result was lost with the worker or Temporal): it is
	// returned as it is, and the database was not dumped again.
	Reused bool `json:",omitempty"`
}

// Dump streams the engine's dump through compression and sha256 to the
// store, the first part uploading while the database is still being read.
// With spool: disk (the default) the compressed stream also goes to a temp
// file, so an upload that fails is retried from it (by Upload) without
// dumping again; with spool: none nothing touches the temp dir and a
// failed upload fails the step, which dumps again. Memory stays flat
// whatever the database's size.
//
// For a native store (the server's own snapshot repository) it takes a
// snapshot there instead.
func (a *Activities) Dump(ctx context.Context, in DumpInput) (DumpResult, error) {
	if s, ok, err := a.native(in.Task); err != nil || ok {
		if err != nil {
			return DumpResult{}, err
		}
		return snapshotDump(ctx, s, in.Task)
	}
	t := in.Task
	if !in.Upload {
		// A raw dump stays on this host to be sanitised: only the
		// sanitised copy that leaves it is encrypted.
		t.EncryptTo = nil
	}
	if in.Upload && activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1 {
		if res, ok := a.earlierDump(ctx, t); ok {
			return res, nil
		}
	}
	return a.dumpTo(ctx, t, "push", in.Upload, 0)
}

// earlierDump finds the complete dump an earlier attempt of this run
// stored, by the run its manifest names: an attempt that stored its dump
// and manifest but could not report it (its worker or Temporal went away)
// leaves one, and dumping again would leave a second. Only dumps younger
// than the step's time limit (a day) can be this run's. Any failure to
// look is only logged: the attempt then dumps again.
func (a *Activities) earlierDump(ctx context.Context, t config.Task) (DumpResult, bool) {
	info := activity.GetInfo(ctx)
	run := dump.Run{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
	st, err := a.store(ctx, t)
	if err != nil {
		return DumpResult{}, false
	}
	objs, err := st.List(ctx, t.Path)
	if err != nil {
		a.cfg.Logger.Warn("could not look for a dump stored by an earlier attempt; dumping again", "database", t.Database, "error", err)
		return DumpResult{}, false
	}
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	cands := dump.Candidates(t.Path, t.Database, keys)
	for i := len(cands) - 1; i >= 0 && cands[i].Time.After(time.Now().Add(-24*time.Hour)); i-- {
		m, err := a.readManifest(ctx, st, cands[i].Key)
		if err != nil || m.Run == nil || *m.Run != run {
			continue
		}
		a.cfg.Logger.Info("an earlier attempt of this run stored the dump complete; not dumping again", "key", m.Key)
		res := DumpResult{Key: m.Key, ManifestKey: dump.ManifestKey(m.Key), Location: store.Describe(t.StorageBackend, t.URL, t.Path),
			Uploaded: true, Size: m.Size, SHA256: m.SHA256, Compression: m.Compression, ServerVersion: m.ServerVersion,
			Format: m.DumpFormat, Origin: m.Origin, StartedAt: m.CreatedAt, Counted: tally(m.Counts), Reused: true}
		if m.Encrypted != nil {
			res.Recipients = m.Encrypted.Recipients
		}
		return res, true
	}
	return DumpResult{}, false
}

// compression is the task's compression, defaulted.
func compression(t config.Task) string {
	if t.Compression == "" {
		return dump.Zstd
	}
	return t.Compression
}

// lastSize is the size of the newest complete dump of t's database in st:
// the best guess of what this dump needs on the temp disk and in the
// store. 0 when there is none or the store cannot say.
func lastSize(ctx context.Context, st store.Store, t config.Task) int64 {
	objs, err := st.List(ctx, t.Path)
	if err != nil {
		return 0
	}
	keys := make([]string, len(objs))
	sizes := map[string]int64{}
	for i, o := range objs {
		keys[i] = o.Key
		sizes[o.Key] = o.Size
	}
	c, err := dump.Choose(dump.Candidates(t.Path, t.Database, keys), time.Time{})
	if err != nil {
		return 0
	}
	return sizes[c.Key]
}

// tee sends the compressed stream to the spool file and the upload. A
// failed spool write fails the dump (the disk is full); a failed upload
// does not while there is a spool to retry from.
type tee struct {
	spool  *errWriter // nil: no spool
	up     io.Writer  // nil: no streamed upload
	upErr  error
	stored atomic.Int64
}

func (t *tee) Write(p []byte) (int, error) {
	if t.spool != nil {
		if _, err := t.spool.Write(p); err != nil {
			return 0, err
		}
	}
	if t.up != nil && t.upErr == nil {
		n, err := t.up.Write(p)
		t.stored.Add(int64(n))
		if err != nil {
			t.upErr = err
			if t.spool == nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// dumpTo dumps t's database. With upload it streams to the store; the
// spool file (kind names it) is kept unless the task says spool: none.
// expect is the expected compressed size for the free-space check (0: ask
// the store for the last dump's).
func (a *Activities) dumpTo(ctx context.Context, t config.Task, kind string, upload bool, expect int64) (DumpResult, error) {
	m := startPhase(ctx, "dump", 0) // heartbeats from the start: sizing and listing can be slow
	defer m.Stop()
	eng, err := a.engine(t)
	if err != nil {
		return DumpResult{}, err
	}
	comp := compression(t)
	spool := t.Spool != config.SpoolNone || !upload
	var st store.Store
	if upload {
		// One store for the step: one that did not answer the listing
		// is not asked again (see store.Sizer).
		if st, err = a.store(ctx, t); err != nil {
			return DumpResult{}, err
		}
		if expect == 0 {
			expect = lastSize(ctx, st, t)
		}
		if sz, ok := st.(store.Sizer); ok {
			st = sz.ForSize(expect)
		}
		if _, ok := st.(store.FilePutter); ok && spool {
			// rsync resumes an interrupted transfer from a file, not a
			// stream: it sends the spool once the dump is complete.
			upload = false
		}
	}
	if sz, ok := eng.(engine.Sizer); ok {
		if total, err := sz.Size(ctx); err == nil { // only for the progress line
			m.total.Store(total)
		}
	}
	start := time.Now()
	res := DumpResult{Key: dump.Key(t.Path, t.Database, start, comp), Compression: comp, StartedAt: start.UTC(),
		Location: store.Describe(t.StorageBackend, t.URL, t.Path)}

	sink := &tee{}
	var path, dir string
	var spoolFile *os.File
	if spool {
		if path, err = a.tempPath(ctx, t, kind); err != nil {
			return DumpResult{}, err
		}
		dir = filepath.Dir(path)
		if err := checkSpace(dir, expect); err != nil {
			return DumpResult{}, err
		}
		if spoolFile, err = os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600); err != nil {
			return DumpResult{}, fmt.Errorf("create dump file: %w", err)
		}
		defer spoolFile.Close()
		sink.spool = &errWriter{w: spoolFile}
		defer func() {
			if res.Path == "" { // not handed on: uploaded, or failed
				os.Remove(path)
				os.Remove(countsFile(path))
			}
		}()
	}

	upCtx, cancelUpload := context.WithCancel(ctx)
	defer cancelUpload()
	var pw *io.PipeWriter
	upDone := make(chan error, 1)
	if upload {
		a.sweep(ctx, st, t, start)
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		sink.up = pw
		go func() {
			// Put reads to the end of the stream (the store contract),
			// so a nil error means the whole dump is stored.
			err := st.Put(upCtx, res.Key, limitReads(upCtx, pr, a.cfg.UploadLimit), -1)
			pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
			upDone <- err
		}()
	}

	recipients, err := ageRecipients(t)
	if err != nil {
		return DumpResult{}, err
	}
	for _, r := range t.EncryptTo {
		res.Recipients = append(res.Recipients, dump.Fingerprint(r))
	}
	w, err := dump.NewWriter(sink, comp, t.CompressionLevel, recipients...)
	if err != nil {
		return DumpResult{}, permanent(ErrInvalidTask, err)
	}
	m.track(w.In, sink.stored.Load, res.Key)
	info, derr := eng.Dump(ctx, w)
	// Did the upload fail first (and stop the dump), or the dump? Asked
	// now: the writes below, into a pipe closed with the dump's error,
	// fail too.
	uploadFailed := sink.upErr != nil
	if derr != nil {
		// Stop the upload first, so the encoder's last writes fail fast
		// instead of waiting on a reader that is gone.
		cancelUpload()
		if pw != nil {
			pw.CloseWithError(derr)
		}
	}
	// Close always: the encoder's goroutines may still be writing into
	// the spool and the pipe.
	if cerr := w.Close(); derr == nil {
		derr = cerr
	}
	var uerr error
	if pw != nil {
		pw.Close() // after CloseWithError this changes nothing
		uerr = <-upDone
	}
	if derr == nil && spool && (!upload || uerr != nil || sink.upErr != nil) {
		// The spooled copy is handed on to Upload: make it survive a
		// crash of the host. A copy that is deleted because the stream
		// reached the store needs no trip to the disk.
		derr = spoolFile.Sync()
	}
	switch {
	case spool && (isNoSpace(sink.spool.err) || isNoSpace(derr)):
		if expect > 0 {
			return DumpResult{}, noSpace(dir, expect, false)
		}
		return DumpResult{}, noSpace(dir, w.Size(), true)
	case spool && sink.spool.err != nil:
		return DumpResult{}, fmt.Errorf("write the spooled copy %s: %w", path, sink.spool.err)
	case !spool && uploadFailed:
		// The dump stopped because the upload did: the upload's
		// reason is the one that matters, and the retry dumps again.
		return DumpResult{}, storeError(fmt.Errorf("upload %s: %w (spool: none, so the retry dumps again)", res.Key, cmp.Or(uerr, sink.upErr)))
	case derr != nil:
		return DumpResult{}, classify(fmt.Errorf("dump %s: %w", t.Database, derr))
	}
	res.Size, res.SHA256, res.RawBytes = w.Size(), w.SHA256(), w.In()
	res.ServerVersion, res.Format, res.Origin = info.ServerVersion, info.Format, info.Origin
	res.Counted = tally(info.Counts)
	res.Seconds = time.Since(start).Seconds()
	// handOn leaves the spooled copy, and its counts, to the next step.
	handOn := func() (DumpResult, error) {
		if err := writeCounts(path, info.Counts); err != nil {
			return DumpResult{}, err
		}
		res.Path = path
		return res, nil
	}
	if !upload {
		return handOn()
	}
	uerr = cmp.Or(uerr, sink.upErr)
	if uerr == nil {
		res.ManifestKey, uerr = a.putManifest(ctx, st, t, res, info.Counts)
	}
	if uerr != nil {
		if !spool {
			return DumpResult{}, storeError(fmt.Errorf("upload %s: %w (spool: none, so the retry dumps again)", res.Key, uerr))
		}
		res.UploadError = failure.Text(uerr)
		return handOn()
	}
	res.Uploaded = true
	return res, nil
}

// storeError marks a store's refusal that retrying cannot fix (no such
// bucket, access denied) as non-retryable, so it does not cost a dump per
// attempt; other store errors are left to the retry policy.
func storeError(err error) error {
	if errors.Is(err, store.ErrRefused) {
		return permanent(ErrStoreRefused, err)
	}
	return err
}

// sweep aborts unfinished uploads left by earlier attempts: the one the
// last attempt of this step was writing (named in its last heartbeat), and
// any of this database older than a day, which no step still runs (a
// dump's time limit is a day). Uploads of other runs in progress, such as
// another server's push of a database of the same name, are left alone.
func (a *Activities) sweep(ctx context.Context, st store.Store, t config.Task, now time.Time) {
	sw, ok := st.(store.Sweeper)
	if !ok {
		return
	}
	var last Progress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &last)
	}
	n, err := sw.Sweep(ctx, t.Path, func(key string, started time.Time) bool {
		if key == last.Key {
			return true
		}
		db, _, ok := dump.Parse(t.Path, key)
		return ok && db == t.Database && started.Before(now.Add(-24*time.Hour))
	})
	if err != nil {
		a.cfg.Logger.Warn("could not sweep unfinished uploads; the next push tries again", "database", t.Database, "error", err)
	} else if n > 0 {
		a.cfg.Logger.Info("aborted unfinished uploads left by earlier attempts", "database", t.Database, "count", n)
	}
}

// putManifest writes the dump's manifest, last: a dump is complete (and
// restorable) only once it is there.
func (a *Activities) putManifest(ctx context.Context, st store.Store, t config.Task, d DumpResult, counts *dump.Counts) (string, error) {
	man := dump.Manifest{
		Format: dump.ManifestFormat, Key: d.Key, DBMS: t.DBMS, Database: t.Database,
		SourceHost: a.cfg.Host, CreatedAt: d.StartedAt, Size: d.Size, SHA256: d.SHA256,
		Compression: d.Compression, DumpFormat: d.Format, ServerVersion: d.ServerVersion, EnvsyncVersion: buildinfo.Version,
		Sanitised: d.Sanitised, Origin: d.Origin, Counts: counts,
	}
	if activity.IsActivity(ctx) {
		e := activity.GetInfo(ctx).WorkflowExecution
		man.Run = &dump.Run{WorkflowID: e.ID, RunID: e.RunID}
	}
	if len(d.Recipients) > 0 {
		man.Encrypted = &dump.Encrypted{Recipients: d.Recipients}
	}
	body, err := man.Marshal()
	if err != nil {
		return "", err
	}
	mkey := dump.ManifestKey(d.Key)
	if err := st.Put(ctx, mkey, bytesReader(body), int64(len(body))); err != nil {
		return "", fmt.Errorf("upload manifest %s: %w", mkey, err)
	}
	return mkey, nil
}

// UploadInput names a finished dump to upload.
type UploadInput struct {
	Task config.Task
	Dump DumpResult
}

// UploadResult says where the dump went.
type UploadResult struct {
	Key         string
	ManifestKey string
	Location    string
	Seconds     float64
}

// Upload puts a spooled dump into the store and then its manifest, so a
// dump is complete (and restorable) only once both are there. Re-running
// it after a failure uploads the same file under the same key.
func (a *Activities) Upload(ctx context.Context, in UploadInput) (UploadResult, error) {
	m := startPhase(ctx, "upload", in.Dump.Size)
	defer m.Stop()
	st, err := a.storeFor(ctx, in.Task, in.Dump.Size)
	if err != nil {
		return UploadResult{}, err
	}
	f, err := os.Open(in.Dump.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return UploadResult{}, permanent(ErrDumpFileMissing, fmt.Errorf("dump file %s is gone from this host (was the worker moved or the temp dir cleaned?); run the push again", in.Dump.Path))
	} else if err != nil {
		return UploadResult{}, err
	}
	defer f.Close()
	start := time.Now()
	d := in.Dump
	// The key comes from the task: a before_upload push uploads under
	// its sanitised_path.
	d.Key = dump.Key(in.Task.Path, in.Task.Database, d.StartedAt, d.Compression)
	m.track(nil, nil, d.Key)
	a.sweep(ctx, st, in.Task, start)
	if fp, ok := st.(store.FilePutter); ok {
		err = fp.PutFile(ctx, d.Key, d.Path, d.Size)
	} else {
		err = st.Put(ctx, d.Key, limitReads(ctx, m.Reader(f), a.cfg.UploadLimit), d.Size)
	}
	if err != nil {
		return UploadResult{}, storeError(fmt.Errorf("upload %s: %w", d.Key, err))
	}
	counts, err := readCounts(d.Path)
	if err != nil {
		return UploadResult{}, err
	}
	mkey, err := a.putManifest(ctx, st, in.Task, d, counts)
	if err != nil {
		return UploadResult{}, storeError(err)
	}
	return UploadResult{Key: d.Key, ManifestKey: mkey, Location: store.Describe(in.Task.StorageBackend, in.Task.URL, in.Task.Path),
		Seconds: time.Since(start).Seconds()}, nil
}
