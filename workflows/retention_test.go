package workflows

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

func keepTask(keep int) config.Task {
	t := task("push")
	t.Keep = keep
	return t
}

// before reports whether step a ran before step b, both having run.
func before(order []string, a, b string) bool {
	i, j := slices.Index(order, a), slices.Index(order, b)
	return i >= 0 && j >= 0 && i < j
}

func TestPushPrunesAfterStoringAndBeforeReleasingTheLock(t *testing.T) {
	env, c := setup(t, nil)
	env.RegisterWorkflow(Push)
	env.ExecuteWorkflow(Push, PushInput{Task: keepTask(2)})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res PushResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Prune == nil || res.Prune.Dumps != 2 || res.PruneError != "" {
		t.Fatalf("prune result %+v, error %q", res.Prune, res.PruneError)
	}
	if c.get("Prune") != 1 || !before(c.order, "Upload", "Prune") || !before(c.order, "Prune", "ReleaseLock") {
		t.Fatalf("steps ran %v; want one Prune after Upload and before ReleaseLock", c.order)
	}
}

func TestPushWithoutRetentionDoesNotPrune(t *testing.T) {
	env, c := setup(t, nil)
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if c.get("Prune") != 0 {
		t.Fatalf("Prune ran for a task without keep or keep_days: %v", c.order)
	}
}

// A prune that fails after its retries leaves the push green, and its
// result says so; a transient failure is retried.
func TestFailedPruneDoesNotFailThePush(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fail     error
		attempts int32
	}{
		{"permanent", permanentErr("s3: access denied"), 1},
		{"retried until the policy gives up", context.DeadlineExceeded, stepPrune.maxAttempts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, c := setup(t, map[string]error{"Prune": tc.fail})
			env.ExecuteWorkflow(Push, PushInput{Task: keepTask(2)})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("the push failed with its prune: %v", err)
			}
			var res PushResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Key == "" || res.Prune != nil || !strings.Contains(res.PruneError, "the push succeeded, but pruning old dumps failed") ||
				!strings.Contains(res.PruneError, "envsync prune --tasks FILE --task orders_push") {
				t.Fatalf("result %+v", res)
			}
			if got := c.get("Prune"); got != tc.attempts {
				t.Errorf("Prune ran %d times, want %d", got, tc.attempts)
			}
			if c.get("ReleaseLock") != 1 || c.reports[0].Outcome != "ok" {
				t.Errorf("lock released %d times, report %+v", c.get("ReleaseLock"), c.reports)
			}
		})
	}
}

func TestPullReleasesItsHoldHoweverItEnds(t *testing.T) {
	resolve := map[string]any{"Resolve": func(_ context.Context, in activities.ResolveInput) (activities.ResolveResult, error) {
		if !in.Hold {
			t.Error("Resolve was not asked to hold the dump")
		}
		return activities.ResolveResult{Key: "pg/2026-11-25T233005Z-orders.gz", Size: 42, SHA256: strings.Repeat("a", 64), Staging: staged,
			Hold: "pg/.envsync-holds/2026-11-25T233005Z-orders.gz/pull-r.json"}, nil
	}}
	for _, fail := range []map[string]error{nil, {"Restore": permanentErr("pg_restore exited 1")}} {
		env, c := setup(t, fail, resolve)
		env.ExecuteWorkflow(Pull, PullInput{Task: task("pull")})
		if (env.GetWorkflowError() != nil) != (fail != nil) {
			t.Fatalf("failing %v: workflow error %v", fail, env.GetWorkflowError())
		}
		if c.get("ReleaseHold") != 1 || !before(c.order, "ReleaseHold", "ReleaseLock") {
			t.Errorf("failing %v: steps %v; want ReleaseHold once, before ReleaseLock", fail, c.order)
		}
	}
}

func TestPullWithoutHoldReleasesNothing(t *testing.T) {
	resolve := map[string]any{"Resolve": func(context.Context, activities.ResolveInput) (activities.ResolveResult, error) {
		return activities.ResolveResult{Key: "pg/2026-11-25T233005Z-orders.gz", Size: 42, SHA256: strings.Repeat("a", 64), Staging: staged,
			HoldError: "could not write hold: access denied"}, nil
	}}
	env, c := setup(t, nil, resolve)
	env.ExecuteWorkflow(Pull, PullInput{Task: task("pull")})
	var res PullResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if c.get("ReleaseHold") != 0 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "could not write hold") {
		t.Fatalf("ReleaseHold ran %d times; notes %v", c.get("ReleaseHold"), res.Notes)
	}
}

func TestPruneDumpsRunsOnlyForPushTasks(t *testing.T) {
	env, c := setup(t, nil)
	env.RegisterWorkflow(PruneDumps)
	env.ExecuteWorkflow(PruneDumps, PruneInput{Task: task("pull"), DryRun: true})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "only a push task's keep and keep_days say what to prune") {
		t.Fatalf("error %v", err)
	}
	if c.get("Prune") != 0 {
		t.Fatal("pruned for a pull task")
	}
	env, c = setup(t, nil)
	env.ExecuteWorkflow(PruneDumps, PruneInput{Task: keepTask(3), DryRun: true})
	var res activities.PruneResult
	if err := env.GetWorkflowResult(&res); err != nil || !res.DryRun || c.get("Prune") != 1 || c.get("AcquireLock") != 0 {
		t.Fatalf("result %+v, %v; steps %v", res, err, c.order)
	}
}
