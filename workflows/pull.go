package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// PullInput starts a pull.
type PullInput struct {
	// Task is the validated task; Action must be pull. Required.
	Task config.Task `json:"task"`
	// Timestamp (YYYY-MM-DDTHH:MM, UTC) restores the dump taken in that
	// minute instead of the newest; optional.
	Timestamp string `json:"timestamp,omitempty"`
	// Key restores exactly this dump (chained pulls); optional, wins over
	// Timestamp.
	Key string `json:"key,omitempty"`
	// AllowProtected must be set to pull into a protected target; only a
	// person on the command line sets it, never a schedule or a chain.
	AllowProtected bool     `json:"allow_protected,omitempty"`
	Timeouts       Timeouts `json:"timeouts,omitempty"`
}

// PullResult says what was restored. It carries no data.
type PullResult struct {
	Key           string    `json:"key"`
	Size          int64     `json:"size"`
	SHA256        string    `json:"sha256"`
	DumpCreatedAt time.Time `json:"dump_created_at"`
	SourceHost    string    `json:"source_host"`
	Database      string    `json:"database"`
	Staging       string    `json:"staging"`
	// DownloadSeconds is set for a parallel restore, which downloads
	// first; otherwise RestoreSeconds covers download, verification and
	// restore, which run at once. Both count every attempt.
	DownloadSeconds float64 `json:"download_seconds,omitempty"`
	RestoreSeconds  float64 `json:"restore_seconds"`
	TotalSeconds    float64 `json:"total_seconds"`
	// Skipped says why nothing was restored (e.g. not writable here).
	Skipped string `json:"skipped,omitempty"`
	// Sanitised reports the rules applied before the swap: counts only.
	Sanitised *activities.SanitiseResult `json:"sanitised,omitempty"`
	// Verified says how the staging copy compared with the rows its dump
	// counted at the source (verify: counts).
	Verified *activities.VerifyResult `json:"verified,omitempty"`
	// Notes say what a person should know about the new database, such
	// as a setting of the source it could not keep.
	Notes []string `json:"notes,omitempty"`
}

// Pull locks reboots, runs the before hooks, picks the dump (newest complete
// one, the one taken in the -t minute, or an exact key), downloads and
// verifies it, restores it into a staging database and only then swaps it
// in. Whatever fails, the live database stays as it was and the staging copy
// is dropped; lock, temp files, after hooks and the report are seen to.
func Pull(ctx workflow.Context, in PullInput) (res PullResult, err error) {
	req := Request{Task: in.Task, Timestamp: in.Timestamp, Key: in.Key, AllowProtected: in.AllowProtected}
	if err := req.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	task := req.Task
	if task.Action != config.ActionPull {
		return res, invalid(errorf("action is %q; the Pull workflow only pulls", task.Action))
	}
	var minute time.Time
	if in.Timestamp != "" && in.Key == "" {
		minute, _ = config.ParseTimestamp("workflow input", in.Timestamp) // valid: checked above
	}
	r := newRun(ctx, task, in.Timeouts)
	r.location = fmt.Sprintf("%s://%s/%s", task.StorageBackend, task.URL, task.Path)
	defer func() { r.finish(ctx, err) }()
	if err := r.begin(ctx); err != nil {
		return res, err
	}
	if skip, err := r.preflight(ctx); err != nil || skip != "" {
		return PullResult{Database: task.Database, Skipped: skip}, err
	}
	runID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	// Resolve holds the dump it picks against pruning until this run
	// ends.
	rr, err := r.resolve(ctx, activities.ResolveInput{Task: task, Minute: minute, Key: in.Key, Hold: true})
	var notes []string
	if rr.HoldError != "" {
		// In the result when the pull succeeds; logged now in case it
		// does not.
		workflow.GetLogger(ctx).Warn("the dump this pull restores is not protected from pruning", "key", rr.Key, "reason", rr.HoldError)
		notes = append(notes, rr.HoldError)
	}
	if err != nil {
		return res, err
	}
	staging := rr.Staging
	native := rr.Native
	// The dump streams from the store into the staging copy, verified on
	// the way; a parallel restore needs it on this host first. A snapshot
	// in the server's own repository (rr.Native) is restored by the
	// server, by name. Durations are the workflow's own clock: every
	// attempt counts.
	ri := activities.RestoreInput{Task: task, Key: rr.Key, Size: rr.Size, SHA256: rr.SHA256, Compression: rr.Compression,
		Staging: staging, Origin: rr.Origin, Jobs: task.RestoreJobs, Encrypted: rr.Encrypted}
	var downloadSeconds float64
	if !native && task.RestoreJobs > 1 {
		began := workflow.Now(ctx)
		var d activities.DownloadResult
		if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepTransfer), a.Download,
			activities.DownloadInput{Task: task, Dump: rr}).Get(ctx, &d); err != nil {
			return res, explain(task, r.t, "download "+rr.Key, err)
		}
		ri.Path, downloadSeconds = d.Path, seconds(ctx, began)
	}
	swapped := false
	r.dropAtEnd(ctx, staging, &swapped)
	began := workflow.Now(ctx)
	var restored activities.RestoreResult
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepRestore), a.Restore, ri).Get(ctx, &restored); err != nil {
		return res, explain(task, r.t, fmt.Sprintf("restore %s into staging database %s (the live database is untouched)", rr.Key, staging), err)
	}
	restoreSeconds := seconds(ctx, began)
	// Compared before sanitising: the check is of the data path (the copy
	// holds what the dump held), and sanitise rules that delete rows
	// would otherwise have to be subtracted.
	if !native && task.Verifies() {
		var vr activities.VerifyResult
		if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepVerify), a.Verify,
			activities.VerifyInput{Task: task, Key: rr.Key, Staging: staging, Filtered: restored.Filtered()}).Get(ctx, &vr); err != nil {
			return res, explain(task, r.t, "verify "+staging+" against the counts of "+rr.Key+" (the live database is untouched)", err)
		}
		res.Verified = &vr
	}
	if task.SanitiseRules != "" {
		// Sanitise and verify the copy before anyone can reach it: if this
		// fails, the copy is dropped and the live database stays as it was.
		var sr activities.SanitiseResult
		if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepSanitise), a.Sanitise,
			activities.SanitiseInput{Task: task, Staging: staging}).Get(ctx, &sr); err != nil {
			return res, explain(task, r.t, "sanitise "+staging+" (the live database is untouched)", err)
		}
		if restored.Sanitised != nil {
			sr.Tables = restored.Sanitised.Tables
		}
		res.Sanitised = &sr
	}
	label := fmt.Sprintf("envsync: restored %s by run %s", rr.Key, runID)
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepSwap), a.Swap,
		activities.SwapInput{Task: task, Staging: staging, Label: label}).Get(ctx, nil); err != nil {
		return res, explain(task, r.t, "swap "+staging+" in as "+task.Database, err)
	}
	swapped = true
	return PullResult{Key: rr.Key, Size: rr.Size, SHA256: rr.SHA256, DumpCreatedAt: rr.CreatedAt, SourceHost: rr.SourceHost,
		Database: task.Database, Staging: staging, DownloadSeconds: downloadSeconds, RestoreSeconds: restoreSeconds,
		TotalSeconds: seconds(ctx, r.start), Sanitised: res.Sanitised, Verified: res.Verified, Notes: append(notes, restored.Notes...)}, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
