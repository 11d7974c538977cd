package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/retention"
	"github.com/envsync/envsync/store"
)

// PruneInput asks to apply a push task's keep and keep_days to its store.
type PruneInput struct {
	// Task is the push task; its keep and keep_days are the policy.
	Task config.Task
	// DryRun lists what would go, and deletes nothing.
	DryRun bool
}

// PruneResult says what went (or would go) and why: keys, sizes and
// reasons only.
type PruneResult struct {
	Location string `json:"location"`
	DryRun   bool   `json:"dry_run,omitempty"`
	// Removed lists the objects removed (or, on a dry run, that would
	// be), with their reasons: the first maxListed; Unlisted counts the
	// rest, so a first prune of a long history stays a small result.
	Removed  []retention.Removal `json:"removed,omitempty"`
	Unlisted int                 `json:"unlisted,omitempty"`
	// Protected lists dumps the policy would remove that a hold keeps.
	Protected []retention.Kept `json:"protected,omitempty"`
	// Dumps and Orphans count Removed; Bytes is what they held.
	Dumps   int   `json:"dumps"`
	Orphans int   `json:"orphans"`
	Bytes   int64 `json:"bytes"`
	// ExpiredHolds counts holds of pulls that ended without removing
	// them (their lease ran out), removed now.
	ExpiredHolds int `json:"expired_holds,omitempty"`
}

// prefix is where the task's push stores its dumps: a before_upload push
// stores only the sanitised copy, under sanitised_path.
func prefix(t config.Task) string {
	if t.Action == config.ActionPush && t.Sanitise == config.SanitiseBeforeUpload {
		return t.SanitisedPath
	}
	return t.Path
}

// Prune applies the task's keep and keep_days to the dumps of its database
// under its prefix; retention.Decide says what is never removed. A dump is
// removed manifest first, so a dump cut short by a failure is incomplete
// (never restored) and its data goes as an orphan on the next prune. A
// failure leaves what was already removed removed: a retry plans again.
func (a *Activities) Prune(ctx context.Context, in PruneInput) (PruneResult, error) {
	// Heartbeats from the start: listing a large prefix can take longer
	// than the heartbeat timeout.
	defer startPhase(ctx, "prune", 0).Stop()
	t := in.Task
	p := prefix(t)
	res := PruneResult{Location: store.Describe(t.StorageBackend, t.URL, p), DryRun: in.DryRun}
	st, objs, holds, err := a.listing(ctx, t, res.Location)
	if err != nil {
		return res, err
	}
	policy := retention.Policy{Keep: t.Keep, KeepDays: t.KeepDays}
	plan := retention.Decide(p, t.Database, objs, holds, policy, time.Now())
	res.Protected = plan.Protected
	for _, r := range plan.Remove {
		if in.DryRun {
			res.add(r)
			continue
		}
		activity.RecordHeartbeat(ctx, r.Key)
		// A pull may have resolved this dump since the listing: look
		// once more just before it goes, and again between manifest and
		// data. A pull writes its hold before it reads the manifest, so
		// either it finds no manifest (and fails cleanly) or the hold is
		// seen here and the data stays for it.
		held, err := holdNow(ctx, st, p, r.Key)
		if err != nil {
			return res, err
		}
		if held == nil && r.Manifest != "" {
			if err := st.Delete(ctx, r.Manifest); err != nil {
				return res, fmt.Errorf("delete %s (%s) from %s: %w; %d objects were removed before it", r.Manifest, r.Reason, res.Location, err, res.Dumps+res.Orphans)
			}
			if held, err = holdNow(ctx, st, p, r.Key); err != nil {
				return res, err
			}
		}
		if held != nil {
			res.Protected = append(res.Protected, retention.Kept{Key: r.Key, Reason: held.Describe()})
			continue
		}
		if err := st.Delete(ctx, r.Key); err != nil {
			return res, fmt.Errorf("delete %s (%s) from %s: %w; %d objects were removed before it", r.Key, r.Reason, res.Location, err, res.Dumps+res.Orphans)
		}
		if r.Evidence != "" {
			// Left behind, it is removed as an orphan by the next prune.
			if err := st.Delete(ctx, r.Evidence); err != nil {
				a.cfg.Logger.Warn("could not delete the drill evidence of a pruned dump", "key", r.Evidence, "error", err)
			}
		}
		res.add(r)
	}
	if !in.DryRun {
		for _, k := range plan.ExpiredHolds {
			if err := st.Delete(ctx, k); err != nil {
				return res, fmt.Errorf("delete expired hold %s from %s: %w", k, res.Location, err)
			}
		}
	}
	res.ExpiredHolds = len(plan.ExpiredHolds)
	a.cfg.Logger.Info("pruned", "location", res.Location, "dry_run", in.DryRun, "dumps", res.Dumps, "orphans", res.Orphans, "bytes", res.Bytes)
	return res, nil
}

// listing lists the task's prefix in its store (location names it in
// messages) and reads the holds among the objects.
func (a *Activities) listing(ctx context.Context, t config.Task, location string) (store.Store, []store.Object, map[string]retention.Hold, error) {
	st, err := a.store(ctx, t)
	if err != nil {
		return nil, nil, nil, err
	}
	objs, err := st.List(ctx, prefix(t))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list dumps in %s: %w", location, err)
	}
	holds, err := readHolds(ctx, st, prefix(t), objs, a.cfg.Logger.Warn)
	if err != nil {
		return nil, nil, nil, err
	}
	return st, objs, holds, nil
}

// maxListed bounds the removals a result names: results are kept in
// Temporal's history, where a payload has a size limit.
const maxListed = 500

func (r *PruneResult) add(rm retention.Removal) {
	if len(r.Removed) < maxListed {
		r.Removed = append(r.Removed, rm)
	} else {
		r.Unlisted++
	}
	r.Bytes += rm.Bytes
	if rm.Orphan {
		r.Orphans++
	} else {
		r.Dumps++
	}
}

// readHolds reads the holds in a listing, heartbeating (each read is a
// round trip, an ssh connection on rsync). A hold that cannot be decoded
// protects nothing and is logged on the worker, never deleted: someone
// wrote it.
func readHolds(ctx context.Context, st store.Store, prefix string, objs []store.Object, warn func(string, ...any)) (map[string]retention.Hold, error) {
	out := map[string]retention.Hold{}
	for _, o := range objs {
		if !retention.IsHoldKey(prefix, o.Key) {
			continue
		}
		activity.RecordHeartbeat(ctx, o.Key)
		h, err := readHold(ctx, st, o.Key)
		if errors.Is(err, store.ErrNotExist) {
			continue // its pull ended since the listing
		}
		var bad *badHold
		if errors.As(err, &bad) {
			warn("ignoring a hold that is not envsync's", "key", o.Key, "error", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		out[o.Key] = h
	}
	return out, nil
}

type badHold struct{ err error }

func (b *badHold) Error() string { return b.err.Error() }

func readHold(ctx context.Context, st store.Store, key string) (retention.Hold, error) {
	r, err := st.Get(ctx, key, 0)
	if err != nil {
		return retention.Hold{}, fmt.Errorf("read hold %s: %w", key, err)
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return retention.Hold{}, fmt.Errorf("read hold %s: %w", key, err)
	}
	h, err := retention.UnmarshalHold(key, body)
	if err != nil {
		return h, &badHold{err}
	}
	return h, nil
}

// holdNow returns a live hold on the dump with data key, if any.
func holdNow(ctx context.Context, st store.Store, prefix, key string) (*retention.Hold, error) {
	dir := path.Dir(retention.HoldKey(prefix, key, retention.Forever))
	objs, err := st.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list holds of %s: %w", key, err)
	}
	holds, err := readHolds(ctx, st, prefix, objs, func(string, ...any) {})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, h := range holds {
		if h.Key == key && h.Live(now) {
			return &h, nil
		}
	}
	return nil, nil
}

// KeepInput asks to keep one dump forever, or to release it.
type KeepInput struct {
	Task config.Task
	// Key is the dump's data key, as push results and pulls name it.
	Key     string
	Release bool
}

// KeepResult names the hold written or removed.
type KeepResult struct {
	Key      string `json:"key"`
	Hold     string `json:"hold"`
	Location string `json:"location"`
	// Released says the hold was removed; Existed, that it was there.
	Released bool `json:"released,omitempty"`
	Existed  bool `json:"existed,omitempty"`
}

// Keep writes (or with Release removes) the hold that keeps a complete dump
// from ever being pruned.
func (a *Activities) Keep(ctx context.Context, in KeepInput) (KeepResult, error) {
	t := in.Task
	p := prefix(t)
	loc := store.Describe(t.StorageBackend, t.URL, p)
	hk := retention.HoldKey(p, in.Key, retention.Forever)
	res := KeepResult{Key: in.Key, Hold: hk, Location: loc, Released: in.Release}
	if _, _, ok := dump.Parse(p, in.Key); !ok {
		return res, permanent(ErrNoDump, fmt.Errorf("%s is not a dump key under %s (give the data key a push printed, e.g. %s)",
			in.Key, loc, dump.Key(p, t.Database, time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC), dump.Zstd)))
	}
	st, err := a.store(ctx, t)
	if err != nil {
		return res, err
	}
	_, err = st.Stat(ctx, hk)
	res.Existed = err == nil
	if err != nil && !errors.Is(err, store.ErrNotExist) {
		return res, fmt.Errorf("look for hold %s: %w", hk, err)
	}
	if in.Release {
		if err := st.Delete(ctx, hk); err != nil {
			return res, fmt.Errorf("remove hold %s: %w", hk, err)
		}
		return res, nil
	}
	if _, err := st.Stat(ctx, dump.ManifestKey(in.Key)); errors.Is(err, store.ErrNotExist) {
		return res, permanent(ErrNoDump, fmt.Errorf("%s has no manifest in %s: it is not a complete dump, so there is nothing to keep", in.Key, loc))
	} else if err != nil {
		return res, fmt.Errorf("look for manifest of %s: %w", in.Key, err)
	}
	body := retention.Hold{Key: in.Key, Holder: retention.Forever, Created: time.Now().UTC()}.Marshal()
	if err := st.Put(ctx, hk, bytesReader(body), int64(len(body))); err != nil {
		return res, fmt.Errorf("write hold %s: %w", hk, err)
	}
	return res, nil
}

// holdForPull writes the hold that protects the dump a pull restores, for
// PullLease. It returns the hold's key, or why there is none: a pull whose
// store credentials cannot write still restores, only unprotected.
func (a *Activities) holdForPull(ctx context.Context, st store.Store, t config.Task, key string) (string, string) {
	info := activity.GetInfo(ctx)
	now := time.Now().UTC()
	h := retention.Hold{Key: key, Holder: retention.PullHolder(info.WorkflowExecution.RunID), WorkflowID: info.WorkflowExecution.ID,
		RunID: info.WorkflowExecution.RunID, Created: now, Expires: now.Add(retention.PullLease)}
	hk := retention.HoldKey(t.Path, key, h.Holder)
	body := h.Marshal()
	if err := st.Put(ctx, hk, bytesReader(body), int64(len(body))); err != nil {
		a.cfg.Logger.Warn("could not hold the dump against pruning", "key", key, "error", err)
		return "", fmt.Sprintf("could not write hold %s, so a prune may remove %s before this pull ends (unless it is the newest dump): %v", hk, key, err)
	}
	return hk, ""
}

// ReleaseInput names a pull's hold to remove.
type ReleaseInput struct {
	Task config.Task
	Hold string
}

// ReleaseHold removes a pull's hold when the pull ends, however it ends.
func (a *Activities) ReleaseHold(ctx context.Context, in ReleaseInput) error {
	if !retention.IsHoldKey(in.Task.Path, in.Hold) {
		return permanent(ErrInvalidInput, fmt.Errorf("%s is not a hold under %s", in.Hold, in.Task.Path))
	}
	st, err := a.store(ctx, in.Task)
	if err != nil {
		return err
	}
	if err := st.Delete(ctx, in.Hold); err != nil {
		return fmt.Errorf("remove hold %s (it expires by itself after %s): %w", in.Hold, retention.PullLease, err)
	}
	return nil
}
