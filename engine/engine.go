// Package engine defines what envsync needs from a database engine: dump to a
// stream, restore from a stream into a staging copy that nobody uses yet,
// swap that copy in, or drop it. The live database is never dropped or
// written to before the swap, so a failed pull leaves it as it was.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/sanitise"
)

// Target names a database on a server. Credentials are not here: each
// engine takes them from the worker host's own environment.
type Target struct {
	Database string
	// Host and Port; empty/0 mean the engine's default on this host.
	Host string
	Port int
}

// DumpInfo describes a finished dump for its manifest.
type DumpInfo struct {
	ServerVersion string
	Format        string // e.g. "pg_dump-custom"
	// Origin holds the source database's own settings (owner, character
	// set), which a dump of its contents does not carry.
	Origin dump.Origin
	// Counts are the rows per table the dump holds, seen by its own
	// snapshot, when the engine was asked to count (Spec.Count) and can.
	Counts *dump.Counts
}

// Engine is one database engine on one server.
type Engine interface {
	// Dump writes the database to w in the engine's dump format.
	Dump(ctx context.Context, w io.Writer) (DumpInfo, error)
	// Restore loads a dump from r into the new database staging, replacing
	// any leftover of that name from an earlier attempt. The live database
	// is not touched. Engines that create the database copy the live
	// one's settings, or, when there is no live database, origin's (the
	// source's, from the manifest). notes say what a person should know
	// about the result, such as a setting that could not be kept.
	Restore(ctx context.Context, r io.Reader, staging string, origin dump.Origin) (notes []string, err error)
	// Swap makes staging the live database in one step and removes the old
	// one. label is recorded on the new database so a retried Swap that
	// already happened is recognised and succeeds.
	Swap(ctx context.Context, staging, label string) error
	// Drop removes a staging database; a missing one is not an error.
	Drop(ctx context.Context, staging string) error
}

// StagingName is the name of the copy a pull restores into before the swap:
// the live name, a marker, and a short hash of the run, within maxLen bytes.
// It is a pure function so workflows can compute it deterministically.
func StagingName(live, runID string, maxLen int) string {
	sum := sha256.Sum256([]byte(runID))
	suffix := StagingMarker + hex.EncodeToString(sum[:4])
	if len(live)+len(suffix) > maxLen {
		live = live[:maxLen-len(suffix)]
	}
	return live + suffix
}

// StagingMarker appears in every staging name; engines refuse to drop a
// database without it, so a bug can never drop a live database.
const StagingMarker = "_envsync_"

// CheckStaging refuses a staging name without StagingMarker. Engines call
// it before they create, write to or drop anything by that name: only a
// bug can pass such a name, and it might be a live database's.
// engineName prefixes the error, as in the engine's other errors.
func CheckStaging(engineName, staging string) error {
	if !strings.Contains(staging, StagingMarker) {
		return Permanent(fmt.Errorf("%s: refusing to use %q as a staging name: it lacks %q, so it could be a live database; nothing was changed, and this is a bug in envsync to report", engineName, staging, StagingMarker))
	}
	return nil
}

// Sizer is implemented by engines that can say how big the database is
// before dumping it: the total of the dump's progress line.
type Sizer interface {
	Size(ctx context.Context) (int64, error)
}

// ParallelRestorer is implemented by engines that restore a dump file
// with several jobs at once (pg_restore -j), which needs the file, not a
// stream.
type ParallelRestorer interface {
	RestoreFile(ctx context.Context, path, staging string, origin dump.Origin, jobs int) (notes []string, err error)
}

// Preflighter is implemented by engines that decide per server whether a
// run belongs there at all (MongoDB pushes only from a primary). A non-empty
// reason skips the run, visibly, instead of failing it.
type Preflighter interface {
	Preflight(ctx context.Context, action string) (skip string, err error)
}

// Counter is implemented by engines that count what a dump holds (when
// Spec.Count asks Dump to) and what a restored copy holds, so a pull can
// refuse a copy that lost rows before it is swapped in.
type Counter interface {
	// Count returns the rows (documents) per table of the copy Restore
	// named staging, named as in the dump's DumpInfo.Counts.
	Count(ctx context.Context, staging string) (map[string]int64, error)
}

// LoadCounter is implemented by engines whose restore can count the rows
// the server took, table by table, as it loads them (PostgreSQL's replies
// to COPY): a pull then checks those against the dump's counts instead of
// reading the whole copy a second time.
type LoadCounter interface {
	// Loaded returns the rows per table of the last Restore, named as
	// Count names them; nil when this restore did not count them.
	Loaded() map[string]int64
}

// Prober is implemented by engines a restore drill can check: Probe runs
// query (one of the drill task's checks) in the copy Restore named
// staging, in a read-only transaction, and says whether it returned at
// least one row. No value leaves it.
type Prober interface {
	Probe(ctx context.Context, staging, query string) (bool, error)
}

// SanitiseReport says what sanitising did: rows (documents) changed or
// deleted per rule, and how many verify queries passed. No values.
type SanitiseReport struct {
	Rows     map[string]int64 `json:"rows"`
	Verified int              `json:"verified"`
}

// Sanitiser is implemented by engines that can apply sanitise rules to a
// staging copy before it is swapped in (or dumped again).
type Sanitiser interface {
	Sanitise(ctx context.Context, staging string, rules *sanitise.Rules, hashKey string) (SanitiseReport, error)
}

// PlanRestorer is implemented by engines that sanitise a dump as it is
// restored: each row passes through the plan (transformed, filtered,
// scanned) on its way to the server, so no original value of a
// transformed column is ever written there. What the plan cannot do in the
// stream (free SQL conditions, sql:, verify queries) is the Sanitiser's,
// after the restore, on Rules.Residual.
type PlanRestorer interface {
	RestorePlan(ctx context.Context, r io.Reader, staging string, origin dump.Origin, plan *sanitise.Plan) (notes []string, err error)
}

// PlanDumper is implemented by engines that sanitise a dump as they take
// it (sanitise: before_upload): the rows pass through the plan on their
// way to w, so only the sanitised dump leaves the host.
type PlanDumper interface {
	DumpPlan(ctx context.Context, w io.Writer, plan *sanitise.Plan) (DumpInfo, error)
}

// Surveyor is implemented by engines that can list what a live database
// holds (tables and columns, collections and field paths) and read up to
// rows values of each, for `envsync sanitise init` and a push's check of
// the rule sets of the pulls it feeds (rows 0: names only). The values
// never leave the worker: sanitise.Suggest turns them into verdicts there.
type Surveyor interface {
	Survey(ctx context.Context, rows int) ([]sanitise.Sample, error)
}

// Snapshotter is implemented by engines whose servers keep snapshots of
// their own in a repository: the native store the engine registers
// (Info.Native). No bytes pass through envsync; the workflows drive it
// through the same Dump, Resolve and Restore steps as any other store.
type Snapshotter interface {
	// TakeSnapshot snapshots the database into repository repo (registered
	// at location first when it is new), waits until the snapshot is
	// complete, reporting its state to progress, and keeps only the
	// newest keep snapshots of the database (keep 0: the engine's
	// default).
	TakeSnapshot(ctx context.Context, repo, location string, keep int, progress func(state string)) (SnapshotInfo, error)
	// CompleteSnapshots lists the database's complete snapshots in repo.
	CompleteSnapshots(ctx context.Context, repo string) ([]SnapshotInfo, error)
	// RestoreNamedSnapshot restores snapshot name into staging, which
	// Swap then makes live.
	RestoreNamedSnapshot(ctx context.Context, repo, name, staging string) error
}

// ErrNoSnapshot is wrapped by RestoreNamedSnapshot's error when the
// snapshot is not (or no longer) in the repository.
var ErrNoSnapshot = errors.New("no such snapshot")

// SnapshotInfo describes one snapshot in a native store.
type SnapshotInfo struct {
	Name string
	Time time.Time
}
