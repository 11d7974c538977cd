package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/failure"
)

// PushInput starts a push.
type PushInput struct {
	// Task is the validated task; Action must be push. Required.
	Task config.Task `json:"task"`
	// Then are pull tasks to start with the pushed dump when the push
	// succeeds; optional.
	Then []config.Task `json:"then,omitempty"`
	// PullRules are the pulls fed by this push that have rule sets
	// (chained, or pulling this database from the same store): the push
	// checks their rule sets against its database. Optional.
	PullRules []config.Task `json:"pull_rules,omitempty"`
	Timeouts  Timeouts      `json:"timeouts,omitempty"`
}

// PushResult says what was stored. It carries no data.
type PushResult struct {
	Key         string `json:"key"`
	ManifestKey string `json:"manifest_key"`
	Location    string `json:"location"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Compression string `json:"compression,omitempty"`
	// Streamed says the dump went to the store while it was taken;
	// DumpSeconds then covers dump and upload, every attempt.
	Streamed    bool    `json:"streamed,omitempty"`
	DumpSeconds float64 `json:"dump_seconds"`
	// UploadSeconds covers uploads from the spooled copy (after a
	// streamed upload failed, or for a before_upload push), every attempt.
	UploadSeconds float64 `json:"upload_seconds"`
	TotalSeconds  float64 `json:"total_seconds"`
	// Chained lists the pulls started after the push; a pull that could
	// not start is listed with its error and does not fail the push.
	Chained []ChainedRun `json:"chained,omitempty"`
	// Skipped says why nothing was dumped (e.g. not the primary).
	Skipped string `json:"skipped,omitempty"`
	// Sanitised records the rule set a before_upload push applied.
	Sanitised *dump.Sanitised `json:"sanitised,omitempty"`
	// Counted is how many tables and rows the manifest records for a pull
	// to verify against (verify: counts).
	Counted *activities.Tally `json:"counted,omitempty"`
	// Reused says an earlier attempt of the dump step had stored this
	// dump complete without being able to report it: it was kept, and
	// the database was not dumped a second time.
	Reused bool `json:"reused,omitempty"`
	// Prune is what the task's keep and keep_days removed after the
	// push; PruneError says why pruning failed (the push still succeeded).
	Prune      *activities.PruneResult `json:"prune,omitempty"`
	PruneError string                  `json:"prune_error,omitempty"`
	// RulesChecks are the checks of the pulls' rule sets (PullRules);
	// Warning sums up what they found, and turns the check result to
	// WARNING.
	RulesChecks []RulesCheck `json:"rules_checks,omitempty"`
	Warning     string       `json:"warning,omitempty"`
}

// ChainInput asks the central worker to start a pull in another namespace
// or cluster, restoring exactly Key.
type ChainInput struct {
	Task config.Task `json:"task"`
	Key  string      `json:"key"`
}

// ChainedRun is a pull started by a push.
type ChainedRun struct {
	Task      string `json:"task"`
	Namespace string `json:"namespace,omitempty"`
	// Profile is the task's temporal_profile: the cluster the run is in.
	Profile    string `json:"profile,omitempty"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id,omitempty"`
	Error      string `json:"error,omitempty"`
}

// StartChainedPullActivity is the name the central worker registers its
// cross-namespace starter under.
const StartChainedPullActivity = "StartChainedPull"

// a is only used for its method values, which name the activities.
var a *activities.Activities

// Push locks reboots on the host, runs the before hooks, dumps the database
// to a temp file there and uploads it with its manifest; then starts the
// chained pulls. The lock, temp file, after hooks and the monitoring report
// are seen to however the run ends, cancellation included.
func Push(ctx workflow.Context, in PushInput) (res PushResult, err error) {
	req := Request{Task: in.Task, Then: in.Then, PullRules: in.PullRules}
	if err := req.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	task := req.Task
	if task.Action != config.ActionPush {
		return res, invalid(errorf("action is %q; the Push workflow only pushes", task.Action))
	}
	r := newRun(ctx, task, in.Timeouts)
	defer func() { r.finish(ctx, err) }()
	if err := r.begin(ctx); err != nil {
		return res, err
	}
	if skip, err := r.preflight(ctx); err != nil || skip != "" {
		return PushResult{Skipped: skip}, err
	}
	var checks workflow.Future
	if len(in.PullRules) > 0 && workflow.GetVersion(ctx, "check-pull-rules", workflow.DefaultVersion, 1) == 1 {
		checks = checkPullRules(ctx, task, r.t, in.PullRules)
	}
	// The dump streams to the store as it is taken (a before_upload push:
	// through its rule set, to its sanitised_path). A store the database
	// server keeps itself (a snapshot repository) takes the dump in the
	// same step: it comes back uploaded. Durations are the workflow's own
	// clock, so they count every attempt.
	var d activities.DumpResult
	began := workflow.Now(ctx)
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepDump), a.Dump, activities.DumpInput{Task: task}).Get(ctx, &d); err != nil {
		return res, explain(task, r.t, "dump "+task.Database, err)
	}
	dumpSeconds := seconds(ctx, began)
	upload := task
	if task.Sanitise == config.SanitiseBeforeUpload {
		upload.Path = task.SanitisedPath
	}
	u := activities.UploadResult{Key: d.Key, ManifestKey: d.ManifestKey, Location: d.Location}
	var uploadSeconds float64
	if !d.Uploaded {
		if d.UploadError != "" {
			workflow.GetLogger(ctx).Warn("streamed upload failed; uploading the spooled copy", "key", d.Key, "error", d.UploadError)
		}
		began = workflow.Now(ctx)
		if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepTransfer), a.Upload, activities.UploadInput{Task: upload, Dump: d}).Get(ctx, &u); err != nil {
			return res, explain(task, r.t, "upload dump of "+task.Database, err)
		}
		uploadSeconds = seconds(ctx, began)
	}
	r.key, r.location = u.Key, u.Location
	res = PushResult{Key: u.Key, ManifestKey: u.ManifestKey, Location: u.Location, Size: d.Size, SHA256: d.SHA256, Compression: d.Compression,
		Streamed: d.Uploaded && !d.Native, DumpSeconds: dumpSeconds, UploadSeconds: uploadSeconds, Sanitised: d.Sanitised,
		Counted: d.Counted, Reused: d.Reused}
	if checks != nil {
		_ = checks.Get(ctx, &res.RulesChecks)
		res.Warning = Warning(res.RulesChecks)
		r.warning = res.Warning
	}
	for _, pull := range in.Then {
		res.Chained = append(res.Chained, startChained(ctx, pull, u.Key))
	}
	// After the chained pulls start, so pruning never delays them; the
	// new dump is the newest, which a prune never removes.
	if !d.Native && (task.Keep > 0 || task.KeepDays > 0) {
		pruneAfterPush(ctx, task, r.t, &res)
	}
	res.TotalSeconds = seconds(ctx, r.start)
	return res, nil
}

// startChained starts a pull of exactly key. In this namespace it is a child
// workflow that outlives the push; elsewhere an activity with its own client
// starts it. Either way the push only waits for the start, so a failing
// pull is visible on its own and does not turn the push red.
func startChained(ctx workflow.Context, pull config.Task, key string) ChainedRun {
	out := ChainedRun{Task: pull.Name, Namespace: pull.Namespace, Profile: pull.TemporalProfile, WorkflowID: WorkflowID(pull)}
	log := workflow.GetLogger(ctx)
	if pull.TemporalAddress == "" && pull.TemporalProfile == "" && (pull.Namespace == "" || pull.Namespace == workflow.GetInfo(ctx).Namespace) {
		cctx := workflow.WithChildOptions(ctx, Start{ID: out.WorkflowID, Task: pull}.Child(enumspb.PARENT_CLOSE_POLICY_ABANDON))
		var exec workflow.Execution
		if err := workflow.ExecuteChildWorkflow(cctx, Pull, PullInput{Task: pull, Key: key}).GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
			log.Error("chained pull did not start", "task", pull.Name, "error", err)
			out.Error = failure.Text(err)
			return out
		}
		out.RunID = exec.RunID
		return out
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           CentralQueue,
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	if err := workflow.ExecuteActivity(actx, StartChainedPullActivity, ChainInput{Task: pull, Key: key}).Get(ctx, &out); err != nil {
		log.Error("chained pull did not start", "task", pull.Name, "error", err)
		out.Error = failure.Text(err)
	}
	return out
}
