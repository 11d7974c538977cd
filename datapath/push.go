package datapath

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/store"
)

// Dumper is the part of an engine a push needs.
type Dumper interface {
	Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error)
}

// PushOptions say where and how a dump goes.
type PushOptions struct {
	// Key is the dump's data key in the store. Required with a store.
	Key string
	// Compression (dump.Zstd, dump.Gzip, dump.None) at Level (0: the
	// default); Recipients encrypt the compressed stream with age.
	Compression string
	Level       int
	Recipients  []age.Recipient
	// Spool, when set, is a file the compressed stream is also written to,
	// so a failed upload is retried from it (UploadFile) instead of
	// dumping again. Push removes it when it fails; otherwise it is the
	// caller's.
	Spool string
	// Expect is about how many bytes the stored dump will be (the last
	// dump's size), for the free-space check of the spool; 0: unknown.
	Expect int64
	// UploadLimit caps the upload, in bytes a second (0: none).
	UploadLimit int64
	// Priority is what the compressor runs at: the dump tool's, so the
	// dump yields to production's queries (engine.Priority.Hold). It holds
	// for zstd where it encodes on the writer's goroutine: libzstd always
	// (a cgo build), Go's encoder on two cores or fewer (dump/zstd.go);
	// above that Go's own goroutines are not lowered.
	Priority engine.Priority
	Meter    *Meter
}

// Pushed describes a finished dump: what the manifest needs.
type Pushed struct {
	Info engine.DumpInfo
	// Size and SHA256 are of the bytes stored; RawBytes is what the
	// database tool wrote, before compression.
	Size     int64
	SHA256   string
	RawBytes int64
	// Uploaded says the store holds the whole stream under the key.
	Uploaded bool
	// UploadErr says why the stream did not reach the store, when the
	// spool holds it complete (the caller uploads it with UploadFile).
	UploadErr error
}

// Push dumps eng through compression, encryption and sha256 to st (nil:
// only to the spool) while the database is still being read, and to the
// spool file when o.Spool is set. Memory stays flat whatever the size.
//
// Without a spool, a failed upload fails the push (wrapping the store's
// error): the retry dumps again. With one, it is reported in UploadErr
// and the push completes into the spool. A store that sends files better
// than streams (store.FilePutter: rsync resumes an interrupted file) is
// sent nothing while there is a spool: the caller uploads that with
// UploadFile once the dump is complete.
func Push(ctx context.Context, eng Dumper, st store.Store, o PushOptions) (Pushed, error) {
	if _, ok := st.(store.FilePutter); ok && o.Spool != "" {
		st = nil
	}
	m := meterOrNew(o.Meter)
	sink := &tee{}
	if o.Spool != "" {
		f, err := openSpool(o.Spool, o.Expect)
		if err != nil {
			return Pushed{}, err
		}
		defer f.Close()
		sink.spool = &errWriter{w: f}
		sink.file = f
	}
	up := startUpload(ctx, st, o.Key, o.UploadLimit, sink)
	w, err := dump.NewWriter(sink, cmp.Or(o.Compression, dump.Zstd), o.Level, o.Recipients...)
	if err != nil {
		up.abort(err)
		return Pushed{}, o.failed(err)
	}
	m.Track(w.In, sink.stored.Load, o.Key)
	// The dump is compressed on a goroutine of its own, not on the one
	// reading the dump tool: that one also counts the rows, and with the
	// compressor on it too it was the push's slowest stage, a core to
	// itself while pg_dump waited. It runs at the dump tool's priority:
	// above it, it took the CPU of the tool it waits for.
	bw, wait := engine.BehindAt(w, o.Priority)
	info, derr := eng.Dump(ctx, bw)
	var uploadFailed bool
	if derr != nil {
		// Did the upload fail first (and stop the dump), or the dump?
		// Asked now: the writes below, into a pipe closed with the
		// dump's error, fail too. Then the upload is stopped, so the
		// last buffers on their way to the compressor fail fast instead
		// of going to a store that will not keep them.
		uploadFailed = sink.upFailed.Load()
		up.abort(derr)
		_ = wait()
	} else {
		// The last buffers reach the compressor (and the upload)
		// before anything is judged.
		derr = wait()
		uploadFailed = sink.upFailed.Load()
	}
	// Close always: it frees the encoder's memory (libzstd's is C memory,
	// which no garbage collector frees), and Go's encoder, in a build
	// without cgo, may still have goroutines writing into the spool and
	// the pipe. Its last writes, a megabyte gathered for the upload
	// (dump.Writer), may be the ones the upload refuses: asked again once
	// they are out.
	if cerr := w.Close(); derr == nil {
		derr = cerr
		uploadFailed = sink.upFailed.Load()
	}
	uerr := cmp.Or(up.wait(), sink.upErr)
	if derr == nil && sink.file != nil && (st == nil || uerr != nil) {
		// The spooled copy is handed on: make it survive a crash of the
		// host. One that is deleted because the stream reached the store
		// needs no trip to the disk.
		derr = sink.file.Sync()
	}
	if err := o.check(sink, uploadFailed, uerr, derr, w.Size()); err != nil {
		return Pushed{}, o.failed(err)
	}
	p := Pushed{Info: info, Size: w.Size(), SHA256: w.SHA256(), RawBytes: w.In(), Uploaded: st != nil && uerr == nil}
	if st != nil && uerr != nil {
		p.UploadErr = fmt.Errorf("upload %s: %w", o.Key, uerr)
	}
	return p, nil
}

// check turns what went wrong in a push into its error, the cause first:
// a full disk, a spool that could not be written, the upload that stopped
// the dump (without a spool), the dump itself.
func (o PushOptions) check(sink *tee, uploadFailed bool, uerr, derr error, written int64) error {
	spool := sink.spool != nil
	switch {
	case spool && (IsNoSpace(sink.spool.err) || IsNoSpace(derr)):
		if o.Expect > 0 {
			return &NoSpaceError{Dir: filepath.Dir(o.Spool), Need: o.Expect}
		}
		return &NoSpaceError{Dir: filepath.Dir(o.Spool), Need: written, AtLeast: true}
	case spool && sink.spool.err != nil:
		return fmt.Errorf("write the spooled copy %s: %w", o.Spool, sink.spool.err)
	case !spool && (uploadFailed || (derr == nil && uerr != nil)):
		// The dump stopped because the upload did: the upload's reason
		// is the one that matters, and the retry dumps again.
		return fmt.Errorf("upload %s: %w (spool: none, so the retry dumps again)", o.Key, uerr)
	case derr != nil:
		return fmt.Errorf("dump: %w", derr)
	}
	return nil
}

// failed removes the spool of a push that failed.
func (o PushOptions) failed(err error) error {
	if o.Spool != "" {
		os.Remove(o.Spool)
	}
	return err
}

// openSpool creates the spool file once its directory has room for
// expect bytes.
func openSpool(path string, expect int64) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create temp directory %s: %w", filepath.Dir(path), err)
	}
	if err := CheckSpace(filepath.Dir(path), expect); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create dump file: %w", err)
	}
	return f, nil
}

// tee sends the compressed stream to the spool file and the upload. A
// failed spool write fails the dump (the disk is full); a failed upload
// does not while there is a spool to retry from.
type tee struct {
	spool *errWriter // nil: no spool
	file  *os.File
	up    io.Writer // nil: no streamed upload
	upErr error     // read once the writes are done
	// upFailed is set with upErr, for a look while the compressor may
	// still be writing.
	upFailed atomic.Bool
	stored   atomic.Int64
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
			t.upFailed.Store(true)
			if t.spool == nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// upload is the store's Put reading the stream through a pipe.
type upload struct {
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error
}

// startUpload starts st's Put of key, fed through sink; with no store,
// nothing.
func startUpload(ctx context.Context, st store.Store, key string, limit int64, sink *tee) *upload {
	if st == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	sink.up = pw
	u := &upload{pw: pw, cancel: cancel, done: make(chan error, 1)}
	go func() {
		// Put reads to the end of the stream (the store contract), so
		// a nil error means the whole dump is stored.
		err := st.Put(ctx, key, LimitReads(ctx, pr, limit), -1)
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		u.done <- err
	}()
	return u
}

// abort stops the upload with err.
func (u *upload) abort(err error) {
	if u == nil {
		return
	}
	u.cancel()
	u.pw.CloseWithError(err)
}

// wait ends the stream and returns the Put's error.
func (u *upload) wait() error {
	if u == nil {
		return nil
	}
	u.pw.Close() // after CloseWithError this changes nothing
	err := <-u.done
	u.cancel()
	return err
}

// UploadFile puts a spooled dump of size bytes into st under key, at most
// limit bytes a second. Stores that send files better than streams
// (rsync, which resumes) get the file.
func UploadFile(ctx context.Context, st store.Store, key, path string, size, limit int64, m *Meter) error {
	if fp, ok := st.(store.FilePutter); ok {
		return fp.PutFile(ctx, key, path, size)
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return &MissingError{Err: fmt.Errorf("dump file %s is gone from this host (was the worker moved or the temp dir cleaned?); run the push again", path)}
	} else if err != nil {
		return err
	}
	defer f.Close()
	return st.Put(ctx, key, LimitReads(ctx, meterOrNew(m).Reader(f), limit), size)
}

// PutManifest writes a dump's manifest, last: a dump is complete (and
// restorable) only once it is there.
func PutManifest(ctx context.Context, st store.Store, man dump.Manifest) (string, error) {
	body, err := man.Marshal()
	if err != nil {
		return "", err
	}
	key := dump.ManifestKey(man.Key)
	if err := st.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return "", fmt.Errorf("upload manifest %s: %w", key, err)
	}
	return key, nil
}

// LastSize is the size of the newest complete dump of database under
// prefix in st: the best guess of what the next one needs on the temp disk
// and in the store. 0 when there is none or the store cannot say.
func LastSize(ctx context.Context, st store.Store, prefix, database string) int64 {
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return 0
	}
	keys := make([]string, len(objs))
	sizes := map[string]int64{}
	for i, o := range objs {
		keys[i] = o.Key
		sizes[o.Key] = o.Size
	}
	c, err := dump.Choose(dump.Candidates(prefix, database, keys), time.Time{})
	if err != nil {
		return 0
	}
	return sizes[c.Key]
}

// Sweep aborts unfinished uploads in st (S3's multipart uploads whose abort
// failed): inFlight, the one an earlier attempt was writing, and any of
// database under prefix older than a day, which no step still runs (a
// dump's time limit is a day). Uploads of other runs in progress are left
// alone. Stores without such debris have nothing to sweep.
func Sweep(ctx context.Context, st store.Store, prefix, database, inFlight string, now time.Time) (int, error) {
	sw, ok := st.(store.Sweeper)
	if !ok {
		return 0, nil
	}
	return sw.Sweep(ctx, prefix, func(key string, started time.Time) bool {
		if key == inFlight {
			return true
		}
		db, _, ok := dump.Parse(prefix, key)
		return ok && db == database && started.Before(now.Add(-24*time.Hour))
	})
}
