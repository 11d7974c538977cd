package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/engine"
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
	Key      string   `json:"key,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
}

// PullResult says what was restored. It carries no data.
type PullResult struct {
	Key             string    `json:"key"`
	Size            int64     `json:"size"`
	SHA256          string    `json:"sha256"`
	DumpCreatedAt   time.Time `json:"dump_created_at"`
	SourceHost      string    `json:"source_host"`
	Database        string    `json:"database"`
	Staging         string    `json:"staging"`
	DownloadSeconds float64   `json:"download_seconds"`
	RestoreSeconds  float64   `json:"restore_seconds"`
	TotalSeconds    float64   `json:"total_seconds"`
}

// maxNameLen is each engine's limit on database names.
var maxNameLen = map[string]int{"postgresql": 63}

// Pull locks reboots, picks the dump (newest complete one, the one taken in
// the -t minute, or an exact key), downloads and verifies it, restores it
// into a staging database and only then swaps it in. Whatever fails, the
// live database stays as it was, the staging copy is dropped, and the lock
// and temp files are released.
func Pull(ctx workflow.Context, in PullInput) (res PullResult, err error) {
	task := in.Task
	task.Normalise()
	if err := task.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	if task.Action != config.ActionPull {
		return res, invalid(errorf("action is %q; the Pull workflow only pulls", task.Action))
	}
	var minute time.Time
	if in.Timestamp != "" && in.Key == "" {
		if minute, err = config.ParseTimestamp("workflow input", in.Timestamp); err != nil {
			return res, invalid(err)
		}
	}
	t := in.Timeouts.withDefaults()
	start := workflow.Now(ctx)
	log := workflow.GetLogger(ctx)
	runID := workflow.GetInfo(ctx).WorkflowExecution.RunID
	staging := engine.StagingName(task.Database, runID, maxNameLen[task.DBMS])
	swapped := false
	restoreStarted := false

	lock := activities.LockInput{Task: task.Name}
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepLock), a.AcquireLock, lock).Get(ctx, nil); err != nil {
		return res, explain(task, t, "acquire reboot lock", err)
	}
	defer func() {
		if hostUnavailable(err) {
			return
		}
		cctx := cleanupContext(ctx, task, t)
		if restoreStarted && !swapped {
			if cerr := workflow.ExecuteActivity(cctx, a.DropStaging, activities.DropInput{Task: task, Staging: staging}).Get(cctx, nil); cerr != nil {
				log.Error("could not drop staging database; drop it by hand", "staging", staging, "error", cerr)
			}
		}
		if cerr := workflow.ExecuteActivity(cctx, a.RemoveTemp, activities.CleanupInput{Task: task}).Get(cctx, nil); cerr != nil {
			log.Error("could not remove temp files", "error", cerr)
		}
		if cerr := workflow.ExecuteActivity(cctx, a.ReleaseLock, lock).Get(cctx, nil); cerr != nil {
			log.Error("could not release reboot lock", "error", cerr)
		}
	}()

	var r activities.ResolveResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepResolve), a.Resolve,
		activities.ResolveInput{Task: task, Minute: minute, Key: in.Key}).Get(ctx, &r); err != nil {
		return res, explain(task, t, "find dump of "+task.Database, err)
	}
	var d activities.DownloadResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepTransfer), a.Download,
		activities.DownloadInput{Task: task, Dump: r}).Get(ctx, &d); err != nil {
		return res, explain(task, t, "download "+r.Key, err)
	}
	restoreStarted = true
	var rr activities.RestoreResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepRestore), a.Restore,
		activities.RestoreInput{Task: task, Path: d.Path, Staging: staging}).Get(ctx, &rr); err != nil {
		return res, explain(task, t, fmt.Sprintf("restore %s into staging database %s (the live database is untouched)", r.Key, staging), err)
	}
	label := fmt.Sprintf("envsync: restored %s by run %s", r.Key, runID)
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepSwap), a.Swap,
		activities.SwapInput{Task: task, Staging: staging, Label: label}).Get(ctx, nil); err != nil {
		return res, explain(task, t, "swap "+staging+" in as "+task.Database, err)
	}
	swapped = true
	return PullResult{Key: r.Key, Size: r.Size, SHA256: r.SHA256, DumpCreatedAt: r.CreatedAt, SourceHost: r.SourceHost,
		Database: task.Database, Staging: staging, DownloadSeconds: d.Seconds, RestoreSeconds: rr.Seconds,
		TotalSeconds: seconds(ctx, start)}, nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
