package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/failure"
)

// Retention runs as workflows, not from the command line: the store
// credentials are on the worker hosts, never on the machine a person types
// on, and a prune or keep then shows in the Temporal UI beside the pushes
// and pulls it affects. `envsync prune` and `envsync keep` start these and
// wait for them.

// PruneInput applies a push task's keep and keep_days to its store.
type PruneInput struct {
	// Task is the validated push task. Required.
	Task config.Task `json:"task"`
	// DryRun only reports what would go.
	DryRun   bool     `json:"dry_run,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
}

// KeepInput keeps one dump forever, or releases it.
type KeepInput struct {
	// Task is a validated task whose store and prefix hold the dump.
	Task config.Task `json:"task"`
	// Key is the dump's data key. Required.
	Key      string   `json:"key"`
	Release  bool     `json:"release,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
}

// PruneDumps runs the Prune step on the task's host.
func PruneDumps(ctx workflow.Context, in PruneInput) (res activities.PruneResult, err error) {
	if err := checkRetentionTask(in.Task, true); err != nil {
		return res, err
	}
	t := in.Timeouts.withDefaults()
	err = workflow.ExecuteActivity(on(ctx, in.Task, t, stepPrune), a.Prune, activities.PruneInput{Task: in.Task, DryRun: in.DryRun}).Get(ctx, &res)
	if err != nil {
		return res, explain(in.Task, t, "prune dumps of "+in.Task.Database, err)
	}
	return res, nil
}

// KeepDump runs the Keep step on the task's host.
func KeepDump(ctx workflow.Context, in KeepInput) (res activities.KeepResult, err error) {
	if err := checkRetentionTask(in.Task, false); err != nil {
		return res, err
	}
	if in.Key == "" {
		return res, invalid(errorf("key is required: the data key of the dump to keep"))
	}
	t := in.Timeouts.withDefaults()
	err = workflow.ExecuteActivity(on(ctx, in.Task, t, stepLock), a.Keep, activities.KeepInput{Task: in.Task, Key: in.Key, Release: in.Release}).Get(ctx, &res)
	if err != nil {
		return res, explain(in.Task, t, "keep "+in.Key, err)
	}
	return res, nil
}

// checkRetentionTask refuses tasks whose store envsync does not write
// (a snapshot repository keeps its own count: the step refuses it) and,
// for a prune, anything
// but a push: only a push says how many of its dumps to keep.
func checkRetentionTask(task config.Task, push bool) error {
	req := Request{Task: task}
	if err := req.Validate("workflow input"); err != nil {
		return invalid(err)
	}
	if push && task.Action != config.ActionPush {
		return invalid(errorf("task %s is a %s; only a push task's keep and keep_days say what to prune", task.Name, task.Action))
	}
	if task.Action == config.ActionS3Sync {
		return invalid(errorf("task %s is an s3_sync; name the push task that writes the dumps", task.Name))
	}
	return nil // a store the database server keeps itself is refused by the step
}

// pruneAfterPush applies the policy once the push's dump is stored. It never
// fails the push, whose dump is complete and restorable: a prune that
// failed after its retries is the result's PruneError, logged as an error,
// and the next push (or `envsync prune`) tries again.
func pruneAfterPush(ctx workflow.Context, task config.Task, t Timeouts, res *PushResult) {
	var p activities.PruneResult
	if err := workflow.ExecuteActivity(on(ctx, task, t, stepPrune), a.Prune, activities.PruneInput{Task: task}).Get(ctx, &p); err != nil {
		res.PruneError = fmt.Sprintf("the push succeeded, but pruning old dumps failed: %s; they stay until the next push prunes, or run `envsync prune --tasks FILE --task %s`",
			failure.Text(explain(task, t, "prune", err)), task.Name)
		workflow.GetLogger(ctx).Error("prune after push failed", "task", task.Name, "error", err)
		return
	}
	res.Prune = &p
}

// DumpsInput lists the dumps of a task's database in its store.
type DumpsInput struct {
	// Task is a validated task whose store and prefix hold the dumps.
	Task config.Task `json:"task"`
	// Limit bounds the dumps described, newest first (0: the default).
	Limit    int      `json:"limit,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
}

// ListDumps runs the ListDumps step on the task's host, where the store's
// credentials are; it changes nothing.
func ListDumps(ctx workflow.Context, in DumpsInput) (res activities.DumpsResult, err error) {
	if err := checkRetentionTask(in.Task, false); err != nil {
		return res, err
	}
	if in.Limit < 0 {
		return res, invalid(errorf("limit %d: must be 0 (the default, %d) or more", in.Limit, activities.DefaultDumpLimit))
	}
	t := in.Timeouts.withDefaults()
	err = workflow.ExecuteActivity(on(ctx, in.Task, t, stepPrune), a.ListDumps, activities.ListDumpsInput{Task: in.Task, Limit: in.Limit}).Get(ctx, &res)
	if err != nil {
		return res, explain(in.Task, t, "list the dumps of "+in.Task.DumpName(), err)
	}
	return res, nil
}
