package activities

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/envsync/envsync/config"
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
	// Tables is what the restore did in the stream, per table: rows seen,
	// transformed, filtered, values scanned.
	Tables map[string]*sanitise.TableReport `json:"tables,omitempty"`
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

// restorePlan is the sanitise plan a restore applies in the stream: for a
// task with rules whose engine restores through one (nil otherwise: its
// rules run after the restore).
func restorePlan(t config.Task, eng engine.Engine) (*sanitise.Plan, error) {
	if _, ok := eng.(engine.PlanRestorer); !ok || t.SanitiseRules == "" {
		return nil, nil
	}
	rules, err := sanitise.LoadChecked(t.SanitiseRules, t.SanitiseSHA256)
	if err != nil {
		return nil, permanent(ErrSanitiseFailed, err)
	}
	if !rules.InStream() {
		return nil, nil // the original's .sql: it all runs on the restored copy
	}
	plan, err := sanitise.NewPlan(rules, os.Getenv("ENVSYNC_HASH_KEY"), time.Now())
	if err != nil {
		return nil, permanent(ErrSanitiseFailed, fmt.Errorf("rule set %s: %w", rules.Path, err))
	}
	return plan, nil
}

func (a *Activities) sanitise(ctx context.Context, t config.Task, staging string) (SanitiseResult, error) {
	start := time.Now()
	rules, err := sanitise.LoadChecked(t.SanitiseRules, t.SanitiseSHA256)
	if err != nil {
		return SanitiseResult{}, permanent(ErrSanitiseFailed, err)
	}
	eng, err := a.engine(t)
	if err != nil {
		return SanitiseResult{}, err
	}
	if _, ok := eng.(engine.PlanRestorer); ok {
		// The restore applied the rest in the stream.
		rules = rules.Residual()
	}
	key, err := hashKey(rules)
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
