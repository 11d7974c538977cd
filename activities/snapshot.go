package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/elastic"
)

// The es_snapshot store: the cluster's own snapshot repository holds the
// data, so these steps talk to Elasticsearch instead of moving bytes.

// SnapshotResult describes a snapshot taken by a push.
type SnapshotResult struct {
	Name    string
	Indices int
	Seconds float64
}

func (a *Activities) elastic(t config.Task) (*elastic.Engine, error) {
	eng, err := a.engine(t)
	if err != nil {
		return nil, err
	}
	es, ok := eng.(*elastic.Engine)
	if !ok {
		return nil, permanent("InvalidTask", fmt.Errorf("storagebackend es_snapshot needs dbms elasticsearch, not %s", t.DBMS))
	}
	return es, nil
}

// DefaultKeep is how many snapshots of a database es_snapshot keeps.
const DefaultKeep = 7

// SnapshotPush registers or verifies the repository (url; path: an fs
// location to register it at), snapshots the task's indices, waits for
// SUCCESS (heartbeating the state) and prunes to the newest keep.
func (a *Activities) SnapshotPush(ctx context.Context, in DumpInput) (SnapshotResult, error) {
	defer startPhase(ctx, "snapshot", 0).Stop()
	es, err := a.elastic(in.Task)
	if err != nil {
		return SnapshotResult{}, err
	}
	start := time.Now()
	location := ""
	if in.Task.Path != "" {
		location = "/" + in.Task.Path
	}
	if err := es.EnsureRepository(ctx, in.Task.URL, location); err != nil {
		return SnapshotResult{}, classify(err)
	}
	keep := in.Task.Keep
	if keep == 0 {
		keep = DefaultKeep
	}
	s, err := es.CreateSnapshot(ctx, in.Task.URL, start, keep, func(state string) {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, state)
		}
	})
	if err != nil {
		return SnapshotResult{}, classify(err)
	}
	return SnapshotResult{Name: s.Name, Indices: len(s.Indices), Seconds: time.Since(start).Seconds()}, nil
}

// SnapshotResolve picks the newest SUCCESS snapshot of the database, or
// the one taken in the -t minute.
func (a *Activities) SnapshotResolve(ctx context.Context, in ResolveInput) (ResolveResult, error) {
	es, err := a.elastic(in.Task)
	if err != nil {
		return ResolveResult{}, err
	}
	all, err := es.Snapshots(ctx, in.Task.URL)
	if err != nil {
		return ResolveResult{}, err
	}
	var cands []dump.Candidate
	for _, s := range all {
		if s.State == "SUCCESS" && (in.Key == "" || in.Key == s.Name) {
			cands = append(cands, dump.Candidate{Key: s.Name, Time: s.Time})
		}
	}
	c, err := dump.Choose(cands, in.Minute)
	if err != nil {
		return ResolveResult{}, permanent("NoDump", fmt.Errorf("SUCCESS snapshots of %s in repository %s: %w", in.Task.DumpName(), in.Task.URL, err))
	}
	return ResolveResult{Key: c.Key, CreatedAt: c.Time}, nil
}

// SnapshotRestore restores the snapshot named in.Path under the run's new
// index names and checks it; Swap then makes it live.
func (a *Activities) SnapshotRestore(ctx context.Context, in RestoreInput) (RestoreResult, error) {
	defer startPhase(ctx, "restore", 0).Stop() // the cluster restores; this only waits
	es, err := a.elastic(in.Task)
	if err != nil {
		return RestoreResult{}, err
	}
	start := time.Now()
	all, err := es.Snapshots(ctx, in.Task.URL)
	if err != nil {
		return RestoreResult{}, err
	}
	for _, s := range all {
		if s.Name == in.Path {
			if err := es.RestoreSnapshot(ctx, in.Task.URL, s, in.Staging); err != nil {
				return RestoreResult{}, classify(err)
			}
			return RestoreResult{Seconds: time.Since(start).Seconds()}, nil
		}
	}
	return RestoreResult{}, permanent("NoDump", fmt.Errorf("snapshot %s is no longer in repository %s", in.Path, in.Task.URL))
}
