package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
)

// SyncInput starts an s3_sync run.
type SyncInput struct {
	// Task is the validated task; Action must be s3_sync. Required.
	Task     config.Task `json:"task"`
	Timeouts Timeouts    `json:"timeouts,omitempty"`
}

// Sync copies complete dumps from one bucket and prefix to another (the
// original's s3_sync, for cross-account replication), under the same lock,
// hooks and monitoring as push and pull.
func Sync(ctx workflow.Context, in SyncInput) (res activities.SyncResult, err error) {
	req := Request{Task: in.Task}
	if err := req.Validate("workflow input"); err != nil {
		return res, invalid(err)
	}
	task := req.Task
	if task.Action != config.ActionS3Sync {
		return res, invalid(errorf("action is %q; the Sync workflow only runs s3_sync", task.Action))
	}
	r := newRun(ctx, task, in.Timeouts)
	r.location = fmt.Sprintf("s3://%s/%s -> s3://%s/%s", task.URL, task.Path, task.TargetURL, task.TargetPath)
	defer func() { r.finish(ctx, err) }()
	if err := r.begin(ctx); err != nil {
		return res, err
	}
	if err := workflow.ExecuteActivity(on(ctx, task, r.t, stepTransfer), a.SyncStores, activities.SyncInput{Task: task}).Get(ctx, &res); err != nil {
		return res, explain(task, r.t, "s3_sync", err)
	}
	return res, nil
}
