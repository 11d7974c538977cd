package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// DrillInput starts a restore drill.
type DrillInput struct {
	// Task is the validated task; Action must be drill. Required.
	Task     config.Task `json:"task"`
	Timeouts Timeouts    `json:"timeouts,omitempty"`
}

// DrillResult says what a drill proved. It carries no data.
type DrillResult struct {
	Key string `json:"key"`
	// Staging is the throwaway database the dump was restored into, and
	// dropped.
	Staging  string                   `json:"staging"`
	Verified *activities.VerifyResult `json:"verified,omitempty"`
	Checks   int                      `json:"checks"`
	// Evidence is the key of the evidence written beside the dump.
	Evidence       string   `json:"evidence"`
	RestoreSeconds float64  `json:"restore_seconds"`
	TotalSeconds   float64  `json:"total_seconds"`
	Notes          []string `json:"notes,omitempty"`
}

// Drill proves the newest dump restores: it restores it into a throwaway
// database on the task's server (as a pull's staging copy, never swapped
// in), verifies the counts, runs the task's checks, drops the database
// whatever happens, and only when all passed writes the evidence beside
// the dump. A failed drill is a failed run (check result, metrics).
func Drill(ctx workflow.Context, in DrillInput) (res DrillResult, err error) {
	req := Request{Task: in.Task}
	if err := req.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	task := req.Task
	if task.Action != config.ActionDrill {
		return res, invalid(errorf("action is %q; the Drill workflow only drills", task.Action))
	}
	r := newRun(ctx, task, in.Timeouts)
	r.location = fmt.Sprintf("%s://%s/%s", task.StorageBackend, task.URL, task.Path)
	defer func() { r.finish(ctx, err) }()
	if err := r.begin(ctx); err != nil {
		return res, err
	}
	if skip, err := r.preflight(ctx); err != nil || skip != "" {
		return res, err
	}
	// The drilled dump is held against pruning while the drill runs, as
	// a pull's is.
	rr, err := r.resolve(ctx, activities.ResolveInput{Task: task, Hold: true})
	if err != nil {
		return res, err
	}
	staging := rr.Staging
	res = DrillResult{Key: rr.Key, Staging: staging}
	dropped := false
	r.dropAtEnd(ctx, staging, &dropped)
	began := workflow.Now(ctx)
	var restored activities.RestoreResult
	ri := activities.RestoreInput{Task: task, Key: rr.Key, Size: rr.Size, SHA256: rr.SHA256, Compression: rr.Compression,
		Staging: staging, Origin: rr.Origin, Encrypted: rr.Encrypted}
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepRestore), a.Restore, ri).Get(ctx, &restored); err != nil {
		return res, explain(task, r.t, fmt.Sprintf("restore %s into drill database %s", rr.Key, staging), err)
	}
	res.RestoreSeconds, res.Notes = seconds(ctx, began), restored.Notes
	var vr activities.VerifyResult
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepVerify), a.Verify,
		activities.VerifyInput{Task: task, Key: rr.Key, Staging: staging}).Get(ctx, &vr); err != nil {
		return res, explain(task, r.t, "verify "+staging+" against the counts of "+rr.Key, err)
	}
	res.Verified = &vr
	var cr activities.ChecksResult
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepVerify), a.RunChecks,
		activities.ChecksInput{Task: task, Staging: staging}).Get(ctx, &cr); err != nil {
		return res, explain(task, r.t, "run the checks in "+staging, err)
	}
	res.Checks = cr.Passed
	// Dropped before the evidence is written: a drill that cannot clean
	// up after itself has not passed.
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepCleanup), a.DropStaging,
		activities.DropInput{Task: task, Staging: staging}).Get(ctx, nil); err != nil {
		return res, explain(task, r.t, "drop drill database "+staging, err)
	}
	dropped = true
	ev := activities.EvidenceInput{Task: task, Key: rr.Key, Seconds: seconds(ctx, r.start), Checks: cr.Passed}
	if vr.Skipped == "" {
		ev.Tables, ev.Rows = vr.Tables, vr.Rows
	}
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepLock), a.WriteEvidence, ev).Get(ctx, &res.Evidence); err != nil {
		return res, explain(task, r.t, "write the drill's evidence beside "+rr.Key, err)
	}
	if vr.Skipped != "" {
		r.warning = "the drill restored " + rr.Key + " and its checks passed, but its rows were not verified: " + vr.Skipped
	}
	res.TotalSeconds = seconds(ctx, r.start)
	return res, nil
}
