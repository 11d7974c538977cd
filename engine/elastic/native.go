package elastic

import (
	"context"
	"fmt"
	"time"

	"github.com/envsync/envsync/engine"
)

// The es_snapshot store: the cluster's own snapshot repository holds the
// data. The engine implements engine.Snapshotter on top of the snapshot
// calls in snapshot.go.

// DefaultKeep is how many snapshots of a database es_snapshot keeps.
const DefaultKeep = 7

var _ engine.Snapshotter = (*Engine)(nil)

// TakeSnapshot registers or verifies the repository, snapshots the
// engine's indices, waits for SUCCESS and prunes to the newest keep.
func (e *Engine) TakeSnapshot(ctx context.Context, repo, location string, keep int, progress func(string)) (engine.SnapshotInfo, error) {
	if err := e.EnsureRepository(ctx, repo, location); err != nil {
		return engine.SnapshotInfo{}, err
	}
	if keep == 0 {
		keep = DefaultKeep
	}
	s, err := e.CreateSnapshot(ctx, repo, time.Now(), keep, progress)
	if err != nil {
		return engine.SnapshotInfo{}, err
	}
	return engine.SnapshotInfo{Name: s.Name, Time: s.Time}, nil
}

// CompleteSnapshots lists the database's SUCCESS snapshots in repo.
func (e *Engine) CompleteSnapshots(ctx context.Context, repo string) ([]engine.SnapshotInfo, error) {
	all, err := e.Snapshots(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []engine.SnapshotInfo
	for _, s := range all {
		if s.State == "SUCCESS" {
			out = append(out, engine.SnapshotInfo{Name: s.Name, Time: s.Time})
		}
	}
	return out, nil
}

// RestoreNamedSnapshot restores snapshot name under the staging index
// names and checks it; Swap then moves the aliases.
func (e *Engine) RestoreNamedSnapshot(ctx context.Context, repo, name, staging string) error {
	all, err := e.Snapshots(ctx, repo)
	if err != nil {
		return err
	}
	for _, s := range all {
		if s.Name == name {
			return e.RestoreSnapshot(ctx, repo, s, staging)
		}
	}
	return engine.Permanent(fmt.Errorf("snapshot %s is no longer in repository %s: %w", name, repo, engine.ErrNoSnapshot))
}
