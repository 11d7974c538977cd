package workflows

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/notify"
)

func task(action string) config.Task {
	return config.Task{Name: "orders_" + action, Action: action, DBMS: "postgresql", StorageBackend: "file",
		Database: "orders", URL: "/srv/dumps", Path: "pg", WorkerHost: "db1"}
}

// counts records how often each step ran, so tests can assert that cleanup
// happened exactly once and that nothing ran twice that should not.
type counts struct {
	m       map[string]*atomic.Int32
	order   []string // steps in the order they ran
	hooks   []string
	reports []notify.Report
}

func newCounts() *counts { return &counts{m: map[string]*atomic.Int32{}} }
func (c *counts) inc(name string) {
	if c.m[name] == nil {
		c.m[name] = &atomic.Int32{}
	}
	c.m[name].Add(1)
	c.order = append(c.order, name)
}
func (c *counts) get(name string) int32 {
	if c.m[name] == nil {
		return 0
	}
	return c.m[name].Load()
}

// staged is the staging copy the Resolve mocks name, as Resolve does.
const staged = "orders_envsync_1a2b3c4d"

var (
	acts     = &activities.Activities{}
	notifier = &notify.Activities{}
)

// setup registers every activity with a default success and counts calls;
// fail maps a step name to the error it returns instead.
func setup(t *testing.T, fail map[string]error, override ...map[string]any) (*testsuite.TestWorkflowEnvironment, *counts) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(acts)
	env.RegisterActivity(notifier)
	env.RegisterWorkflow(Pull)
	c := newCounts()
	step := func(name string) error {
		c.inc(name)
		return fail[name]
	}
	on := func(activity any, name string, fn any) {
		for _, o := range override {
			if f, ok := o[name]; ok {
				fn = f
			}
		}
		env.OnActivity(activity, mock.Anything, mock.Anything).Return(fn)
	}
	on(acts.AcquireLock, "AcquireLock", func(context.Context, activities.LockInput) error { return step("AcquireLock") })
	on(acts.ReleaseLock, "ReleaseLock", func(context.Context, activities.LockInput) error { return step("ReleaseLock") })
	on(acts.RemoveTemp, "RemoveTemp", func(context.Context, activities.CleanupInput) error { return step("RemoveTemp") })
	on(acts.Dump, "Dump", func(context.Context, activities.DumpInput) (activities.DumpResult, error) {
		return activities.DumpResult{Path: "/tmp/x.gz", Size: 42, SHA256: strings.Repeat("a", 64), StartedAt: time.Date(2026, 11, 25, 23, 30, 5, 0, time.UTC)}, step("Dump")
	})
	on(acts.Upload, "Upload", func(_ context.Context, in activities.UploadInput) (activities.UploadResult, error) {
		if err := step("Upload"); err != nil {
			return activities.UploadResult{}, err
		}
		return activities.UploadResult{Key: "pg/2026-11-25T233005Z-orders.gz", ManifestKey: "pg/2026-11-25T233005Z-orders.gz.manifest.json"}, nil
	})
	on(acts.Resolve, "Resolve", func(_ context.Context, in activities.ResolveInput) (activities.ResolveResult, error) {
		key := "pg/2026-11-25T233005Z-orders.gz"
		if !in.Minute.IsZero() {
			key = "pg/" + in.Minute.Format("2006-01-02T1504") + "07Z-orders.gz"
		}
		if in.Key != "" {
			key = in.Key
		}
		return activities.ResolveResult{Key: key, Size: 42, SHA256: strings.Repeat("a", 64), Compression: "zstd",
			Staging: staged, Hold: "pg/.envsync-holds/orders/pull-1.json"}, step("Resolve")
	})
	on(acts.Download, "Download", func(context.Context, activities.DownloadInput) (activities.DownloadResult, error) {
		return activities.DownloadResult{Path: "/tmp/y.gz"}, step("Download")
	})
	on(acts.Restore, "Restore", func(context.Context, activities.RestoreInput) (activities.RestoreResult, error) {
		return activities.RestoreResult{}, step("Restore")
	})
	on(acts.Verify, "Verify", func(context.Context, activities.VerifyInput) (activities.VerifyResult, error) {
		return activities.VerifyResult{Tally: activities.Tally{Tables: 3, Rows: 42}, Exact: true}, step("Verify")
	})
	on(acts.Swap, "Swap", func(context.Context, activities.SwapInput) error { return step("Swap") })
	on(acts.DropStaging, "DropStaging", func(context.Context, activities.DropInput) error { return step("DropStaging") })
	on(acts.RunHook, "RunHook", func(_ context.Context, in activities.HookInput) error {
		c.hooks = append(c.hooks, in.Phase+":"+in.Name+":"+in.Outcome)
		return step("RunHook:" + in.Name)
	})
	on(acts.Preflight, "Preflight", func(context.Context, activities.PreflightInput) (activities.PreflightResult, error) {
		return activities.PreflightResult{}, step("Preflight")
	})
	on(acts.Prune, "Prune", func(_ context.Context, in activities.PruneInput) (activities.PruneResult, error) {
		return activities.PruneResult{Dumps: 2, Bytes: 84, DryRun: in.DryRun}, step("Prune")
	})
	on(acts.ReleaseHold, "ReleaseHold", func(context.Context, activities.ReleaseInput) error { return step("ReleaseHold") })
	on(notifier.Notify, "Notify", func(_ context.Context, r notify.Report) error {
		c.reports = append(c.reports, r)
		return step("Notify")
	})
	return env, c
}

func permanentErr(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, "Test", nil)
}

func TestPushStoresDumpAndReleasesLock(t *testing.T) {
	env, c := setup(t, nil)
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res PushResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Key != "pg/2026-11-25T233005Z-orders.gz" || res.Size != 42 || len(res.SHA256) != 64 {
		t.Errorf("result = %+v", res)
	}
	for _, s := range []string{"AcquireLock", "Dump", "Upload", "RemoveTemp", "ReleaseLock"} {
		if c.get(s) != 1 {
			t.Errorf("%s ran %d times, want 1", s, c.get(s))
		}
	}
}

// An upload that fails twice is retried from the same dump file: the
// database is dumped once.
func TestPushRetriesUploadWithoutDumpingAgain(t *testing.T) {
	var uploads atomic.Int32
	env, c := setup(t, nil, map[string]any{"Upload": func(_ context.Context, in activities.UploadInput) (activities.UploadResult, error) {
		if in.Dump.Path != "/tmp/x.gz" {
			t.Errorf("upload got dump %q", in.Dump.Path)
		}
		if uploads.Add(1) < 3 {
			return activities.UploadResult{}, errors.New("connection reset by peer")
		}
		return activities.UploadResult{Key: "k"}, nil
	}})
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if uploads.Load() != 3 || c.get("Dump") != 1 {
		t.Errorf("uploads=%d dumps=%d, want 3 uploads from 1 dump", uploads.Load(), c.get("Dump"))
	}
}

// A dump streamed to the store while it was taken needs no upload step;
// the result names its key.
func TestStreamedPushNeedsNoUpload(t *testing.T) {
	env, c := setup(t, nil, map[string]any{"Dump": func(_ context.Context, in activities.DumpInput) (activities.DumpResult, error) {
		return activities.DumpResult{Key: "pg/k.zst", ManifestKey: "pg/k.zst.manifest.json", Uploaded: true, Size: 42, Compression: "zstd"}, nil
	}})
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res PushResult
	_ = env.GetWorkflowResult(&res)
	if c.get("Upload") != 0 || res.Key != "pg/k.zst" || !res.Streamed {
		t.Errorf("uploads=%d result %+v; want no upload step and the streamed key", c.get("Upload"), res)
	}
}

func TestPushFailuresReleaseLockAndRemoveTemp(t *testing.T) {
	for _, failing := range []string{"Dump", "Upload"} {
		t.Run(failing, func(t *testing.T) {
			env, c := setup(t, map[string]error{failing: permanentErr(failing + " broke")})
			env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
			err := env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), failing+" broke") {
				t.Fatalf("error = %v, want the %s failure", err, failing)
			}
			if c.get("ReleaseLock") != 1 || c.get("RemoveTemp") != 1 {
				t.Errorf("release=%d removeTemp=%d, want 1 each", c.get("ReleaseLock"), c.get("RemoveTemp"))
			}
		})
	}
}

func TestPullRestoresIntoStagingThenSwaps(t *testing.T) {
	var restored, swapped string
	env, c := setup(t, nil, map[string]any{
		"Restore": func(_ context.Context, in activities.RestoreInput) (activities.RestoreResult, error) {
			restored = in.Staging
			return activities.RestoreResult{}, nil
		},
		"Swap": func(_ context.Context, in activities.SwapInput) error {
			swapped = in.Staging
			if !strings.Contains(in.Label, "pg/2026-11-25T233005Z-orders.gz") {
				t.Errorf("label %q does not name the dump", in.Label)
			}
			return nil
		},
	})
	env.ExecuteWorkflow(Pull, PullInput{Task: task("pull")})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if restored == "" || restored == "orders" || restored != swapped || !strings.HasPrefix(restored, "orders_envsync_") {
		t.Errorf("restored into %q, swapped %q: want one staging database, never the live one", restored, swapped)
	}
	if c.get("DropStaging") != 0 || c.get("ReleaseLock") != 1 || c.get("RemoveTemp") != 1 {
		t.Errorf("drop=%d release=%d removeTemp=%d", c.get("DropStaging"), c.get("ReleaseLock"), c.get("RemoveTemp"))
	}
}

func TestPullFailuresNeverSwapAndCleanUp(t *testing.T) {
	cases := []struct {
		failing     string
		dropStaging int32 // staging exists only once restore has started
	}{
		{"Resolve", 0}, {"Download", 0}, {"Restore", 1}, {"Verify", 1}, {"Swap", 1},
	}
	for _, tc := range cases {
		t.Run(tc.failing, func(t *testing.T) {
			env, c := setup(t, map[string]error{tc.failing: permanentErr(tc.failing + " broke")})
			pull := task("pull")
			pull.RestoreJobs = 2 // downloads first, so that Download runs
			env.ExecuteWorkflow(Pull, PullInput{Task: pull})
			err := env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), tc.failing+" broke") {
				t.Fatalf("error = %v, want the %s failure", err, tc.failing)
			}
			if tc.failing != "Swap" && c.get("Swap") != 0 {
				t.Errorf("swap ran after %s failed", tc.failing)
			}
			if c.get("DropStaging") != tc.dropStaging || c.get("ReleaseLock") != 1 || c.get("RemoveTemp") != 1 {
				t.Errorf("drop=%d (want %d) release=%d removeTemp=%d", c.get("DropStaging"), tc.dropStaging, c.get("ReleaseLock"), c.get("RemoveTemp"))
			}
		})
	}
}

func TestCancelReleasesLock(t *testing.T) {
	for _, wf := range []struct {
		name string
		run  func(env *testsuite.TestWorkflowEnvironment)
		slow string
	}{
		{"push", func(env *testsuite.TestWorkflowEnvironment) { env.ExecuteWorkflow(Push, PushInput{Task: task("push")}) }, "Dump"},
		{"pull", func(env *testsuite.TestWorkflowEnvironment) { env.ExecuteWorkflow(Pull, PullInput{Task: task("pull")}) }, "Restore"},
	} {
		t.Run(wf.name, func(t *testing.T) {
			var slow atomic.Int32
			block := func(ctx context.Context) error {
				slow.Add(1)
				<-ctx.Done()
				return ctx.Err()
			}
			env, c := setup(t, nil, map[string]any{
				"Dump": func(ctx context.Context, _ activities.DumpInput) (activities.DumpResult, error) {
					return activities.DumpResult{}, block(ctx)
				},
				"Restore": func(ctx context.Context, _ activities.RestoreInput) (activities.RestoreResult, error) {
					return activities.RestoreResult{}, block(ctx)
				},
			})
			env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
			wf.run(env)
			if err := env.GetWorkflowError(); err == nil || !temporal.IsCanceledError(errors.Unwrap(err)) && !strings.Contains(err.Error(), "canceled") {
				t.Fatalf("error = %v, want cancellation", err)
			}
			if slow.Load() != 1 || c.get("ReleaseLock") != 1 || c.get("RemoveTemp") != 1 {
				t.Errorf("%s=%d release=%d removeTemp=%d", wf.slow, slow.Load(), c.get("ReleaseLock"), c.get("RemoveTemp"))
			}
			if wf.name == "pull" && c.get("DropStaging") != 1 {
				t.Errorf("staging not dropped after a cancelled restore")
			}
		})
	}
}

func TestPullTimestampSelectsThatMinute(t *testing.T) {
	var got time.Time
	env, _ := setup(t, nil, map[string]any{"Resolve": func(_ context.Context, in activities.ResolveInput) (activities.ResolveResult, error) {
		got = in.Minute
		return activities.ResolveResult{Key: "pg/2026-11-20T083012Z-orders.gz", Staging: staged}, nil
	}})
	env.ExecuteWorkflow(Pull, PullInput{Task: task("pull"), Timestamp: "2026-11-20T08:30"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("resolve asked for %v, want %v (the -t value must never be replaced by latest)", got, want)
	}
	var res PullResult
	_ = env.GetWorkflowResult(&res)
	if res.Key != "pg/2026-11-20T083012Z-orders.gz" {
		t.Errorf("restored %q", res.Key)
	}
}

func TestPullTimestampWithoutDumpFailsOnceClearly(t *testing.T) {
	env, c := setup(t, map[string]error{"Resolve": temporal.NewNonRetryableApplicationError(
		"pull of orders in file:///srv/dumps/pg: no complete dump found at 2026-01-01T00:00 UTC; newest available: 2026-11-25T23:30:05Z", "NoDump", nil)})
	env.ExecuteWorkflow(Pull, PullInput{Task: task("pull"), Timestamp: "2026-01-01T00:00"})
	err := env.GetWorkflowError()
	if err == nil || !strings.Contains(err.Error(), "no complete dump found at 2026-01-01T00:00") {
		t.Fatalf("error = %v", err)
	}
	if c.get("Resolve") != 1 || c.get("Download") != 0 || c.get("ReleaseLock") != 1 {
		t.Errorf("resolve=%d download=%d release=%d", c.get("Resolve"), c.get("Download"), c.get("ReleaseLock"))
	}
}

func TestInvalidInputRunsNoStep(t *testing.T) {
	cases := map[string]func(env *testsuite.TestWorkflowEnvironment){
		"bad timestamp": func(env *testsuite.TestWorkflowEnvironment) {
			env.ExecuteWorkflow(Pull, PullInput{Task: task("pull"), Timestamp: "yesterday"})
		},
		"bad dbms": func(env *testsuite.TestWorkflowEnvironment) {
			tk := task("push")
			tk.DBMS = "oracle"
			env.ExecuteWorkflow(Push, PushInput{Task: tk})
		},
		"pull task to push": func(env *testsuite.TestWorkflowEnvironment) { env.ExecuteWorkflow(Push, PushInput{Task: task("pull")}) },
	}
	for name, run := range cases {
		t.Run(name, func(t *testing.T) {
			env, c := setup(t, nil)
			run(env)
			err := env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), "invalid task") {
				t.Fatalf("error = %v", err)
			}
			if c.get("AcquireLock") != 0 {
				t.Error("a step ran for invalid input")
			}
		})
	}
}

// A store the server keeps itself (a snapshot repository) goes through the
// same steps: the dump comes back stored, so nothing is uploaded, and the
// resolved snapshot is restored by name, so nothing is downloaded. The
// staging copy is the one the host named.
func TestNativeStoreTakesTheSameSteps(t *testing.T) {
	env, c := setup(t, nil, map[string]any{"Dump": func(context.Context, activities.DumpInput) (activities.DumpResult, error) {
		return activities.DumpResult{Key: "orders-20261125t233005z", Location: "es_snapshot://repo", Uploaded: true, Native: true}, nil
	}})
	push := task("push")
	push.DBMS, push.StorageBackend, push.URL, push.Path = "elasticsearch", "es_snapshot", "repo", ""
	env.ExecuteWorkflow(Push, PushInput{Task: push})
	var res PushResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if c.get("Upload") != 0 || res.Key != "orders-20261125t233005z" || res.Streamed {
		t.Errorf("uploads=%d result %+v; want the snapshot, no upload", c.get("Upload"), res)
	}

	var restored activities.RestoreInput
	env, c = setup(t, nil, map[string]any{
		"Resolve": func(context.Context, activities.ResolveInput) (activities.ResolveResult, error) {
			return activities.ResolveResult{Key: "orders-20261125t233005z", Native: true, Staging: "orders_envsync_host"}, nil
		},
		"Restore": func(_ context.Context, in activities.RestoreInput) (activities.RestoreResult, error) {
			restored = in
			return activities.RestoreResult{}, nil
		},
	})
	pull := task("pull")
	pull.DBMS, pull.StorageBackend, pull.URL, pull.Path = "elasticsearch", "es_snapshot", "repo", ""
	env.ExecuteWorkflow(Pull, PullInput{Task: pull})
	var pres PullResult
	if err := env.GetWorkflowResult(&pres); err != nil {
		t.Fatal(err)
	}
	if c.get("Download") != 0 || restored.Key != "orders-20261125t233005z" || restored.Staging != "orders_envsync_host" || pres.Staging != "orders_envsync_host" {
		t.Errorf("downloads=%d restored %+v result %+v; want the snapshot restored by name into the host's staging name", c.get("Download"), restored, pres)
	}
}

// A pull verifies its staging copy by default, before the swap, and reports
// it; verify: none skips the step.
func TestPullVerifiesBeforeSwap(t *testing.T) {
	for _, mode := range []string{"", config.VerifyCounts, config.VerifyNone} {
		verified := 0
		env, _ := setup(t, nil, map[string]any{
			"Verify": func(context.Context, activities.VerifyInput) (activities.VerifyResult, error) {
				verified++
				return activities.VerifyResult{Tally: activities.Tally{Tables: 3, Rows: 42}, Exact: true}, nil
			},
			"Swap": func(context.Context, activities.SwapInput) error {
				if (mode == config.VerifyNone) != (verified == 0) {
					t.Errorf("verify %q: Verify ran %d times before the swap", mode, verified)
				}
				return nil
			},
		})
		pull := task("pull")
		pull.Verify = mode
		env.ExecuteWorkflow(Pull, PullInput{Task: pull})
		var res PullResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if got := res.Verified != nil; got != (mode != config.VerifyNone) || verified > 1 {
			t.Errorf("verify %q: result %+v, Verify ran %d times", mode, res.Verified, verified)
		}
	}
}

// A worker lost three times during a long sanitise (as during a restore)
// does not fail the pull: the step has the restore's patience.
func TestPullSurvivesAWorkerLostThriceWhileSanitising(t *testing.T) {
	for _, step := range []string{"Restore", "Sanitise"} {
		t.Run(step, func(t *testing.T) {
			var attempts atomic.Int32
			lost := func(name string) error {
				if name == step && attempts.Add(1) <= 3 {
					return temporal.NewHeartbeatTimeoutError("the worker died")
				}
				return nil
			}
			env, c := setup(t, nil, map[string]any{
				"Restore": func(context.Context, activities.RestoreInput) (activities.RestoreResult, error) {
					return activities.RestoreResult{}, lost("Restore")
				},
			})
			env.OnActivity(acts.Sanitise, mock.Anything, mock.Anything).Return(func(context.Context, activities.SanitiseInput) (activities.SanitiseResult, error) {
				return activities.SanitiseResult{}, lost("Sanitise")
			})
			pull := task("pull")
			pull.SanitiseRules, pull.SanitiseSHA256 = "/etc/envsync/orders.yaml", strings.Repeat("b", 64)
			env.ExecuteWorkflow(Pull, PullInput{Task: pull})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("pull failed after %d attempts of %s: %v", attempts.Load(), step, err)
			}
			if attempts.Load() != 4 || c.get("Swap") != 1 {
				t.Errorf("%s ran %d times, swap %d; want 4 and 1", step, attempts.Load(), c.get("Swap"))
			}
		})
	}
}

// A push checks the rule sets of the pulls it feeds beside its dump: what
// one misses, or a check that cannot be made, is a warning in its result
// and its check result, never a failed push.
func TestPushWarnsOfPullRulesThatMissColumns(t *testing.T) {
	pullA, pullB := task("pull"), task("pull")
	pullA.Name, pullA.WorkerHost, pullA.SanitiseRules = "pull_a", "staging1", "/etc/envsync/a.yaml"
	pullB.Name, pullB.WorkerHost, pullB.SanitiseRules = "pull_b", "staging2", "/etc/envsync/b.yaml"
	env, c := setup(t, nil)
	env.OnActivity(acts.Columns, mock.Anything, mock.Anything).Return(func(context.Context, activities.ColumnsInput) ([]activities.TableColumns, error) {
		c.inc("Columns")
		return []activities.TableColumns{{Table: "people", Columns: []string{"id", "ni_number"}}}, nil
	})
	env.OnActivity(acts.Unnamed, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.UnnamedInput) (activities.UnnamedResult, error) {
		c.inc("Unnamed")
		if in.Task.Name == "pull_b" {
			return activities.UnnamedResult{}, permanentErr("rule set /etc/envsync/b.yaml changed since the task was loaded")
		}
		if len(in.Tables) != 1 || in.Tables[0].Columns[1] != "ni_number" {
			t.Errorf("the pull's host was asked about %+v", in.Tables)
		}
		return activities.UnnamedResult{RuleSet: in.Task.SanitiseRules, Unnamed: []string{"people.ni_number"}}, nil
	})
	env.ExecuteWorkflow(Push, PushInput{Task: task("push"), PullRules: []config.Task{pullA, pullB}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("the push failed over a rule check: %v", err)
	}
	var res PushResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if c.get("Columns") != 1 || c.get("Unnamed") != 2 || len(res.RulesChecks) != 2 || res.Key == "" {
		t.Fatalf("columns %d, unnamed %d, result %+v", c.get("Columns"), c.get("Unnamed"), res)
	}
	for _, want := range []string{"rule set /etc/envsync/a.yaml of pull pull_a does not name people.ni_number", "could not check the rule set of pull pull_b"} {
		if !strings.Contains(res.Warning, want) {
			t.Errorf("warning %q lacks %q", res.Warning, want)
		}
	}
	if n := len(c.reports); n != 1 || c.reports[0].Outcome != notify.OutcomeOK || c.reports[0].Warning != res.Warning {
		t.Errorf("reports %+v: want one OK report carrying the warning", c.reports)
	}

	// Without pulls to check, no step is added.
	env, c = setup(t, nil)
	env.ExecuteWorkflow(Push, PushInput{Task: task("push")})
	if c.get("Columns") != 0 || c.get("Unnamed") != 0 || env.GetWorkflowError() != nil {
		t.Errorf("a push without pulls' rules checked something: %v", env.GetWorkflowError())
	}
}
