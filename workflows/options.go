// Package workflows orchestrates push and pull. It does no I/O: every step
// is an activity on the database host's task queue, and everything a run
// needs arrives in its input. Workflow type names ("Push", "Pull") and the
// input JSON are stable: operators start runs with the temporal CLI.
package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// Timeouts lets a run override how long it waits; zero fields take the
// defaults below. Tests shorten them; operators rarely need to.
type Timeouts struct {
	// HostWait is how long a step may wait for the host's worker to pick
	// it up before the host is declared unavailable (ScheduleToStart).
	HostWait time.Duration `json:"host_wait,omitempty"`
	// Heartbeat is how long a long step may go silent before it is
	// considered dead and retried.
	Heartbeat time.Duration `json:"heartbeat,omitempty"`
}

func (t Timeouts) withDefaults() Timeouts {
	if t.HostWait == 0 {
		t.HostWait = 5 * time.Minute
	}
	if t.Heartbeat == 0 {
		// Six heartbeats (activities.HeartbeatEvery): a worker killed
		// mid-step is noticed, and the step retried, within half a
		// minute. A stalled transfer on a live worker is failed by the
		// store, which watches bytes moving.
		t.Heartbeat = 30 * time.Second
	}
	return t
}

// step is one activity's options, chosen for what it does.
type step struct {
	name        string
	startToEnd  time.Duration
	heartbeat   bool
	maxAttempts int32
	initial     time.Duration
}

var (
	// Quick bookkeeping on the host: a few fast retries.
	stepLock    = step{name: "lock", startToEnd: time.Minute, maxAttempts: 5, initial: time.Second}
	stepCleanup = step{name: "cleanup", startToEnd: 10 * time.Minute, maxAttempts: 5, initial: 5 * time.Second}
	stepHook    = step{name: "hook", startToEnd: 30 * time.Minute, maxAttempts: 1, initial: time.Second}
	stepResolve = step{name: "resolve", startToEnd: 5 * time.Minute, maxAttempts: 5, initial: 5 * time.Second}
	// The database tools: a failed dump or restore is usually not
	// transient, so few attempts, each with a fresh start. Both stream
	// to or from the store, so a broken transfer fails them too: the
	// retry comes soon (damage and engine errors are non-retryable and
	// fail at once). Sanitising the staging copy runs as long as the
	// restore before it, so it has the same patience for a worker lost
	// mid-way: four attempts, the first retry after 10 s.
	stepDump     = step{name: "dump", startToEnd: 24 * time.Hour, heartbeat: true, maxAttempts: 3, initial: 10 * time.Second}
	stepRestore  = step{name: "restore", startToEnd: 24 * time.Hour, heartbeat: true, maxAttempts: 4, initial: 10 * time.Second}
	stepSanitise = step{name: "sanitise", startToEnd: 12 * time.Hour, heartbeat: true, maxAttempts: 4, initial: 10 * time.Second}
	// Counting reads every table of the staging copy once.
	stepVerify = step{name: "verify", startToEnd: 12 * time.Hour, heartbeat: true, maxAttempts: 3, initial: 10 * time.Second}
	stepSwap   = step{name: "swap", startToEnd: 10 * time.Minute, maxAttempts: 5, initial: 5 * time.Second}
	// Listing and deleting old dumps: a failure is usually the store
	// being away, worth a few patient retries; each attempt plans anew.
	stepPrune = step{name: "prune", startToEnd: 30 * time.Minute, heartbeat: true, maxAttempts: 4, initial: 30 * time.Second}
	// Reading a database's schema and sampling its columns (sanitise
	// init, a push's check of its pulls' rule sets).
	stepSurvey = step{name: "survey", startToEnd: 30 * time.Minute, maxAttempts: 3, initial: 5 * time.Second}
	// Network transfers: many attempts, each resuming or repeating only
	// the transfer.
	stepTransfer = step{name: "transfer", startToEnd: 12 * time.Hour, heartbeat: true, maxAttempts: 10, initial: 10 * time.Second}
)

// on returns ctx set up to run s on the task's host queue.
func on(ctx workflow.Context, task config.Task, t Timeouts, s step) workflow.Context {
	o := workflow.ActivityOptions{
		TaskQueue:              TaskQueue(task.WorkerHost),
		ScheduleToStartTimeout: t.HostWait,
		StartToCloseTimeout:    s.startToEnd,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    s.initial,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    s.maxAttempts,
		},
	}
	if s.heartbeat {
		o.HeartbeatTimeout = t.Heartbeat
	}
	return workflow.WithActivityOptions(ctx, o)
}

// Error types of the workflows' own failures (the steps' are in package
// activities). ErrHostUnavailable: no worker on the task's host picked up
// a step. ErrWorkerMismatch: a step answered without what this workflow
// needs of it (a worker of another envsync version).
const (
	ErrHostUnavailable = "HostUnavailable"
	ErrWorkerMismatch  = "WorkerMismatch"
)

// explain turns a step's failure into the run's error, naming the step and,
// for a host nobody serves, what to start where.
func explain(task config.Task, t Timeouts, what string, err error) error {
	var te *temporal.TimeoutError
	if errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"%s: no envsync worker picked up the step on task queue %s within %s; is `envsync worker --host %s` running on that host?",
			what, TaskQueue(task.WorkerHost), t.HostWait, task.WorkerHost), ErrHostUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func hostUnavailable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == ErrHostUnavailable
}

func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError("invalid task: "+err.Error(), activities.ErrInvalidTask, nil)
}

func seconds(ctx workflow.Context, since time.Time) float64 {
	return workflow.Now(ctx).Sub(since).Seconds()
}
