package starter

// Starting a run on Temporal: under the workflow ID of the target it writes
// or reads, attaching to an identical request already running, refusing a
// different one. The command line, chained pulls and tests all start runs
// through Start.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/workflows"
)

// InputError is bad input from the user: the command exits 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

const memoRequest = "envsync_request"

// fingerprint identifies a request, so a repeated identical start attaches
// to the run already going instead of being refused.
func fingerprint(r workflows.Request) string {
	b, _ := json.Marshal(struct {
		Task           config.Task
		Timestamp, Key string
		AllowProtected bool
		Then           []config.Task
	}{r.Task, r.Timestamp, r.Key, r.AllowProtected, r.Then})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate checks a request where it enters envsync: as the workflow will
// (workflows.Request.Validate), and a -t that a --key would override must
// still be a pull's valid minute. Its error is an InputError.
func Validate(r *workflows.Request, source string) error {
	if r.Timestamp != "" {
		if r.Task.Action != config.ActionPull {
			return &InputError{Err: &config.FieldError{Source: source, Task: r.Task.Name, Field: "timestamp", Value: r.Timestamp, Reason: "only a pull restores a chosen dump"}}
		}
		if _, err := config.ParseTimestamp(source, r.Timestamp); err != nil {
			return &InputError{Err: err}
		}
	}
	if err := r.Validate(source); err != nil {
		return &InputError{Err: err}
	}
	return nil
}

// Start starts the run, or attaches to one already running for the same
// request. A different run of the same database is refused.
func Start(ctx context.Context, c client.Client, r workflows.Request) (client.WorkflowRun, error) {
	if err := Validate(&r, "request"); err != nil {
		return nil, err
	}
	act, err := workflows.ActionOf(r.Task.Action)
	if err != nil {
		return nil, &InputError{err}
	}
	id := workflows.WorkflowID(r.Task)
	fp := fingerprint(r)
	opts := workflows.Start{ID: id, Task: r.Task, Summary: act.Summary(r.Task)}.Client()
	opts.Memo = map[string]any{memoRequest: fp}
	run, err := c.ExecuteWorkflow(ctx, opts, act.Workflow, act.Input(r))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return attach(ctx, c, id, started.RunId, fp)
	}
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return nil, fmt.Errorf("start %s: %w (if it names a search attribute, start `envsync worker` once to register them, or see the README)", id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return run, nil
}

func attach(ctx context.Context, c client.Client, id, runID, fp string) (client.WorkflowRun, error) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		return nil, fmt.Errorf("another run %s of this database is in progress, and describing it failed: %w", id, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	var theirs string
	if p := info.GetMemo().GetFields()[memoRequest]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &theirs)
	}
	if theirs == fp {
		return c.GetWorkflow(ctx, id, info.GetExecution().GetRunId()), nil
	}
	return nil, fmt.Errorf("another run of this database is in progress (%s workflow %s, run %s, started %s); wait for it, or cancel it with: temporal workflow cancel --workflow-id %s",
		info.GetType().GetName(), id, info.GetExecution().GetRunId(), info.GetStartTime().AsTime().Format("2006-01-02 15:04:05Z"), id)
}

// Logger is the Temporal SDK logger for envsync's own processes: warnings
// and errors to stderr, not the SDK's per-activity debug lines.
func Logger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
