package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/retention"
	"github.com/envsync/envsync/store"
)

// ListDumpsInput asks for the dumps of a task's database in its store.
type ListDumpsInput struct {
	Task config.Task
	// Limit bounds the dumps described, newest first (their manifests
	// are read one by one); 0 means DefaultDumpLimit.
	Limit int
}

// DefaultDumpLimit is how many dumps a listing describes unless asked for
// more: a month of nightly dumps and some.
const DefaultDumpLimit = 50

// DumpsResult is a store's view of one database's dumps: keys, sizes,
// flags and reasons, never data.
type DumpsResult struct {
	Location string `json:"location"`
	// Dumps are complete dumps (data and manifest), newest first.
	Dumps []DumpEntry `json:"dumps"`
	// More counts complete dumps beyond the limit, not described.
	More int `json:"more,omitempty"`
	// Leftovers are objects of this database without a manifest (or a
	// manifest without data): never restored.
	Leftovers []Leftover `json:"leftovers,omitempty"`
}

// DumpEntry describes one complete dump.
type DumpEntry struct {
	Key         string    `json:"key"`
	Time        time.Time `json:"time"`
	Size        int64     `json:"size"`
	Compression string    `json:"compression,omitempty"`
	DumpFormat  string    `json:"dump_format,omitempty"`
	SourceHost  string    `json:"source_host,omitempty"`
	// Recipients are the fingerprints the dump is encrypted to; none
	// means it is not encrypted.
	Recipients []string `json:"recipients,omitempty"`
	// Tables and Rows are the manifest's counts (Counted false: none).
	Counted bool  `json:"counted"`
	Exact   bool  `json:"exact,omitempty"`
	Tables  int   `json:"tables,omitempty"`
	Rows    int64 `json:"rows,omitempty"`
	// RulesSHA256 names the rule set of a dump sanitised before upload.
	RulesSHA256 string `json:"rules_sha256,omitempty"`
	// Holds describe what protects the dump from pruning; KeepForever
	// says one is `envsync keep`.
	Holds       []string `json:"holds,omitempty"`
	KeepForever bool     `json:"keep_forever,omitempty"`
	// Retention is what the push task's keep and keep_days would do with
	// the dump now: "stays: ...", "protected: ..." or "removed: ...".
	Retention string `json:"retention"`
	// Drill is the evidence of the last restore drill that passed on it.
	Drill *dump.Drill `json:"drill,omitempty"`
	// Problem says why the manifest or the evidence could not be read.
	Problem string `json:"problem,omitempty"`
}

// Leftover is an object of the database that is not a complete dump.
type Leftover struct {
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Why      string    `json:"why"`
}

// ListDumps lists the dumps of the task's database under its prefix with
// what their manifests, holds and drill evidence say, and what retention
// would do with each. It changes nothing.
func (a *Activities) ListDumps(ctx context.Context, in ListDumpsInput) (DumpsResult, error) {
	defer startPhase(ctx, "list", 0).Stop()
	t := in.Task
	p, db := prefix(t), t.DumpName()
	res := DumpsResult{Location: store.Describe(t.StorageBackend, t.URL, p), Dumps: []DumpEntry{}}
	st, objs, holds, err := a.listing(ctx, t, res.Location)
	if err != nil {
		return res, err
	}
	policy := retention.Policy{}
	if t.Action == config.ActionPush {
		policy = retention.Policy{Keep: t.Keep, KeepDays: t.KeepDays}
	}
	now := time.Now()
	plan := retention.Decide(p, db, objs, holds, policy, now)
	fate := map[string]string{}
	for k, why := range plan.Stay {
		fate[k] = "stays: " + why
	}
	for _, k := range plan.Protected {
		fate[k.Key] = "protected: " + k.Reason
	}
	for _, r := range plan.Remove {
		fate[r.Key] = "removed by the next prune: " + r.Reason
	}
	if !policy.Set() && t.Action != config.ActionPush {
		for k := range fate {
			fate[k] = "set by the push task that writes these dumps (this is a " + t.Action + ")"
		}
	}
	byKey := map[string]store.Object{}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		byKey[o.Key] = o
		keys = append(keys, o.Key)
	}
	held := map[string][]retention.Hold{}
	for _, h := range holds {
		if h.Live(now) {
			held[h.Key] = append(held[h.Key], h)
		}
	}
	limit := cmp.Or(in.Limit, DefaultDumpLimit)
	cands := dump.Candidates(p, db, keys)
	slices.Reverse(cands)
	if len(cands) > limit {
		res.More, cands = len(cands)-limit, cands[:limit]
	}
	for _, c := range cands {
		activity.RecordHeartbeat(ctx, c.Key)
		e := DumpEntry{Key: c.Key, Time: c.Time, Size: byKey[c.Key].Size, Retention: fate[c.Key]}
		m, err := datapath.ReadManifest(ctx, st, c.Key)
		var bad *datapath.BadManifestError
		var none *datapath.NoManifestError
		switch {
		case errors.As(err, &bad), errors.As(err, &none):
			e.Problem = err.Error()
		case err != nil:
			return res, err
		default:
			e.Compression, e.DumpFormat, e.SourceHost = m.Compression, m.DumpFormat, m.SourceHost
			if m.Encrypted != nil {
				e.Recipients = m.Encrypted.Recipients
			}
			if m.Counts != nil {
				e.Counted, e.Exact, e.Tables, e.Rows = true, m.Counts.Exact, len(m.Counts.Tables), m.Counts.Total()
			}
			if m.Sanitised != nil {
				e.RulesSHA256 = m.Sanitised.RulesSHA256
			}
		}
		hs := held[c.Key]
		slices.SortFunc(hs, func(a, b retention.Hold) int { return strings.Compare(a.Holder, b.Holder) })
		for _, h := range hs {
			e.Holds = append(e.Holds, h.Describe())
			e.KeepForever = e.KeepForever || h.Holder == retention.Forever
		}
		if _, ok := byKey[dump.DrillKey(c.Key)]; ok {
			d, err := readDrill(ctx, st, dump.DrillKey(c.Key))
			if err != nil {
				e.Problem = strings.TrimPrefix(e.Problem+"; ", "; ") + err.Error()
			} else {
				e.Drill = &d
			}
		}
		res.Dumps = append(res.Dumps, e)
	}
	for _, k := range keys {
		o := byKey[k]
		if data, ok := strings.CutSuffix(k, dump.ManifestSuffix); ok {
			if d, _, ok := dump.Parse(p, data); ok && d == db {
				if _, there := byKey[data]; !there {
					res.Leftovers = append(res.Leftovers, Leftover{Key: k, Size: o.Size, Modified: o.Modified, Why: "a manifest whose data is gone"})
				}
			}
			continue
		}
		if data, ok := strings.CutSuffix(k, dump.DrillSuffix); ok {
			if _, there := byKey[data]; !there {
				if d, _, ok := dump.Parse(p, data); ok && d == db {
					res.Leftovers = append(res.Leftovers, Leftover{Key: k, Size: o.Size, Modified: o.Modified, Why: "drill evidence of a dump that is gone"})
				}
			}
			continue
		}
		d, _, ok := dump.Parse(p, k)
		if !ok || d != db {
			continue
		}
		if _, complete := byKey[dump.ManifestKey(k)]; !complete {
			why := "data without a manifest: an upload that failed or is still running; never restored"
			if now.Sub(o.Modified) > retention.OrphanAge {
				why = "data without a manifest, more than a day old (a failed upload's leftovers): the next prune removes it"
			}
			res.Leftovers = append(res.Leftovers, Leftover{Key: k, Size: o.Size, Modified: o.Modified, Why: why})
		}
	}
	slices.SortFunc(res.Leftovers, func(a, b Leftover) int { return strings.Compare(b.Key, a.Key) })
	return res, nil
}

// readDrill reads a restore drill's evidence.
func readDrill(ctx context.Context, st store.Store, key string) (dump.Drill, error) {
	r, err := st.Get(ctx, key, 0)
	if err != nil {
		return dump.Drill{}, fmt.Errorf("read drill evidence %s: %w", key, err)
	}
	defer r.Close()
	body, err := io.ReadAll(io.LimitReader(r, 64<<10))
	if err != nil {
		return dump.Drill{}, fmt.Errorf("read drill evidence %s: %w", key, err)
	}
	return dump.UnmarshalDrill(key, body)
}
