package activities

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// SanitiseInput names the staging copy to sanitise with the task's rules.
type SanitiseInput struct {
	Task    config.Task
	Staging string
}

// SanitiseResult reports what the rules did: counts, never values.
type SanitiseResult struct {
	RulesSHA256 string           `json:"rules_sha256"`
	Rows        map[string]int64 `json:"rows"`
	Verified    int              `json:"verified"`
	Seconds     float64          `json:"seconds"`
}

// hashKey is the worker's secret for the hash transformer; it never leaves
// the host.
func hashKey(rules *sanitise.Rules) (string, error) {
	key := os.Getenv("ENVSYNC_HASH_KEY")
	if rules.NeedsHashKey() && len(key) < 16 {
		return "", permanent(ErrSanitiseFailed, fmt.Errorf("rule set %s uses the hash transformer: set ENVSYNC_HASH_KEY (16 characters or more, the same on every host) in this worker's environment", rules.Path))
	}
	return key, nil
}

func (a *Activities) sanitise(ctx context.Context, t config.Task, staging string) (SanitiseResult, error) {
	start := time.Now()
	rules, err := sanitise.LoadChecked(t.SanitiseRules, t.SanitiseSHA256)
	if err != nil {
		return SanitiseResult{}, permanent(ErrSanitiseFailed, err)
	}
	key, err := hashKey(rules)
	if err != nil {
		return SanitiseResult{}, err
	}
	eng, err := a.engine(t)
	if err != nil {
		return SanitiseResult{}, err
	}
	s, ok := eng.(engine.Sanitiser)
	if !ok {
		return SanitiseResult{}, permanent(ErrSanitiseFailed, fmt.Errorf("dbms %s cannot be sanitised", t.DBMS))
	}
	m := startMeter(ctx) // heartbeats while the statements run
	defer m.Stop()
	rep, err := s.Sanitise(ctx, staging, rules, key)
	if err != nil {
		if engine.IsPermanent(err) {
			return SanitiseResult{}, permanent(ErrSanitiseFailed, err)
		}
		return SanitiseResult{}, err
	}
	return SanitiseResult{RulesSHA256: rules.SHA256, Rows: rep.Rows, Verified: rep.Verified, Seconds: time.Since(start).Seconds()}, nil
}

// Sanitise applies the task's rules to a pull's staging copy before the
// swap; if it fails, the copy is dropped and the live database untouched.
func (a *Activities) Sanitise(ctx context.Context, in SanitiseInput) (SanitiseResult, error) {
	return a.sanitise(ctx, in.Task, in.Staging)
}

// SanitiseDumpInput names a raw dump on this host to sanitise before upload.
type SanitiseDumpInput struct {
	Task config.Task
	Dump DumpResult
}

// SanitiseDump restores the raw dump into a scratch database on this
// host's server, sanitises and verifies it there, dumps the scratch copy
// into a new temp file, and drops the scratch copy and the raw file: only
// the sanitised dump leaves the host.
func (a *Activities) SanitiseDump(ctx context.Context, in SanitiseDumpInput) (DumpResult, error) {
	defer startPhase(ctx, "sanitise", 0).Stop()
	t := in.Task
	run := activity.GetInfo(ctx).WorkflowExecution.RunID
	info, err := engineInfo(t)
	if err != nil {
		return DumpResult{}, err
	}
	scratch := engine.StagingName(t.Database, run+":scratch", info.MaxName)
	eng, err := a.engine(t)
	if err != nil {
		return DumpResult{}, err
	}
	defer func() {
		if err := eng.Drop(context.WithoutCancel(ctx), scratch); err != nil {
			a.cfg.Logger.Error("could not drop the scratch copy; drop it by hand", "scratch", scratch, "error", err)
		}
	}()
	src := datapath.Source{Key: in.Dump.Path, Compression: in.Dump.Compression}
	if _, err := datapath.RestoreFile(ctx, in.Dump.Path, src, datapath.Target{Engine: eng, Staging: scratch, Origin: in.Dump.Origin}, nil); err != nil {
		return DumpResult{}, translate(fmt.Errorf("restore the raw dump into scratch copy %s: %w", scratch, err))
	}
	res, err := a.sanitise(ctx, t, scratch)
	if err != nil {
		return DumpResult{}, err
	}
	scratchTask := t
	scratchTask.Database = scratch
	scratchTask.ExcludedTables = nil // already left out of the raw dump
	out, err := a.dumpTo(ctx, scratchTask, "push-sanitised", false, in.Dump.Size)
	if err != nil {
		return DumpResult{}, err
	}
	os.Remove(in.Dump.Path)
	os.Remove(countsFile(in.Dump.Path)) // the raw dump's: out has the sanitised copy's
	out.StartedAt = in.Dump.StartedAt   // the dump's time is the production read's
	out.Origin = in.Dump.Origin
	out.Sanitised = &dump.Sanitised{RulesSHA256: res.RulesSHA256, Verified: true}
	return out, nil
}
