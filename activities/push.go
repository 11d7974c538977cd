package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/buildinfo"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/store"
)

// DumpInput asks for a dump of Task's database, to its store. A task with
// sanitise: before_upload is dumped through its rule set, to its
// sanitised_path: only the sanitised dump leaves the host.
type DumpInput struct {
	Task config.Task
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
	// Sanitised is set for a dump sanitised as it was taken (before_upload).
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
	var plan *sanitise.Plan
	if t.Sanitise == config.SanitiseBeforeUpload {
		var err error
		if plan, err = a.dumpPlan(t); err != nil {
			return DumpResult{}, err
		}
		t.Path = t.SanitisedPath
	}
	if activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1 {
		if res, ok := a.earlierDump(ctx, t); ok {
			return res, nil
		}
	}
	return a.dumpTo(ctx, t, plan)
}

// dumpPlan is the plan a before_upload push dumps through.
func (a *Activities) dumpPlan(t config.Task) (*sanitise.Plan, error) {
	eng, err := a.engine(t)
	if err != nil {
		return nil, err
	}
	if _, ok := eng.(engine.PlanDumper); !ok {
		return nil, permanent(ErrInvalidTask, fmt.Errorf("dbms %s cannot sanitise a dump as it takes it; sanitise it on the pull", t.DBMS))
	}
	rules, err := sanitise.LoadChecked(t.SanitiseRules, t.SanitiseSHA256)
	if err != nil {
		return nil, permanent(ErrSanitiseFailed, err)
	}
	plan, err := sanitise.NewPlan(rules, os.Getenv("ENVSYNC_HASH_KEY"), time.Now())
	if err != nil {
		return nil, permanent(ErrSanitiseFailed, fmt.Errorf("rule set %s: %w", rules.Path, err))
	}
	return plan, nil
}

// planDumper takes a dump through a sanitise plan.
type planDumper struct {
	eng  engine.PlanDumper
	plan *sanitise.Plan
}

func (p planDumper) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	return p.eng.DumpPlan(ctx, w, p.plan)
}

// sanitised records what plan did to a dump: in its result and manifest,
// and in its counts, less the rows its filters left out.
func sanitised(plan *sanitise.Plan, res *DumpResult, counts *dump.Counts) {
	rep := plan.Report()
	res.Sanitised = &dump.Sanitised{RulesSHA256: rep.RulesSHA256, Verified: true, Tables: rep.Tables}
	if counts == nil {
		return
	}
	for t, r := range rep.Tables {
		if _, ok := counts.Tables[t]; ok {
			counts.Tables[t] -= r.Filtered
		}
	}
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
		m, err := datapath.ReadManifest(ctx, st, cands[i].Key)
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

// dumpTo dumps t's database through the data path (and plan, when there
// is one), streaming it to the store and writing the manifest; the spool
// file is kept unless the task says spool: none, and handed on to Upload
// when the stream did not reach the store.
func (a *Activities) dumpTo(ctx context.Context, t config.Task, plan *sanitise.Plan) (DumpResult, error) {
	m := startPhase(ctx, "dump", 0) // heartbeats from the start: sizing and listing can be slow
	defer m.Stop()
	eng, err := a.engine(t)
	if err != nil {
		return DumpResult{}, err
	}
	var dumper datapath.Dumper = eng
	if plan != nil {
		dumper = planDumper{eng.(engine.PlanDumper), plan}
	}
	st, expect, err := a.uploadStore(ctx, t, 0)
	if err != nil {
		return DumpResult{}, err
	}
	if sz, ok := eng.(engine.Sizer); ok {
		if total, err := sz.Size(ctx); err == nil { // only for the progress line
			m.SetTotal(total)
		}
	}
	start := time.Now()
	comp := compression(t)
	res := DumpResult{Key: dump.Key(t.Path, t.Database, start, comp), Compression: comp, StartedAt: start.UTC(),
		Location: store.Describe(t.StorageBackend, t.URL, t.Path)}
	o := datapath.PushOptions{Key: res.Key, Compression: comp, Level: t.CompressionLevel, Expect: expect,
		UploadLimit: a.cfg.UploadLimit, Meter: m.Meter, Priority: a.cfg.DumpPriority}
	if o.Recipients, err = ageRecipients(t); err != nil {
		return DumpResult{}, err
	}
	for _, r := range t.EncryptTo {
		res.Recipients = append(res.Recipients, dump.Fingerprint(r))
	}
	if t.Spool != config.SpoolNone {
		if o.Spool, err = a.tempPath(ctx, t, "push"); err != nil {
			return DumpResult{}, err
		}
	}
	a.sweep(ctx, st, t, start)
	p, err := datapath.Push(ctx, dumper, st, o)
	if err != nil {
		return DumpResult{}, translate(err)
	}
	res.Size, res.SHA256, res.RawBytes = p.Size, p.SHA256, p.RawBytes
	res.ServerVersion, res.Format, res.Origin = p.Info.ServerVersion, p.Info.Format, p.Info.Origin
	if plan != nil {
		sanitised(plan, &res, p.Info.Counts)
	}
	res.Counted = tally(p.Info.Counts)
	res.Seconds = time.Since(start).Seconds()
	return a.finishDump(ctx, st, t, res, p, o.Spool)
}

// finishDump writes the manifest of a dump that reached the store, or
// hands the spooled copy, and its counts, on to the next step.
func (a *Activities) finishDump(ctx context.Context, st store.Store, t config.Task, res DumpResult, p datapath.Pushed, spool string) (DumpResult, error) {
	uerr := p.UploadErr
	if p.Uploaded {
		if res.ManifestKey, uerr = datapath.PutManifest(ctx, st, a.manifest(ctx, t, res, p.Info.Counts)); uerr == nil {
			res.Uploaded = true
			if spool != "" {
				os.Remove(spool) // the stream reached the store
			}
			return res, nil
		}
	}
	if spool == "" {
		return DumpResult{}, translate(fmt.Errorf("%w (spool: none, so the retry dumps again)", uerr))
	}
	if uerr != nil {
		res.UploadError = failure.Text(uerr)
	}
	if err := writeCounts(spool, p.Info.Counts); err != nil {
		os.Remove(spool)
		return DumpResult{}, err
	}
	res.Path = spool
	return res, nil
}

// uploadStore opens the task's store for a dump of about expect bytes (0:
// as big as the last one), and returns the size it expects.
func (a *Activities) uploadStore(ctx context.Context, t config.Task, expect int64) (store.Store, int64, error) {
	// One store for the step: one that did not answer the listing is
	// not asked again (see store.Sizer).
	st, err := a.store(ctx, t)
	if err != nil {
		return nil, 0, err
	}
	if expect == 0 {
		expect = datapath.LastSize(ctx, st, t.Path, t.Database)
	}
	if sz, ok := st.(store.Sizer); ok {
		st = sz.ForSize(expect)
	}
	return st, expect, nil
}

// translate turns a data path error into the step's error: what retrying
// cannot fix is non-retryable, with its type; the rest is left to the
// retry policy.
func translate(err error) error {
	var noSpace *datapath.NoSpaceError
	var damaged *datapath.DamagedError
	var missing *datapath.MissingError
	var noManifest *datapath.NoManifestError
	var badManifest *datapath.BadManifestError
	var planErr *sanitise.PlanError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &noSpace):
		return permanent(ErrNoSpace, err)
	case errors.As(err, &damaged):
		return permanent(ErrCorruptDump, err)
	case errors.As(err, &missing):
		return permanent(ErrDumpFileMissing, err)
	case errors.As(err, &noManifest):
		return permanent(ErrNoDump, err)
	case errors.As(err, &planErr):
		return permanent(ErrSanitiseFailed, err)
	case errors.As(err, &badManifest):
		return permanent(ErrBadManifest, err)
	case errors.Is(err, store.ErrRefused):
		// No such bucket, access denied: not worth a dump per attempt.
		return permanent(ErrStoreRefused, err)
	}
	return classify(err)
}

// sweep aborts unfinished uploads left by earlier attempts: the one the
// last attempt of this step was writing (named in its last heartbeat), and
// any of this database older than a day. A failure is only logged: the
// next push tries again.
func (a *Activities) sweep(ctx context.Context, st store.Store, t config.Task, now time.Time) {
	var last Progress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &last)
	}
	n, err := datapath.Sweep(ctx, st, t.Path, t.Database, last.Key, now)
	if err != nil {
		a.cfg.Logger.Warn("could not sweep unfinished uploads; the next push tries again", "database", t.Database, "error", err)
	} else if n > 0 {
		a.cfg.Logger.Info("aborted unfinished uploads left by earlier attempts", "database", t.Database, "count", n)
	}
}

// manifest describes a dump for the store: what it is, where it came from,
// which run wrote it.
func (a *Activities) manifest(ctx context.Context, t config.Task, d DumpResult, counts *dump.Counts) dump.Manifest {
	man := dump.Manifest{
		Format: dump.ManifestFormat, Key: d.Key, DBMS: t.DBMS, Database: t.Database,
		SourceHost: a.cfg.Host, CreatedAt: d.StartedAt, Size: d.Size, SHA256: d.SHA256,
		Compression: d.Compression, DumpFormat: d.Format, ServerVersion: d.ServerVersion, EnvsyncVersion: buildinfo.Version,
		Sanitised: d.Sanitised, Origin: d.Origin, Counts: counts,
	}
	if len(d.Recipients) > 0 {
		man.Encrypted = &dump.Encrypted{Recipients: d.Recipients}
	}
	if activity.IsActivity(ctx) {
		e := activity.GetInfo(ctx).WorkflowExecution
		man.Run = &dump.Run{WorkflowID: e.ID, RunID: e.RunID}
	}
	return man
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
	start := time.Now()
	d := in.Dump
	// The key comes from the task: a before_upload push uploads under
	// its sanitised_path.
	d.Key = dump.Key(in.Task.Path, in.Task.Database, d.StartedAt, d.Compression)
	m.Track(nil, nil, d.Key)
	a.sweep(ctx, st, in.Task, start)
	if err := datapath.UploadFile(ctx, st, d.Key, d.Path, d.Size, a.cfg.UploadLimit, m.Meter); err != nil {
		return UploadResult{}, translate(fmt.Errorf("upload %s: %w", d.Key, err))
	}
	counts, err := readCounts(d.Path)
	if err != nil {
		return UploadResult{}, err
	}
	mkey, err := datapath.PutManifest(ctx, st, a.manifest(ctx, in.Task, d, counts))
	if err != nil {
		return UploadResult{}, translate(err)
	}
	return UploadResult{Key: d.Key, ManifestKey: mkey, Location: store.Describe(in.Task.StorageBackend, in.Task.URL, in.Task.Path),
		Seconds: time.Since(start).Seconds()}, nil
}
