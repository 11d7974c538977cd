package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// PushInput starts a push.
type PushInput struct {
	// Task is the validated task; Action must be push. Required.
	Task     config.Task `json:"task"`
	Timeouts Timeouts    `json:"timeouts,omitempty"`
}

// PushResult says what was stored. It carries no data.
type PushResult struct {
	Key         string  `json:"key"`
	ManifestKey string  `json:"manifest_key"`
	Location    string  `json:"location"`
	Size        int64   `json:"size"`
	SHA256      string  `json:"sha256"`
	DumpSeconds float64 `json:"dump_seconds"`
	// UploadSeconds covers the successful upload attempt.
	UploadSeconds float64 `json:"upload_seconds"`
	TotalSeconds  float64 `json:"total_seconds"`
}

// a is only used for its method values, which name the activities.
var a *activities.Activities

// Push locks reboots on the host, dumps the database to a temp file there,
// uploads it with its manifest, and always releases the lock and removes the
// temp file, also when the run fails or is cancelled.
func Push(ctx workflow.Context, in PushInput) (res PushResult, err error) {
	task := in.Task
	task.Normalise()
	if err := task.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	if task.Action != config.ActionPush {
		return res, invalid(errorf("action is %q; the Push workflow only pushes", task.Action))
	}
	t := in.Timeouts.withDefaults()
	start := workflow.Now(ctx)
	log := workflow.GetLogger(ctx)

	lock := activities.LockInput{Task: task.Name}
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepLock), a.AcquireLock, lock).Get(ctx, nil); err != nil {
		return res, explain(task, t, "acquire reboot lock", err)
	}
	defer func() {
		if hostUnavailable(err) {
			return // nobody there to clean up; the next run takes the lock over
		}
		cctx := cleanupContext(ctx, task, t)
		if cerr := workflow.ExecuteActivity(cctx, a.RemoveTemp, activities.CleanupInput{Task: task}).Get(cctx, nil); cerr != nil {
			log.Error("could not remove temp files", "error", cerr)
		}
		if cerr := workflow.ExecuteActivity(cctx, a.ReleaseLock, lock).Get(cctx, nil); cerr != nil {
			log.Error("could not release reboot lock", "error", cerr)
		}
	}()

	var d activities.DumpResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepDump), a.Dump, activities.DumpInput{Task: task}).Get(ctx, &d); err != nil {
		return res, explain(task, t, "dump "+task.Database, err)
	}
	var u activities.UploadResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepTransfer), a.Upload, activities.UploadInput{Task: task, Dump: d}).Get(ctx, &u); err != nil {
		return res, explain(task, t, "upload dump of "+task.Database, err)
	}
	return PushResult{Key: u.Key, ManifestKey: u.ManifestKey, Location: u.Location, Size: d.Size, SHA256: d.SHA256,
		DumpSeconds: d.Seconds, UploadSeconds: u.Seconds, TotalSeconds: seconds(ctx, start)}, nil
}
