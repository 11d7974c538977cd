package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
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

// readManifest reads the manifest of the dump key in st, as a step's
// error when it cannot.
func (a *Activities) readManifest(ctx context.Context, st store.Store, key string) (dump.Manifest, error) {
	m, err := datapath.ReadManifest(ctx, st, key)
	return m, translate(err)
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
	path := a.tempName(ctx, in.Task, "pull")
	start := time.Now()
	src := datapath.Source{Key: in.Dump.Key, Size: in.Dump.Size, SHA256: in.Dump.SHA256, Compression: in.Dump.Compression}
	have, err := datapath.Download(ctx, st, src, path, m.Meter)
	if err != nil {
		return DownloadResult{}, translate(err)
	}
	return DownloadResult{Path: path, Seconds: time.Since(start).Seconds(), ResumedAt: have}, nil
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

// RestoreResult reports the restore's duration, what a person should
// know about the new database (a setting of the source it could not keep),
// and what sanitising in the stream did, table by table (counts only).
type RestoreResult struct {
	Seconds   float64
	Notes     []string         `json:",omitempty"`
	Sanitised *sanitise.Report `json:",omitempty"`
}

// Filtered is the rows per table the rule set's filters kept out of the
// staging copy: what a count of the copy lacks by design.
func (r RestoreResult) Filtered() map[string]int64 {
	if r.Sanitised == nil {
		return nil
	}
	out := map[string]int64{}
	for t, rep := range r.Sanitised.Tables {
		if rep.Filtered > 0 {
			out[t] = rep.Filtered
		}
	}
	return out
}

// Restore loads the dump into the staging database; the live database is
// not touched. Streaming from the store, download, verification,
// decompression and restore run at once (datapath.Restore); a downloaded
// copy is restored from the file, in parallel when the task asks. A dump
// that does not match its manifest is reported as damaged, naming its
// key; the workflow then drops the staging copy.
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
	// An earlier attempt's loaded counts describe a copy this attempt
	// drops and makes again.
	if err := os.Remove(countsFile(a.tempName(ctx, in.Task, loadedKind))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return RestoreResult{}, err
	}
	start := time.Now()
	plan, err := restorePlan(in.Task, eng)
	if err != nil {
		return RestoreResult{}, err
	}
	src := datapath.Source{Key: in.Key, Size: in.Size, SHA256: in.SHA256, Compression: in.Compression, Identities: a.decryptFor(in)}
	to := datapath.Target{Engine: eng, Staging: in.Staging, Origin: in.Origin, Plan: plan}
	var notes []string
	switch {
	case in.Path != "" && in.Jobs > 1:
		if _, ok := eng.(engine.ParallelRestorer); !ok {
			return RestoreResult{}, permanent(ErrInvalidTask, fmt.Errorf("dbms %s cannot restore in parallel; remove restore_jobs", in.Task.DBMS))
		}
		notes, err = datapath.RestoreParallel(ctx, in.Path, a.tempName(ctx, in.Task, "pull-archive"), in.Jobs, src, to, m.Meter)
	case in.Path != "":
		notes, err = datapath.RestoreFile(ctx, in.Path, src, to, m.Meter)
	default:
		var st store.Store
		if st, err = a.store(ctx, in.Task); err != nil {
			return RestoreResult{}, err
		}
		notes, err = datapath.Restore(ctx, st, src, to, m.Meter)
	}
	if err != nil {
		return RestoreResult{}, translate(err)
	}
	res := RestoreResult{Seconds: time.Since(start).Seconds(), Notes: notes}
	if lc, ok := eng.(engine.LoadCounter); ok && lc.Loaded() != nil && in.Task.Verifies() {
		// For Verify, which runs on this host next: kept on disk here, as
		// a spooled dump's counts are, never in the workflow's history.
		c := &dump.Counts{Of: "table", Exact: true, Tables: lc.Loaded()}
		p, err := a.tempPath(ctx, in.Task, loadedKind)
		if err == nil {
			err = writeCounts(p, c)
		}
		if err != nil {
			activity.GetLogger(ctx).Warn("the rows the server loaded were not kept; Verify counts the copy instead", "error", err)
		}
	}
	if plan != nil {
		rep := plan.Report()
		res.Sanitised = &rep
	}
	return res, nil
}

// decryptFor is the identities to decrypt in's dump with: none for a dump
// that is not encrypted.
func (a *Activities) decryptFor(in RestoreInput) []age.Identity {
	if !in.Encrypted {
		return nil
	}
	return a.cfg.AgeIdentities
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
