package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// Native stores: the database server's own snapshot repository holds the
// data (an engine.Snapshotter), so Dump, Resolve and Restore talk to the
// server instead of moving bytes. The workflows cannot tell the
// difference: a snapshot is a dump already stored, under its name.

// snapshotDump takes a snapshot into the repository the task's url names
// (registered at its path, when given and new) and keeps the newest keep.
func snapshotDump(ctx context.Context, s engine.Snapshotter, t config.Task) (DumpResult, error) {
	defer startPhase(ctx, "snapshot", 0).Stop()
	start := time.Now()
	location := ""
	if t.Path != "" {
		location = "/" + t.Path
	}
	snap, err := s.TakeSnapshot(ctx, t.URL, location, t.Keep, func(state string) {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, state)
		}
	})
	if err != nil {
		return DumpResult{}, classify(err)
	}
	return DumpResult{Key: snap.Name, Location: t.StorageBackend + "://" + t.URL, Uploaded: true, Native: true,
		StartedAt: start, Seconds: time.Since(start).Seconds()}, nil
}

// snapshotResolve picks the newest complete snapshot of the database, the
// one taken in the -t minute, or exactly in.Key.
func snapshotResolve(ctx context.Context, s engine.Snapshotter, in ResolveInput) (ResolveResult, error) {
	all, err := s.CompleteSnapshots(ctx, in.Task.URL)
	if err != nil {
		return ResolveResult{}, classify(err)
	}
	var cands []dump.Candidate
	for _, snap := range all {
		if in.Key == "" || in.Key == snap.Name {
			cands = append(cands, dump.Candidate{Key: snap.Name, Time: snap.Time})
		}
	}
	c, err := dump.Choose(cands, in.Minute)
	if err != nil {
		return ResolveResult{}, permanent(ErrNoDump, fmt.Errorf("complete snapshots of %s in repository %s: %w", in.Task.DumpName(), in.Task.URL, err))
	}
	return ResolveResult{Key: c.Key, CreatedAt: c.Time, Native: true}, nil
}

// snapshotRestore restores the snapshot in.Key into the staging copy;
// the server restores, this only waits.
func snapshotRestore(ctx context.Context, s engine.Snapshotter, in RestoreInput) (RestoreResult, error) {
	defer startPhase(ctx, "restore", 0).Stop()
	start := time.Now()
	if err := s.RestoreNamedSnapshot(ctx, in.Task.URL, in.Key, in.Staging); err != nil {
		if errors.Is(err, engine.ErrNoSnapshot) {
			return RestoreResult{}, permanent(ErrNoDump, err)
		}
		return RestoreResult{}, classify(err)
	}
	return RestoreResult{Seconds: time.Since(start).Seconds()}, nil
}
