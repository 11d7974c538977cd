// Package starter turns a task (from a tasks file, a legacy .cfg or the
// original script's flags) into a Push or Pull run on Temporal, waits for it
// and reports what happened.
package starter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/workflows"
)

// Request is one run to start.
type Request struct {
	Task config.Task
	// Timestamp (pull only): restore the dump of that UTC minute.
	Timestamp string
	// Key (pull only): restore exactly this dump.
	Key string
	// AllowProtected (pull only): the person starting it means to pull
	// into a protected target.
	AllowProtected bool
	// Then (push only): pulls to start with the pushed dump.
	Then     []config.Task
	Timeouts workflows.Timeouts
}

// InputError is bad input from the user: the command exits 2.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

const memoRequest = "envsync_request"

// fingerprint identifies a request, so a repeated identical start attaches
// to the run already going instead of being refused.
func fingerprint(r Request) string {
	b, _ := json.Marshal(struct {
		Task           config.Task
		Timestamp, Key string
		AllowProtected bool
		Then           []config.Task
	}{r.Task, r.Timestamp, r.Key, r.AllowProtected, r.Then})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Validate checks the request as the workflow will, before anything starts.
func (r *Request) Validate(source string) error {
	r.Task.Normalise()
	if err := r.Task.Validate(source); err != nil {
		return &InputError{err}
	}
	if r.Task.Protected && r.Task.Action == config.ActionPull && !r.AllowProtected {
		return &InputError{&config.FieldError{Source: source, Task: r.Task.Name, Field: "protected", Value: "true",
			Reason: "this pull would replace a protected database; add --allow-protected if you mean it"}}
	}
	if r.Timestamp != "" {
		if r.Task.Action != config.ActionPull {
			return &InputError{&config.FieldError{Source: source, Task: r.Task.Name, Field: "timestamp", Value: r.Timestamp, Reason: "only a pull restores a chosen dump"}}
		}
		if _, err := config.ParseTimestamp(source, r.Timestamp); err != nil {
			return &InputError{err}
		}
	}
	return nil
}

// Start starts the run, or attaches to one already running for the same
// request. A different run of the same database is refused.
func Start(ctx context.Context, c client.Client, r Request) (client.WorkflowRun, error) {
	if err := r.Validate("request"); err != nil {
		return nil, err
	}
	id := r.Task.WorkflowID()
	fp := fingerprint(r)
	opts := client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                config.CentralQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    searchattr.For(r.Task),
		Memo:                                     map[string]any{memoRequest: fp},
		StaticSummary:                            fmt.Sprintf("%s %s %s via %s", r.Task.Action, r.Task.DBMS, r.Task.Database, r.Task.StorageBackend),
	}
	var run client.WorkflowRun
	var err error
	switch r.Task.Action {
	case config.ActionPush:
		run, err = c.ExecuteWorkflow(ctx, opts, "Push", workflows.PushInput{Task: r.Task, Then: r.Then, Timeouts: r.Timeouts})
	case config.ActionS3Sync:
		run, err = c.ExecuteWorkflow(ctx, opts, "Sync", workflows.SyncInput{Task: r.Task, Timeouts: r.Timeouts})
	default:
		run, err = c.ExecuteWorkflow(ctx, opts, "Pull", workflows.PullInput{Task: r.Task, Timestamp: r.Timestamp, Key: r.Key,
			AllowProtected: r.AllowProtected, Timeouts: r.Timeouts})
	}
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

// Outcome is a finished run.
type Outcome struct {
	WorkflowID string
	RunID      string
	Push       *workflows.PushResult
	Pull       *workflows.PullResult
	Sync       *activities.SyncResult
}

// Run starts (or attaches to) the run and waits for it.
func Run(ctx context.Context, c client.Client, r Request) (Outcome, error) {
	return RunWatched(ctx, c, r, nil)
}

// RunWatched is Run, printing progress to w (nil: none) while it waits.
func RunWatched(ctx context.Context, c client.Client, r Request, w *Watch) (Outcome, error) {
	run, err := Start(ctx, c, r)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{WorkflowID: run.GetID(), RunID: run.GetRunID()}
	if w != nil {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { w.watch(wctx, c, run.GetID(), run.GetRunID()); close(done) }()
		defer func() { stop(); <-done }()
	}
	switch r.Task.Action {
	case config.ActionPush:
		out.Push = &workflows.PushResult{}
		err = run.Get(ctx, out.Push)
	case config.ActionS3Sync:
		out.Sync = &activities.SyncResult{}
		err = run.Get(ctx, out.Sync)
	default:
		out.Pull = &workflows.PullResult{}
		err = run.Get(ctx, out.Pull)
	}
	return out, err
}

// Report prints a run that succeeded, for a person: what ran, where it
// went, how long it took, and the pulls a push started.
func Report(w io.Writer, o Outcome) {
	fmt.Fprintf(w, "workflow  %s\nrun       %s\n", o.WorkflowID, o.RunID)
	switch {
	case o.Push != nil && o.Push.Skipped != "":
		fmt.Fprintf(w, "skipped   %s\n", o.Push.Skipped)
	case o.Pull != nil && o.Pull.Skipped != "":
		fmt.Fprintf(w, "skipped   %s\n", o.Pull.Skipped)
	case o.Push != nil:
		p := o.Push
		fmt.Fprintf(w, "pushed    %s\n", p.Key)
		if p.ManifestKey != "" { // a snapshot has none
			fmt.Fprintf(w, "manifest  %s\n", p.ManifestKey)
		}
		fmt.Fprintf(w, "location  %s\n", p.Location)
		if p.Size > 0 {
			fmt.Fprintf(w, "size      %s %s  sha256 %s\n", dump.HumanSize(p.Size), p.Compression, p.SHA256)
		}
		if p.Streamed {
			fmt.Fprintf(w, "took      dump and upload %.1fs (streamed), total %.1fs\n", p.DumpSeconds, p.TotalSeconds)
		} else {
			fmt.Fprintf(w, "took      dump %.1fs, upload %.1fs, total %.1fs\n", p.DumpSeconds, p.UploadSeconds, p.TotalSeconds)
		}
		if p.Sanitised != nil {
			fmt.Fprintf(w, "sanitised before upload with rules sha256 %s, verified\n", p.Sanitised.RulesSHA256)
		}
		for _, c := range p.Chained {
			where := c.WorkflowID
			if c.Namespace != "" {
				where += " in namespace " + c.Namespace
			}
			if c.Error != "" {
				fmt.Fprintf(w, "chained   %s (%s) did not start: %s\n", c.Task, where, c.Error)
			} else {
				fmt.Fprintf(w, "chained   %s started as %s, run %s\n", c.Task, where, c.RunID)
			}
		}
	case o.Sync != nil:
		s := o.Sync
		fmt.Fprintf(w, "copied    %d dumps (%s)\nunchanged %d\ndeleted   %d\nskipped   %d\ntook      %.1fs\n",
			len(s.Copied), dump.HumanSize(s.Bytes), len(s.Unchanged), len(s.Deleted), len(s.Skipped), s.Seconds)
		for _, k := range s.Skipped {
			fmt.Fprintf(w, "  skipped %s: %s\n", k.Key, k.Reason)
		}
	case o.Pull != nil:
		p := o.Pull
		fmt.Fprintf(w, "restored  %s\ninto      %s (via staging %s)\nsize      %s  sha256 %s\ndump of   %s at %s\n",
			p.Key, p.Database, p.Staging, dump.HumanSize(p.Size), p.SHA256, p.SourceHost, p.DumpCreatedAt.Format("2006-01-02 15:04:05Z"))
		if p.DownloadSeconds > 0 {
			fmt.Fprintf(w, "took      download %.1fs, restore %.1fs, total %.1fs\n", p.DownloadSeconds, p.RestoreSeconds, p.TotalSeconds)
		} else {
			fmt.Fprintf(w, "took      download and restore %.1fs (streamed), total %.1fs\n", p.RestoreSeconds, p.TotalSeconds)
		}
		if s := p.Sanitised; s != nil {
			fmt.Fprintf(w, "sanitised with rules sha256 %s: %d rules, %d verify queries passed\n", s.RulesSHA256, len(s.Rows), s.Verified)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "note      %s\n", n)
		}
	}
}

// ChainError is returned for a push that succeeded but could not start one
// of its chained pulls: the dump is complete, the pull still has to run.
type ChainError struct {
	Key string
	// Tasks is the tasks file the pulls are defined in.
	Tasks  string
	Failed []workflows.ChainedRun
}

func (e *ChainError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the push succeeded and %s is complete and restorable, but %d chained pull(s) did not start (their reasons are in the chained lines of the output); start them by hand with:",
		e.Key, len(e.Failed))
	for _, c := range e.Failed {
		fmt.Fprintf(&b, "\n  envsync pull --tasks %s --task %s --key %s", e.Tasks, c.Task, e.Key)
		if c.Namespace != "" {
			fmt.Fprintf(&b, " --namespace %s", c.Namespace)
		}
	}
	return b.String()
}

// Check turns an outcome that finished but left work undone (a chained
// pull that did not start) into an error, after Report has printed it.
// tasks is the tasks file the run came from.
func Check(o Outcome, tasks string) error {
	if o.Push == nil {
		return nil
	}
	var failed []workflows.ChainedRun
	for _, c := range o.Push.Chained {
		if c.Error != "" {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &ChainError{Key: o.Push.Key, Tasks: tasks, Failed: failed}
}

// Failed prints a run that failed: only where to find it. What failed, why
// and what to do is the error itself, which failure.Text renders once per
// layer; nothing of the success summary, whose fields are empty.
func Failed(w io.Writer, o Outcome) {
	if o.RunID == "" {
		return // it never started
	}
	fmt.Fprintf(w, "workflow  %s\nrun       %s\nfailed    see the run's history with: temporal workflow show --workflow-id %s --run-id %s\n",
		o.WorkflowID, o.RunID, o.WorkflowID, o.RunID)
}

// Logger is the Temporal SDK logger for envsync's own processes: warnings
// and errors to stderr, not the SDK's per-activity debug lines.
func Logger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
