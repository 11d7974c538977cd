package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/notify"
)

// n is only used for its method values, which name the notify activity.
var n *notify.Activities

// run is what Push and Pull share: the lock, before and after hooks,
// host-side cleanups and the monitoring report, all released or sent
// however the run ends.
type run struct {
	task     config.Task
	t        Timeouts
	start    time.Time
	cleanups []func(ctx workflow.Context)
	// Key and Location fill the monitoring message once known.
	key, location string
	// skipped says why the run did nothing (engine preflight).
	skipped string
	// warning is what a successful run reports as a WARNING.
	warning string
}

func newRun(ctx workflow.Context, task config.Task, t Timeouts) *run {
	return &run{task: task, t: t.withDefaults(), start: workflow.Now(ctx)}
}

// begin takes the reboot lock and runs the before hooks. A failing hook
// stops the run before any data step.
func (r *run) begin(ctx workflow.Context) error {
	lock := activities.LockInput{Task: r.task.Name}
	if err := workflow.ExecuteActivity(on(ctx, r.task, r.t, stepLock), a.AcquireLock, lock).Get(ctx, nil); err != nil {
		return explain(r.task, r.t, "acquire reboot lock", err)
	}
	r.cleanups = append(r.cleanups, func(cctx workflow.Context) {
		if err := workflow.ExecuteActivity(cctx, a.RemoveTemp, activities.CleanupInput{Task: r.task}).Get(cctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("could not remove temp files", "error", err)
		}
		if err := workflow.ExecuteActivity(cctx, a.ReleaseLock, lock).Get(cctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("could not release reboot lock", "error", err)
		}
	})
	for _, h := range r.task.Before {
		in := activities.HookInput{Task: r.task, Name: h, Phase: "before"}
		if err := workflow.ExecuteActivity(on(ctx, r.task, r.t, stepHook), a.RunHook, in).Get(ctx, nil); err != nil {
			return explain(r.task, r.t, "before hook "+h+" (no data was changed)", err)
		}
	}
	return nil
}

// preflight asks the host whether the run belongs on this server; a
// non-empty answer skips the run, which is reported as skipped.
func (r *run) preflight(ctx workflow.Context) (string, error) {
	var res activities.PreflightResult
	if err := workflow.ExecuteActivity(on(ctx, r.task, r.t, stepLock), a.Preflight, activities.PreflightInput{Task: r.task}).Get(ctx, &res); err != nil {
		return "", explain(r.task, r.t, "preflight", err)
	}
	r.skipped = res.Skip
	return res.Skip, nil
}

// resolve finds the dump a pull or drill restores (Resolve holds it
// against pruning; the hold goes when the run ends) and checks the host
// named the staging copy to restore it into, as only its engine knows how
// long a name its server takes.
func (r *run) resolve(ctx workflow.Context, in activities.ResolveInput) (activities.ResolveResult, error) {
	var rr activities.ResolveResult
	if err := workflow.ExecuteActivity(on(ctx, r.task, r.t, stepResolve), a.Resolve, in).Get(ctx, &rr); err != nil {
		return rr, explain(r.task, r.t, "find dump of "+r.task.DumpName(), err)
	}
	r.key = rr.Key
	if rr.Hold != "" {
		r.cleanups = append(r.cleanups, func(cctx workflow.Context) {
			if err := workflow.ExecuteActivity(cctx, a.ReleaseHold, activities.ReleaseInput{Task: r.task, Hold: rr.Hold}).Get(cctx, nil); err != nil {
				workflow.GetLogger(ctx).Error("could not remove the run's hold on its dump; it expires by itself", "hold", rr.Hold, "error", err)
			}
		})
	}
	if rr.Staging == "" {
		return rr, temporal.NewNonRetryableApplicationError("find dump of "+r.task.DumpName()+": the worker named no staging copy to restore into; run the same envsync version on "+r.task.WorkerHost+" as on the central worker",
			ErrWorkerMismatch, nil)
	}
	return rr, nil
}

// dropAtEnd drops the staging copy when the run ends, unless *kept says it
// was swapped in (or dropped already).
func (r *run) dropAtEnd(ctx workflow.Context, staging string, kept *bool) {
	r.cleanups = append(r.cleanups, func(cctx workflow.Context) {
		if *kept {
			return
		}
		if err := workflow.ExecuteActivity(cctx, a.DropStaging, activities.DropInput{Task: r.task, Staging: staging}).Get(cctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("could not drop staging database; drop it by hand", "staging", staging, "error", err)
		}
	})
}

// finish runs the cleanups (newest first), the after hooks and the
// monitoring report, in a context that survives cancellation.
func (r *run) finish(ctx workflow.Context, err error) {
	log := workflow.GetLogger(ctx)
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	outcome := notify.OutcomeOK
	switch {
	case err != nil:
		outcome = notify.OutcomeFailed
	case r.skipped != "":
		outcome = notify.OutcomeSkipped
	}
	if !hostUnavailable(err) { // nobody there to clean up; the next run takes the lock over
		cctx := on(dctx, r.task, r.t, stepCleanup)
		for i := len(r.cleanups) - 1; i >= 0; i-- {
			r.cleanups[i](cctx)
		}
		for _, h := range r.task.After {
			in := activities.HookInput{Task: r.task, Name: h, Phase: "after", Outcome: outcome}
			if herr := workflow.ExecuteActivity(on(dctx, r.task, r.t, stepHook), a.RunHook, in).Get(dctx, nil); herr != nil {
				log.Error("after hook failed", "hook", h, "error", herr)
			}
		}
	}
	report := notify.Report{Task: r.task, Outcome: outcome, Key: r.key, Location: r.location, Seconds: seconds(ctx, r.start)}
	if err != nil {
		report.Error = failure.Text(err)
	} else if r.skipped != "" {
		report.Error = r.skipped
	} else {
		report.Warning = r.warning
	}
	nctx := workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		TaskQueue:           CentralQueue,
		StartToCloseTimeout: time.Minute,
		// As the original's send_nsca: a few tries, 20 seconds apart.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 20 * time.Second, BackoffCoefficient: 1, MaximumAttempts: 5},
	})
	if nerr := workflow.ExecuteActivity(nctx, n.Notify, report).Get(nctx, nil); nerr != nil {
		log.Error("could not report to monitoring", "error", nerr)
	}
}
