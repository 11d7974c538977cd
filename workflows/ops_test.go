package workflows

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/notify"
)

// Every run ends with one monitoring report, whatever happened.
func TestEveryRunIsReported(t *testing.T) {
	cases := map[string]struct {
		fail    map[string]error
		outcome string
		errPart string
	}{
		"success":      {nil, notify.OutcomeOK, ""},
		"dump fails":   {map[string]error{"Dump": permanentErr("pg_dump exited 1")}, notify.OutcomeFailed, "pg_dump exited 1"},
		"lock fails":   {map[string]error{"AcquireLock": permanentErr("disk full")}, notify.OutcomeFailed, "disk full"},
		"upload fails": {map[string]error{"Upload": permanentErr("AccessDenied")}, notify.OutcomeFailed, "AccessDenied"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, c := setup(t, tc.fail)
			env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
			if len(c.reports) != 1 {
				t.Fatalf("%d reports, want 1", len(c.reports))
			}
			r := c.reports[0]
			if r.Outcome != tc.outcome || !strings.Contains(r.Error, tc.errPart) || r.Task.Database != "orders" {
				t.Errorf("report %+v", r)
			}
			if tc.outcome == notify.OutcomeOK && r.Key != "pg/2026-11-25T233005Z-orders.gz" {
				t.Errorf("report lacks the dump key: %+v", r)
			}
		})
	}
}

func TestCancelledRunIsReported(t *testing.T) {
	env, c := setup(t, nil, map[string]any{"Dump": func(ctx context.Context, _ activities.DumpInput) (activities.DumpResult, error) {
		<-ctx.Done()
		return activities.DumpResult{}, ctx.Err()
	}})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if len(c.reports) != 1 || c.reports[0].Outcome != notify.OutcomeFailed {
		t.Errorf("reports %+v", c.reports)
	}
}

// A failing before hook stops the run before any data step; after hooks
// run whatever the outcome and are told it.
func TestHooks(t *testing.T) {
	tk := task("pull")
	tk.Before = []string{"pause-replay"}
	tk.After = []string{"resume-replay"}

	env, c := setup(t, map[string]error{"RunHook:pause-replay": permanentErr("exited 3")})
	env.ExecuteWorkflow(Pull, PullInput{Task: tk})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "before hook pause-replay (no data was changed)") {
		t.Fatalf("error = %v", err)
	}
	if c.get("Resolve") != 0 || c.get("Restore") != 0 || c.get("Swap") != 0 {
		t.Error("a data step ran after the before hook failed")
	}
	if strings.Join(c.hooks, " ") != "before:pause-replay: after:resume-replay:failed" || c.get("ReleaseLock") != 1 {
		t.Errorf("hooks %v, release %d", c.hooks, c.get("ReleaseLock"))
	}

	env, c = setup(t, nil)
	env.ExecuteWorkflow(Pull, PullInput{Task: tk})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.hooks, " ") != "before:pause-replay: after:resume-replay:ok" {
		t.Errorf("hooks %v", c.hooks)
	}
}

func TestProtectedTargetNeedsExplicitPermission(t *testing.T) {
	tk := task("pull")
	tk.Protected = true
	env, c := setup(t, nil)
	env.ExecuteWorkflow(Pull, PullInput{Task: tk})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "protected") || c.get("AcquireLock") != 0 {
		t.Fatalf("error = %v, lock %d", err, c.get("AcquireLock"))
	}
	env, _ = setup(t, nil)
	env.ExecuteWorkflow(Pull, PullInput{Task: tk, AllowProtected: true})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// A schedule never passes the permission.
	env, c = setup(t, nil)
	env.RegisterWorkflow(Scheduled)
	env.ExecuteWorkflow(Scheduled, ScheduledInput{Task: tk})
	if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "protected") || c.get("Swap") != 0 {
		t.Errorf("scheduled pull into a protected target: %v", err)
	}
}

// A push with then: starts the pull of exactly the pushed key, and a pull
// that fails afterwards does not fail the push.
func TestPushChainsIntoPullOfThatKey(t *testing.T) {
	var pulledKey string
	env, _ := setup(t, map[string]error{"Swap": permanentErr("swap broke")}, map[string]any{
		"Resolve": func(_ context.Context, in activities.ResolveInput) (activities.ResolveResult, error) {
			pulledKey = in.Key
			return activities.ResolveResult{Key: in.Key, Staging: staged}, nil
		}})
	pull := task("pull")
	pull.WorkerHost = "staging-db1"
	env.ExecuteWorkflow(Push, PushInput{Task: task("push"), Then: []config.Task{pull}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("push failed because its chained pull did: %v", err)
	}
	var res PushResult
	_ = env.GetWorkflowResult(&res)
	if len(res.Chained) != 1 || res.Chained[0].WorkflowID != "envsync-staging-db1-local/orders" || res.Chained[0].Error != "" || res.Chained[0].RunID == "" {
		t.Errorf("chained %+v", res.Chained)
	}
	if pulledKey != res.Key {
		t.Errorf("chained pull restored %q, the push wrote %q", pulledKey, res.Key)
	}
}

func TestScheduledRunsTheTaskUnderItsOwnID(t *testing.T) {
	env, c := setup(t, nil)
	env.RegisterWorkflow(Push)
	env.RegisterWorkflow(Scheduled)
	env.ExecuteWorkflow(Scheduled, ScheduledInput{Task: task("push")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res ScheduledResult
	_ = env.GetWorkflowResult(&res)
	if res.WorkflowID != "envsync-db1-local/orders" || res.Push == nil || res.Push.Key == "" || c.get("Dump") != 1 {
		t.Errorf("result %+v, dumps %d", res, c.get("Dump"))
	}
}

// A run the engine says does not belong here (a MongoDB secondary) ends as
// skipped: no data step, no failure, a skipped check result.
func TestSkippedRunIsVisibleNotFailed(t *testing.T) {
	for _, action := range []string{"push", "pull"} {
		t.Run(action, func(t *testing.T) {
			tk := task(action)
			tk.DBMS = "mongo"
			env, c := setup(t, nil, map[string]any{"Preflight": func(context.Context, activities.PreflightInput) (activities.PreflightResult, error) {
				return activities.PreflightResult{Skip: "127.0.0.1:27017 is not the primary of replica set rs0"}, nil
			}})
			if action == "push" {
				env.ExecuteWorkflow(Push, PushInput{Task: tk})
			} else {
				env.ExecuteWorkflow(Pull, PullInput{Task: tk})
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("a skipped run failed: %v", err)
			}
			if c.get("Dump") != 0 || c.get("Resolve") != 0 || c.get("ReleaseLock") != 1 {
				t.Errorf("dump %d resolve %d release %d", c.get("Dump"), c.get("Resolve"), c.get("ReleaseLock"))
			}
			if len(c.reports) != 1 || c.reports[0].Outcome != notify.OutcomeSkipped || !strings.Contains(c.reports[0].Error, "not the primary") {
				t.Errorf("reports %+v", c.reports)
			}
		})
	}
}
