// Package retention decides which dumps a push task's keep and keep_days
// remove from its store, and names the holds that protect a dump from that:
// a pull restoring it, or a person who asked to keep it forever. It does no
// I/O: the Prune activity lists the store, reads the holds and deletes what
// Decide says.
//
// A hold is a small JSON object beside the dumps, under a reserved folder:
//
//	<prefix>/.envsync-holds/<dump file name>/keep.json          envsync keep
//	<prefix>/.envsync-holds/<dump file name>/pull-<run id>.json  a pull, with a lease
//
// dump.Parse takes no key with a "/" after the prefix, so neither a pull's
// latest-dump lookup, nor s3_sync, nor the push's size estimate ever
// mistakes a hold for a dump.
package retention

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
)

// HoldDir is the reserved folder under a task's prefix that holds are kept
// in. Nothing else is ever written there.
const HoldDir = ".envsync-holds"

// Forever is the holder name of `envsync keep`.
const Forever = "keep"

// PullLease is how long a pull's hold protects its dump when the pull never
// removes it (its worker died for good), so a crashed pull does not protect
// for ever. Three days cover a pull whose day-long restore is retried
// twice; a pull that retries for longer is unprotected after that, which
// matters only when it restores a dump older than the newest (always kept).
const PullLease = 72 * time.Hour

// OrphanAge is how old a data object without a manifest must be before it
// counts as a failed upload's leftovers: a younger one may be a push
// between writing its data and its manifest.
const OrphanAge = 24 * time.Hour

// Hold protects one dump from pruning.
type Hold struct {
	// Key is the data key of the dump held.
	Key string `json:"key"`
	// Holder is Forever or "pull-<run id>".
	Holder string `json:"holder"`
	// WorkflowID and RunID name the pull holding it.
	WorkflowID string    `json:"workflow_id,omitempty"`
	RunID      string    `json:"run_id,omitempty"`
	Created    time.Time `json:"created"`
	// Expires ends the hold; zero: never (keep forever).
	Expires time.Time `json:"expires,omitzero"`
}

// PullHolder is the holder name of the pull run runID.
func PullHolder(runID string) string { return "pull-" + runID }

// HoldKey is where holder's hold on the dump with data key dataKey lives.
func HoldKey(prefix, dataKey, holder string) string {
	return join(prefix, HoldDir+"/"+path.Base(dataKey)+"/"+holder+".json")
}

// IsHoldKey reports whether key is a hold under prefix.
func IsHoldKey(prefix, key string) bool {
	return strings.HasPrefix(key, join(prefix, HoldDir)+"/") && strings.HasSuffix(key, ".json")
}

// Live reports whether h still protects its dump at now.
func (h Hold) Live(now time.Time) bool { return h.Expires.IsZero() || now.Before(h.Expires) }

// Describe says who holds the dump, for reports.
func (h Hold) Describe() string {
	if h.Holder == Forever {
		return "kept forever (envsync keep)"
	}
	return fmt.Sprintf("held by pull %s (run %s) until %s", h.WorkflowID, h.RunID, h.Expires.UTC().Format(time.RFC3339))
}

// Marshal encodes a hold for the store.
func (h Hold) Marshal() []byte {
	b, _ := json.MarshalIndent(h, "", "  ") // plain fields: cannot fail
	return b
}

// UnmarshalHold decodes the hold read from key.
func UnmarshalHold(key string, data []byte) (Hold, error) {
	var h Hold
	if err := json.Unmarshal(data, &h); err != nil || h.Key == "" {
		return h, fmt.Errorf("hold %s is not an envsync hold (invalid JSON or no key); it protects nothing: delete it or fix it", key)
	}
	return h, nil
}

// Policy is a push task's retention. Zero fields are unset; with both set a
// dump goes only when both say so (the newest keep dumps, and every dump
// younger than keep_days, stay).
type Policy struct {
	Keep     int `json:"keep,omitempty"`
	KeepDays int `json:"keep_days,omitempty"`
}

// Set reports whether the policy removes anything at all.
func (p Policy) Set() bool { return p.Keep > 0 || p.KeepDays > 0 }

// Removal is an object Decide removes, and why.
type Removal struct {
	// Key is the data key; Manifest its manifest, when there is one;
	// Evidence its restore drill's evidence, when there is one.
	Key      string `json:"key"`
	Manifest string `json:"manifest,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	// Bytes counts data and manifest.
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
	// Orphan is data without a manifest (a failed upload's leftovers).
	Orphan bool `json:"orphan,omitempty"`
}

// Kept is a dump the policy would remove that a hold protects.
type Kept struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// Plan is what Decide found.
type Plan struct {
	Remove    []Removal
	Protected []Kept
	// Stay says, for every complete dump that is neither removed nor
	// protected, why the policy keeps it (by data key).
	Stay map[string]string
	// ExpiredHolds are the keys of pull holds whose lease ran out.
	ExpiredHolds []string
}

// Decide plans the pruning of database's dumps under prefix, from a store
// listing (holds included in objs, their decoded contents in holds by key).
// Never removed: the newest complete dump, a dump with a live hold, the
// newest dump that passed a restore drill (its evidence, dump.DrillKey, is
// beside it), any object that is not a dump of database (other databases,
// foreign files).
func Decide(prefix, database string, objs []store.Object, holds map[string]Hold, p Policy, now time.Time) Plan {
	plan := Plan{Stay: map[string]string{}}
	byKey := map[string]store.Object{}
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		byKey[o.Key] = o
		keys = append(keys, o.Key)
	}
	held := map[string]Hold{} // data key -> the hold that protects it
	holdKeys := make([]string, 0, len(holds))
	for k := range holds {
		holdKeys = append(holdKeys, k)
	}
	slices.Sort(holdKeys) // the same hold reported whatever the map order
	for _, k := range holdKeys {
		h := holds[k]
		if !h.Live(now) {
			plan.ExpiredHolds = append(plan.ExpiredHolds, k)
			continue
		}
		if _, ok := held[h.Key]; !ok || h.Holder == Forever {
			held[h.Key] = h
		}
	}
	cands := dump.Candidates(prefix, database, keys)
	drilled := "" // the newest dump that passed a restore drill
	for i := len(cands) - 1; i >= 0 && drilled == ""; i-- {
		if _, ok := byKey[dump.DrillKey(cands[i].Key)]; ok {
			drilled = cands[i].Key
		}
	}
	for i := len(cands) - 1; i >= 0; i-- {
		c, rank := cands[i], len(cands)-1-i
		var why []string
		switch {
		case rank == 0:
			plan.Stay[c.Key] = "the newest complete dump always stays"
			continue
		case !p.Set():
			plan.Stay[c.Key] = "no keep or keep_days: nothing is pruned"
			continue
		case p.Keep > 0 && rank < p.Keep:
			plan.Stay[c.Key] = fmt.Sprintf("within keep %d", p.Keep)
			continue
		case p.KeepDays > 0 && now.Sub(c.Time) <= time.Duration(p.KeepDays)*24*time.Hour:
			plan.Stay[c.Key] = fmt.Sprintf("younger than keep_days %d", p.KeepDays)
			continue
		}
		if p.Keep > 0 {
			why = append(why, fmt.Sprintf("beyond keep %d", p.Keep))
		}
		if p.KeepDays > 0 {
			why = append(why, fmt.Sprintf("older than %d days", p.KeepDays))
		}
		if h, ok := held[c.Key]; ok {
			plan.Protected = append(plan.Protected, Kept{Key: c.Key, Reason: h.Describe()})
			continue
		}
		if c.Key == drilled {
			// Until a newer dump has proved it restores, this one is the
			// newest known to.
			plan.Protected = append(plan.Protected, Kept{Key: c.Key, Reason: "the newest dump that passed a restore drill (until a newer one passes)"})
			continue
		}
		m := dump.ManifestKey(c.Key)
		r := Removal{Key: c.Key, Manifest: m, Bytes: byKey[c.Key].Size + byKey[m].Size, Reason: strings.Join(why, ", ")}
		if o, ok := byKey[dump.DrillKey(c.Key)]; ok {
			r.Evidence, r.Bytes = o.Key, r.Bytes+o.Size
		}
		plan.Remove = append(plan.Remove, r)
	}
	// Data whose manifest never came: left by an upload that failed after
	// its data was stored. Removed whatever the policy, as it can never be
	// restored.
	for _, k := range keys {
		if data, ok := strings.CutSuffix(k, dump.DrillSuffix); ok {
			if db, _, ok := dump.Parse(prefix, data); ok && db == database {
				if _, there := byKey[data]; !there {
					plan.Remove = append(plan.Remove, Removal{Key: k, Bytes: byKey[k].Size, Orphan: true,
						Reason: "restore drill evidence of a dump that is gone"})
				}
			}
			continue
		}
		db, _, ok := dump.Parse(prefix, k)
		if !ok || db != database {
			continue
		}
		if _, complete := byKey[dump.ManifestKey(k)]; complete {
			continue
		}
		if o := byKey[k]; now.Sub(o.Modified) > OrphanAge {
			plan.Remove = append(plan.Remove, Removal{Key: k, Bytes: o.Size, Orphan: true,
				Reason: "data without a manifest, stored more than a day ago (a failed upload's leftovers)"})
		}
	}
	slices.SortFunc(plan.Remove, func(a, b Removal) int { return strings.Compare(a.Key, b.Key) })
	return plan
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "/" + name
}
