package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
)

// DumpInput asks for a dump of Task's database into this host's temp dir.
type DumpInput struct {
	Task config.Task
}

// DumpResult describes the compressed dump waiting on the worker host.
type DumpResult struct {
	Path          string
	Size          int64
	SHA256        string
	ServerVersion string
	Format        string
	// Origin is the source database's own settings, for the manifest.
	Origin dump.Origin
	// StartedAt is when the dump began; it names the dump in the store.
	StartedAt time.Time
	Seconds   float64
	// Sanitised is set for a dump sanitised on this host before upload.
	Sanitised *dump.Sanitised
}

// Dump streams the engine's dump through gzip and sha256 into one temp
// file. Keeping that file lets a failed upload be retried without dumping
// the database again; memory stays flat whatever the database's size.
func (a *Activities) Dump(ctx context.Context, in DumpInput) (DumpResult, error) {
	return a.dumpTo(ctx, in.Task, "push", a.lastSize(ctx, in.Task))
}

// lastSize is the size of the newest complete dump of t's database in its
// store: the best guess of what this dump needs on the temp disk. 0 when
// there is none or the store cannot say; the dump then goes ahead.
func (a *Activities) lastSize(ctx context.Context, t config.Task) int64 {
	st, err := a.store(ctx, t)
	if err != nil {
		return 0
	}
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

// dumpTo dumps t's database into a temp file. expect is the expected
// compressed size (0: unknown), checked against the free space first.
func (a *Activities) dumpTo(ctx context.Context, t config.Task, kind string, expect int64) (DumpResult, error) {
	in := DumpInput{Task: t}
	eng, err := a.engine(in.Task)
	if err != nil {
		return DumpResult{}, err
	}
	path, err := a.tempPath(ctx, in.Task, kind)
	if err != nil {
		return DumpResult{}, err
	}
	dir := filepath.Dir(path)
	if err := checkSpace(dir, expect); err != nil {
		return DumpResult{}, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return DumpResult{}, fmt.Errorf("create dump file: %w", err)
	}
	defer f.Close()
	start := time.Now()
	m := startMeter(ctx)
	defer m.Stop()
	file := &errWriter{w: f}
	w := dump.NewWriter(m.Writer(file))
	info, err := eng.Dump(ctx, w)
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		os.Remove(path)
		if isNoSpace(file.err) || isNoSpace(err) {
			if expect > 0 {
				return DumpResult{}, noSpace(dir, expect, false)
			}
			return DumpResult{}, noSpace(dir, w.Size(), true)
		}
		return DumpResult{}, classify(fmt.Errorf("dump %s: %w", in.Task.Database, err))
	}
	return DumpResult{Path: path, Size: w.Size(), SHA256: w.SHA256(), ServerVersion: info.ServerVersion,
		Format: info.Format, Origin: info.Origin, StartedAt: start.UTC(), Seconds: time.Since(start).Seconds()}, nil
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

// Upload puts the dump into the store and then its manifest, so a dump is
// complete (and restorable) only once both are there. Re-running it after a
// failure uploads the same file under the same key.
func (a *Activities) Upload(ctx context.Context, in UploadInput) (UploadResult, error) {
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return UploadResult{}, err
	}
	f, err := os.Open(in.Dump.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return UploadResult{}, permanent("DumpFileMissing", fmt.Errorf("dump file %s is gone from this host (was the worker moved or the temp dir cleaned?); run the push again", in.Dump.Path))
	} else if err != nil {
		return UploadResult{}, err
	}
	defer f.Close()
	start := time.Now()
	key := dump.Key(in.Task.Path, in.Task.Database, in.Dump.StartedAt)
	m := startMeter(ctx)
	defer m.Stop()
	if fp, ok := st.(store.FilePutter); ok {
		err = fp.PutFile(ctx, key, in.Dump.Path, in.Dump.Size)
	} else {
		err = st.Put(ctx, key, m.Reader(f), in.Dump.Size)
	}
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", key, err)
	}
	man := dump.Manifest{
		Format: dump.ManifestFormat, Key: key, DBMS: in.Task.DBMS, Database: in.Task.Database,
		SourceHost: a.cfg.Host, CreatedAt: in.Dump.StartedAt, Size: in.Dump.Size, SHA256: in.Dump.SHA256,
		Compression: "gzip", DumpFormat: in.Dump.Format, ServerVersion: in.Dump.ServerVersion, EnvsyncVersion: Version,
		Sanitised: in.Dump.Sanitised, Origin: in.Dump.Origin,
	}
	body, err := man.Marshal()
	if err != nil {
		return UploadResult{}, err
	}
	mkey := dump.ManifestKey(key)
	if err := st.Put(ctx, mkey, bytesReader(body), int64(len(body))); err != nil {
		return UploadResult{}, fmt.Errorf("upload manifest %s: %w", mkey, err)
	}
	return UploadResult{Key: key, ManifestKey: mkey, Location: store.Describe(in.Task.StorageBackend, in.Task.URL, in.Task.Path),
		Seconds: time.Since(start).Seconds()}, nil
}
