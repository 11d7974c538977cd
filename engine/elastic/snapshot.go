package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// Snapshot is an envsync snapshot in a repository.
type Snapshot struct {
	Name    string
	Time    time.Time
	State   string
	Indices []string
	Meta    snapshotMeta
}

// snapshotMeta rides in the snapshot's metadata: what a restore checks.
type snapshotMeta struct {
	Database string              `json:"database"`
	Counts   map[string]int64    `json:"counts"`
	Aliases  map[string][]string `json:"aliases"`
	Concrete map[string]string   `json:"concrete"` // logical name -> index in the snapshot
}

// SnapshotName is the snapshot of database taken at t: lower case (as
// snapshot names must be), sortable, the database name first.
func SnapshotName(database string, t time.Time) string {
	return strings.ToLower(database + "-" + t.UTC().Format(dump.KeyTimeLayout))
}

func parseSnapshotName(database, name string) (time.Time, bool) {
	prefix := strings.ToLower(database) + "-"
	if !strings.HasPrefix(name, prefix) {
		return time.Time{}, false
	}
	t, err := time.Parse(dump.KeyTimeLayout, strings.ToUpper(name[len(prefix):]))
	return t, err == nil
}

// EnsureRepository verifies repo, registering it as a shared file system
// repository at location first when it does not exist and a location is
// given.
func (e *Engine) EnsureRepository(ctx context.Context, repo, location string) error {
	err := e.do(ctx, "get repository "+repo, esapi.SnapshotGetRepositoryRequest{Repository: []string{repo}}, nil)
	if notFound(err) {
		if location == "" {
			return engine.Permanent(fmt.Errorf("elasticsearch: snapshot repository %s does not exist; create it, or give the task a path: to register an fs repository there", repo))
		}
		body, _ := json.Marshal(map[string]any{"type": "fs", "settings": map[string]any{"location": "/" + strings.TrimPrefix(location, "/")}})
		if err := e.do(ctx, "register repository "+repo, esapi.SnapshotCreateRepositoryRequest{Repository: repo, Body: bytes.NewReader(body)}, nil); err != nil {
			return engine.Permanent(fmt.Errorf("%w (is the location in the cluster's path.repo?)", err))
		}
	} else if err != nil {
		return err
	}
	return e.do(ctx, "verify repository "+repo, esapi.SnapshotVerifyRepositoryRequest{Repository: repo}, nil)
}

// Snapshots lists the envsync snapshots of this database in repo, oldest
// first.
func (e *Engine) Snapshots(ctx context.Context, repo string) ([]Snapshot, error) {
	var res struct {
		Snapshots []struct {
			Snapshot string          `json:"snapshot"`
			State    string          `json:"state"`
			Indices  []string        `json:"indices"`
			Metadata json.RawMessage `json:"metadata"`
		} `json:"snapshots"`
	}
	if err := e.do(ctx, "list snapshots in "+repo, esapi.SnapshotGetRequest{Repository: repo, Snapshot: []string{"_all"}}, &res); err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, s := range res.Snapshots {
		t, ok := parseSnapshotName(e.database, s.Snapshot)
		if !ok {
			continue
		}
		var meta struct {
			Envsync snapshotMeta `json:"envsync"`
		}
		_ = json.Unmarshal(s.Metadata, &meta)
		if meta.Envsync.Database != e.database {
			continue // another database whose name shares our prefix
		}
		out = append(out, Snapshot{Name: s.Snapshot, Time: t, State: s.State, Indices: s.Indices, Meta: meta.Envsync})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// CreateSnapshot snapshots the task's indices with their document counts
// and aliases in the metadata, waits until the cluster reports SUCCESS
// (progress goes to heartbeat), and keeps only the newest keep snapshots of
// this database. PARTIAL and FAILED fail the step.
func (e *Engine) CreateSnapshot(ctx context.Context, repo string, at time.Time, keep int, progress func(state string)) (Snapshot, error) {
	metas, err := e.metas(ctx, e.indices)
	if err != nil {
		return Snapshot{}, err
	}
	meta := snapshotMeta{Database: e.database, Counts: map[string]int64{}, Aliases: map[string][]string{}, Concrete: map[string]string{}}
	var concrete []string
	for _, m := range metas {
		var c struct {
			Count int64 `json:"count"`
		}
		if err := e.do(ctx, "count "+m.Name, esapi.CountRequest{Index: []string{m.Index}}, &c); err != nil {
			return Snapshot{}, err
		}
		meta.Counts[m.Name] = c.Count
		meta.Aliases[m.Name] = m.Aliases
		meta.Concrete[m.Name] = m.Index
		concrete = append(concrete, m.Index)
	}
	if len(concrete) == 0 {
		return Snapshot{}, engine.Permanent(fmt.Errorf("elasticsearch: no index matches %q; nothing to snapshot", e.indices))
	}
	name := SnapshotName(e.database, at)
	body, _ := json.Marshal(map[string]any{"indices": strings.Join(concrete, ","), "include_global_state": false,
		"metadata": map[string]any{"envsync": meta}})
	no := false
	if err := e.do(ctx, "create snapshot "+name, esapi.SnapshotCreateRequest{Repository: repo, Snapshot: name,
		Body: bytes.NewReader(body), WaitForCompletion: &no}, nil); err != nil {
		return Snapshot{}, err
	}
	for {
		var res struct {
			Snapshots []struct {
				State string `json:"state"`
			} `json:"snapshots"`
		}
		if err := e.do(ctx, "snapshot status "+name, esapi.SnapshotGetRequest{Repository: repo, Snapshot: []string{name}}, &res); err != nil {
			return Snapshot{}, err
		}
		state := ""
		if len(res.Snapshots) == 1 {
			state = res.Snapshots[0].State
		}
		if progress != nil {
			progress(state)
		}
		switch state {
		case "SUCCESS":
			if err := e.prune(ctx, repo, keep); err != nil {
				return Snapshot{}, err
			}
			return Snapshot{Name: name, Time: at, State: state, Indices: concrete, Meta: meta}, nil
		case "PARTIAL", "FAILED", "INCOMPATIBLE":
			return Snapshot{}, engine.Permanent(fmt.Errorf("elasticsearch: snapshot %s in %s ended %s; it will not be restored", name, repo, state))
		}
		select {
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		case <-time.After(e.opts.PollEvery):
		}
	}
}

func (e *Engine) prune(ctx context.Context, repo string, keep int) error {
	if keep <= 0 {
		return nil
	}
	all, err := e.Snapshots(ctx, repo)
	if err != nil {
		return err
	}
	for i := 0; i < len(all)-keep; i++ {
		if err := e.do(ctx, "delete snapshot "+all[i].Name, esapi.SnapshotDeleteRequest{Repository: repo, Snapshot: []string{all[i].Name}}, nil); err != nil {
			return err
		}
	}
	return nil
}

// RestoreSnapshot restores a SUCCESS snapshot under this run's new index
// names, waits for recovery, checks the document counts against the
// snapshot's metadata, and records the plan Swap follows. Live indices are
// not touched.
func (e *Engine) RestoreSnapshot(ctx context.Context, repo string, s Snapshot, staging string) error {
	sfx, err := suffix(staging)
	if err != nil {
		return err
	}
	if s.State != "SUCCESS" {
		return engine.Permanent(fmt.Errorf("elasticsearch: snapshot %s is %s; only SUCCESS snapshots are restored", s.Name, s.State))
	}
	if err := e.Drop(ctx, staging); err != nil {
		return err
	}
	fail := func(err error) error {
		if derr := e.Drop(context.WithoutCancel(ctx), staging); derr != nil {
			e.opts.Logger.Warn("could not drop staged indices", "error", derr)
		}
		return engine.Permanent(fmt.Errorf("elasticsearch: restore of snapshot %s failed: %w; the live indices are untouched", s.Name, err))
	}
	var plan []planEntry
	var indices []string
	for name, idx := range s.Meta.Concrete {
		// Rename each concrete index to <logical>-envsync-<suffix>.
		plan = append(plan, planEntry{Name: name, Staged: name + generation + sfx, Aliases: s.Meta.Aliases[name], Count: s.Meta.Counts[name]})
		indices = append(indices, idx)
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].Name < plan[j].Name })
	sort.Strings(indices)
	for _, idx := range indices {
		name := logical(idx)
		body, _ := json.Marshal(map[string]any{"indices": idx, "include_global_state": false, "include_aliases": false,
			"rename_pattern": "^" + regexpQuote(idx) + "$", "rename_replacement": name + generation + sfx})
		no := false
		if err := e.do(ctx, "restore "+idx+" from "+s.Name, esapi.SnapshotRestoreRequest{Repository: repo, Snapshot: s.Name,
			Body: bytes.NewReader(body), WaitForCompletion: &no}, nil); err != nil {
			return fail(err)
		}
	}
	for _, p := range plan {
		if err := e.waitRecovery(ctx, p.Staged); err != nil {
			return fail(err)
		}
	}
	if err := e.checkCounts(ctx, plan); err != nil {
		return fail(err)
	}
	if err := e.writePlan(ctx, sfx, plan); err != nil {
		return fail(err)
	}
	return nil
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (e *Engine) waitRecovery(ctx context.Context, index string) error {
	for {
		var res map[string]struct {
			Shards []struct {
				Stage string `json:"stage"`
			} `json:"shards"`
		}
		if err := e.do(ctx, "recovery of "+index, esapi.IndicesRecoveryRequest{Index: []string{index}}, &res); err != nil {
			return err
		}
		done := len(res[index].Shards) > 0
		for _, sh := range res[index].Shards {
			done = done && sh.Stage == "DONE"
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.opts.PollEvery):
		}
	}
}
