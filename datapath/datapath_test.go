package datapath_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filippo.io/age"

	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/internal/testenv/tmpfs"
	"github.com/envsync/envsync/store"
	"github.com/envsync/envsync/store/filestore"
)

// rows is a fake engine: its database is size bytes of rows, half of them
// random (so compression cannot hide a lost byte), and restores keep what
// they read, by staging name.
type rows struct {
	size     int64
	mu       sync.Mutex
	restored map[string][]byte
}

func newRows(size int64) *rows { return &rows{size: size, restored: map[string][]byte{}} }

func (r *rows) data() []byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for i := 0; int64(b.Len()) < r.size; i++ {
		fmt.Fprintf(&b, "%d\tcustomer %d\t%x\n", i, i%97, rnd.Uint64())
	}
	return b.Bytes()[:r.size]
}

func (r *rows) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	_, err := io.Copy(w, bytes.NewReader(r.data()))
	return engine.DumpInfo{ServerVersion: "rows 1", Format: "rows"}, err
}

func (r *rows) Restore(ctx context.Context, in io.Reader, staging string, _ dump.Origin) ([]string, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restored[staging] = b
	return nil, nil
}

func (r *rows) Swap(context.Context, string, string) error { return nil }
func (r *rows) Drop(context.Context, string) error         { return nil }

// failing is a store that stops after it has taken some bytes of a Put:
// a network that breaks half way, or a store that refuses outright.
type failing struct {
	store.Store
	after  int64 // fail a Put once it has read this many bytes
	refuse bool
	puts   atomic.Int32
}

func (f *failing) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f.puts.Add(1)
	if f.refuse {
		return fmt.Errorf("%w: access denied", store.ErrRefused)
	}
	if _, err := io.CopyN(io.Discard, r, f.after); err != nil {
		return err
	}
	return errors.New("connection reset by peer")
}

// filePutter is a store that wants files (as rsync does) and records what
// it was sent.
type filePutter struct {
	store.Store
	files []string
	puts  atomic.Int32
}

func (f *filePutter) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f.puts.Add(1)
	return f.Store.Put(ctx, key, r, size)
}

func (f *filePutter) PutFile(ctx context.Context, key, path string, size int64) error {
	f.files = append(f.files, path)
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	return f.Store.Put(ctx, key, fh, size)
}

func fileStore(t *testing.T) store.Store {
	t.Helper()
	st, err := filestore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

const key = "pg/2026-11-25T233005Z-orders.zst"

// roundTrip restores what p stored under key in st and checks it is the
// engine's data, byte for byte.
func roundTrip(t *testing.T, eng *rows, st store.Store, p datapath.Pushed, ids ...age.Identity) {
	t.Helper()
	src := datapath.Source{Key: key, Size: p.Size, SHA256: p.SHA256, Compression: dump.Zstd, Identities: ids}
	if _, err := datapath.Restore(context.Background(), st, src, datapath.Target{Engine: eng, Staging: "orders_envsync_1"}, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !bytes.Equal(eng.restored["orders_envsync_1"], eng.data()) {
		t.Fatal("the restored copy differs from the dumped database")
	}
}

func TestPushStreamsToTheStoreAndRestores(t *testing.T) {
	for _, spool := range []bool{true, false} {
		t.Run(fmt.Sprintf("spool=%v", spool), func(t *testing.T) {
			eng, st := newRows(3<<20), fileStore(t)
			o := datapath.PushOptions{Key: key, Compression: dump.Zstd, Meter: datapath.NewMeter(0)}
			if spool {
				o.Spool = filepath.Join(t.TempDir(), "spool", "d.dump")
			}
			p, err := datapath.Push(context.Background(), eng, st, o)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Uploaded || p.UploadErr != nil || p.RawBytes != eng.size || p.Size >= eng.size {
				t.Fatalf("pushed %+v; want uploaded, %d raw bytes, compressed", p, eng.size)
			}
			if r := o.Meter.Now(); r.Bytes != eng.size || r.Stored != p.Size {
				t.Errorf("meter read %d bytes done, %d stored; want %d and %d", r.Bytes, r.Stored, eng.size, p.Size)
			}
			if spool {
				if got := fileSHA(t, o.Spool); got != p.SHA256 {
					t.Errorf("the spool holds sha256 %s, the store %s", got, p.SHA256)
				}
			}
			roundTrip(t, eng, st, p)
		})
	}
}

// A store that breaks half way fails a push without a spool (the retry
// dumps again); with one, the dump completes into the spool, which then
// uploads and restores.
func TestStoreFailingMidWay(t *testing.T) {
	eng := newRows(4 << 20)
	broken := &failing{Store: fileStore(t), after: 256 << 10}
	_, err := datapath.Push(context.Background(), eng, broken, datapath.PushOptions{Key: key, Compression: dump.None})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "spool: none") {
		t.Fatalf("push without a spool to a breaking store: %v", err)
	}

	spool := filepath.Join(t.TempDir(), "d.dump")
	p, err := datapath.Push(context.Background(), eng, broken, datapath.PushOptions{Key: key, Compression: dump.Zstd, Spool: spool})
	if err != nil {
		t.Fatalf("push with a spool to a breaking store: %v", err)
	}
	if p.Uploaded || p.UploadErr == nil || !strings.Contains(p.UploadErr.Error(), "connection reset") {
		t.Fatalf("pushed %+v; want the upload's failure reported and the dump kept", p)
	}
	good := fileStore(t)
	if err := datapath.UploadFile(context.Background(), good, key, spool, p.Size, 0, nil); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, eng, good, p)
}

// A store that breaks while the last megabyte goes up, gathered for the
// upload until the compressor closes (dump.Writer), fails the push as the
// upload's failure too, not as the dump's.
func TestStoreFailingAtTheEnd(t *testing.T) {
	_, err := datapath.Push(context.Background(), newRows(1<<20), &failing{Store: fileStore(t), after: 1 << 10},
		datapath.PushOptions{Key: key, Compression: dump.Zstd})
	if err == nil || !strings.HasPrefix(err.Error(), "upload ") || !strings.Contains(err.Error(), "connection reset") ||
		!strings.Contains(err.Error(), "spool: none") {
		t.Fatalf("push of a small dump to a store that breaks: %v; want the upload's failure", err)
	}
}

// A store that refuses for good says so (store.ErrRefused), so the caller
// does not retry a dump per attempt.
func TestStoreRefusing(t *testing.T) {
	_, err := datapath.Push(context.Background(), newRows(1<<20), &failing{Store: fileStore(t), refuse: true},
		datapath.PushOptions{Key: key, Compression: dump.Zstd})
	if !errors.Is(err, store.ErrRefused) {
		t.Fatalf("error %v; want it to wrap store.ErrRefused", err)
	}
}

// A store that wants files (rsync) is streamed nothing while there is a
// spool: the spool goes up whole, by UploadFile.
func TestStoreThatNeedsAFile(t *testing.T) {
	eng := newRows(2 << 20)
	fp := &filePutter{Store: fileStore(t)}
	spool := filepath.Join(t.TempDir(), "d.dump")
	p, err := datapath.Push(context.Background(), eng, fp, datapath.PushOptions{Key: key, Compression: dump.Zstd, Spool: spool})
	if err != nil {
		t.Fatal(err)
	}
	if p.Uploaded || p.UploadErr != nil || fp.puts.Load() != 0 {
		t.Fatalf("pushed %+v with %d streamed puts; want nothing streamed", p, fp.puts.Load())
	}
	if err := datapath.UploadFile(context.Background(), fp, key, spool, p.Size, 0, nil); err != nil {
		t.Fatal(err)
	}
	if len(fp.files) != 1 || fp.files[0] != spool || fp.puts.Load() != 0 {
		t.Errorf("files sent %v, streamed puts %d; want the spool sent as a file", fp.files, fp.puts.Load())
	}
	roundTrip(t, eng, fp, p)
}

// An encrypted dump holds only ciphertext; it restores with the identity
// and is refused as damaged without it.
func TestEncryptedDump(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	eng, st := newRows(2<<20), fileStore(t)
	p, err := datapath.Push(context.Background(), eng, st, datapath.PushOptions{Key: key, Compression: dump.Zstd, Recipients: []age.Recipient{id.Recipient()}})
	if err != nil {
		t.Fatal(err)
	}
	stored := readObject(t, st, key)
	if !bytes.HasPrefix(stored, []byte("age-encryption.org/v1")) || bytes.Contains(stored, []byte("customer 1\t")) {
		t.Fatal("the stored object is not age ciphertext")
	}
	roundTrip(t, eng, st, p, id)
	src := datapath.Source{Key: key, Size: p.Size, SHA256: p.SHA256, Compression: dump.Zstd}
	_, err = datapath.Restore(context.Background(), st, src, datapath.Target{Engine: eng, Staging: "x_envsync_2"}, nil)
	var d *datapath.DamagedError
	if !errors.As(err, &d) {
		t.Errorf("restore of ciphertext without the identity: %v; want it refused as not zstd data", err)
	}
}

// A damaged or truncated object is refused as damaged, naming its key,
// whether streamed into a restore or downloaded first.
func TestDamagedObject(t *testing.T) {
	eng, st := newRows(3<<20), fileStore(t)
	p, err := datapath.Push(context.Background(), eng, st, datapath.PushOptions{Key: key, Compression: dump.Zstd})
	if err != nil {
		t.Fatal(err)
	}
	good := readObject(t, st, key)
	src := datapath.Source{Key: key, Size: p.Size, SHA256: p.SHA256, Compression: dump.Zstd}
	for name, bad := range map[string][]byte{
		"flipped byte": flip(good, len(good)/2),
		"last byte":    flip(good, len(good)-1),
		"truncated":    good[:len(good)-100],
	} {
		t.Run(name, func(t *testing.T) {
			if err := st.Put(context.Background(), key, bytes.NewReader(bad), int64(len(bad))); err != nil {
				t.Fatal(err)
			}
			_, err := datapath.Restore(context.Background(), st, src, datapath.Target{Engine: eng, Staging: "x_envsync_3"}, nil)
			var d *datapath.DamagedError
			if !errors.As(err, &d) || !strings.Contains(err.Error(), key) {
				t.Errorf("streamed restore: %v; want a DamagedError naming %s", err, key)
			}
			_, err = datapath.Download(context.Background(), st, src, filepath.Join(t.TempDir(), "dl"), nil)
			if !errors.As(err, &d) || !strings.Contains(err.Error(), key) {
				t.Errorf("download: %v; want a DamagedError naming %s", err, key)
			}
		})
	}
}

// A download resumes from what an earlier attempt left, and restores.
func TestDownloadResumes(t *testing.T) {
	eng, st := newRows(3<<20), fileStore(t)
	p, err := datapath.Push(context.Background(), eng, st, datapath.PushOptions{Key: key, Compression: dump.None})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dl")
	if err := os.WriteFile(path, readObject(t, st, key)[:1<<20], 0o600); err != nil {
		t.Fatal(err)
	}
	src := datapath.Source{Key: key, Size: p.Size, SHA256: p.SHA256, Compression: dump.None}
	have, err := datapath.Download(context.Background(), st, src, path, nil)
	if err != nil || have != 1<<20 {
		t.Fatalf("download resumed at %d: %v; want at 1 MiB", have, err)
	}
	if _, err := datapath.RestoreFile(context.Background(), path, src, datapath.Target{Engine: eng, Staging: "x_envsync_4"}, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(eng.restored["x_envsync_4"], eng.data()) {
		t.Error("the resumed download restores to something else")
	}
}

// A temp disk that fills up is reported as such (a real tmpfs, as CI runs
// as root), and leaves no spool behind.
func TestFullDisk(t *testing.T) {
	disk := tmpfs.Mount(t, "1m")
	eng := newRows(8 << 20)
	spool := filepath.Join(disk, "d.dump")
	_, err := datapath.Push(context.Background(), eng, nil, datapath.PushOptions{Key: key, Compression: dump.None, Spool: spool})
	var ns *datapath.NoSpaceError
	if !errors.As(err, &ns) || ns.Dir != disk || !strings.Contains(err.Error(), "no space left on device in "+disk) {
		t.Fatalf("push into a full disk: %v", err)
	}
	if _, err := os.Stat(spool); !os.IsNotExist(err) {
		t.Error("the failed push left its spool")
	}
	// Known to be too big before it starts: refused at once.
	_, err = datapath.Push(context.Background(), eng, nil, datapath.PushOptions{Key: key, Compression: dump.None, Spool: spool, Expect: 64 << 20})
	if !errors.As(err, &ns) || ns.AtLeast || !strings.Contains(err.Error(), "needs about 64.0 MiB") {
		t.Errorf("push expected to need 64 MiB: %v", err)
	}

	st := fileStore(t)
	p, err := datapath.Push(context.Background(), eng, st, datapath.PushOptions{Key: key, Compression: dump.None})
	if err != nil {
		t.Fatal(err)
	}
	src := datapath.Source{Key: key, Size: p.Size, SHA256: p.SHA256, Compression: dump.None}
	if _, err := datapath.Download(context.Background(), st, src, filepath.Join(disk, "dl"), nil); !errors.As(err, &ns) {
		t.Errorf("download into a full disk: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x55
	return c
}

func readObject(t *testing.T, st store.Store, key string) []byte {
	t.Helper()
	r, err := st.Get(context.Background(), key, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// brokenDump writes some of its rows, then fails: a dump tool that dies.
type brokenDump struct{ *rows }

func (b brokenDump) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	if _, err := w.Write(b.data()[:3<<20]); err != nil {
		return engine.DumpInfo{}, err
	}
	return engine.DumpInfo{}, errors.New("pg_dump: server closed the connection")
}

// A dump that fails half way stores nothing under its key and leaves no
// spool, though what it wrote was still on its way to the compressor.
func TestDumpFailingMidWay(t *testing.T) {
	st := fileStore(t)
	spool := filepath.Join(t.TempDir(), "d.dump")
	for _, o := range []datapath.PushOptions{{Key: key, Compression: dump.Zstd}, {Key: key, Compression: dump.Zstd, Spool: spool}} {
		_, err := datapath.Push(context.Background(), brokenDump{newRows(8 << 20)}, st, o)
		if err == nil || !strings.Contains(err.Error(), "dump: pg_dump: server closed the connection") {
			t.Fatalf("push of a dump that fails (spool %q): %v; want the dump's error", o.Spool, err)
		}
		if objs, err := st.List(context.Background(), ""); err != nil || len(objs) != 0 {
			t.Errorf("the failed push left %v in the store (%v)", objs, err)
		}
		if _, err := os.Stat(spool); !os.IsNotExist(err) {
			t.Error("the failed push left its spool")
		}
	}
}
