package starter

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store"
	"github.com/envsync/envsync/workflows"
)

// PruneTasks picks the tasks `envsync prune` prunes from a tasks file: the
// named one, or every push task with keep or keep_days on a store envsync
// writes (a snapshot repository prunes itself).
func PruneTasks(f *config.File, name string) ([]config.Task, error) {
	if name != "" {
		t, ok := f.Task(name)
		if !ok {
			return nil, &InputError{Err: fmt.Errorf("%s: no task named %q", f.Path, name)}
		}
		if t.Action != config.ActionPush {
			return nil, &InputError{Err: fmt.Errorf("%s: task %s is a %s; name the push task whose keep and keep_days say what to prune", f.Path, name, t.Action)}
		}
		if info, _ := store.Lookup(t.StorageBackend); info.Native {
			return nil, &InputError{Err: fmt.Errorf("%s: task %s keeps its dumps in %s, which prunes its own snapshots (keep) as it pushes", f.Path, name, t.StorageBackend)}
		}
		return []config.Task{t}, nil
	}
	var out []config.Task
	for _, t := range f.Tasks {
		info, _ := store.Lookup(t.StorageBackend)
		if t.Action == config.ActionPush && !info.Native && (t.Keep > 0 || t.KeepDays > 0) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, &InputError{Err: fmt.Errorf("%s: no push task has keep or keep_days; add them, or name a task with --task to remove only failed uploads' leftovers", f.Path)}
	}
	return out, nil
}

// Prune runs the PruneDumps workflow for task and waits for its result.
func Prune(ctx context.Context, c client.Client, task config.Task, dryRun bool, t workflows.Timeouts) (activities.PruneResult, error) {
	var res activities.PruneResult
	what := "prune"
	if dryRun {
		what = "prune (dry run)"
	}
	err := execute(ctx, c, task, workflows.PruneWorkflowID(task), what, workflows.PruneDumps,
		workflows.PruneInput{Task: task, DryRun: dryRun, Timeouts: t}, &res)
	return res, err
}

// Keep runs the KeepDump workflow for key and waits for its result.
func Keep(ctx context.Context, c client.Client, task config.Task, key string, release bool, t workflows.Timeouts) (activities.KeepResult, error) {
	var res activities.KeepResult
	what := "keep forever " + key
	if release {
		what = "release " + key
	}
	err := execute(ctx, c, task, workflows.KeepWorkflowID(task), what, workflows.KeepDump,
		workflows.KeepInput{Task: task, Key: key, Release: release, Timeouts: t}, &res)
	return res, err
}

// execute starts a retention workflow on the central queue, one at a time
// per task (a second start while one runs is refused by Temporal), and
// waits for it.
func execute(ctx context.Context, c client.Client, task config.Task, id, what string, wf, in, out any) error {
	r := Request{Task: task}
	if err := r.Validate("request"); err != nil {
		return &InputError{Err: err}
	}
	opts := workflows.Start{ID: id, Task: task, Summary: fmt.Sprintf("%s: %s %s via %s", what, task.DBMS, task.Database, task.StorageBackend)}.Client()
	run, err := c.ExecuteWorkflow(ctx, opts, wf, in)
	if err != nil {
		return fmt.Errorf("start %s (another %s of this task may be running: see the Temporal UI): %w", id, what, err)
	}
	if err := run.Get(ctx, out); err != nil {
		return fmt.Errorf("%s of task %s (workflow %s, run %s): %w", what, task.Name, id, run.GetRunID(), err)
	}
	return nil
}

// ReportPrune prints what a prune removed, or on a dry run would remove,
// with the reason for each object, and what holds kept.
func ReportPrune(w io.Writer, task string, r activities.PruneResult) {
	done := "removed"
	if r.DryRun {
		done = "would remove"
	}
	fmt.Fprintf(w, "%s: %s\n", task, r.Location)
	for _, rm := range r.Removed {
		what := "dump  "
		if rm.Orphan {
			what = "orphan"
		}
		fmt.Fprintf(w, "  %s %s %s (%s): %s\n", done, what, rm.Key, dump.HumanSize(rm.Bytes), rm.Reason)
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(w, "  %s %d more, not listed\n", done, r.Unlisted)
	}
	for _, k := range r.Protected {
		fmt.Fprintf(w, "  kept %s: %s\n", k.Key, k.Reason)
	}
	fmt.Fprintf(w, "  %s %d dumps and %d orphans, %s\n", done, r.Dumps, r.Orphans, dump.HumanSize(r.Bytes))
	if r.ExpiredHolds > 0 {
		fmt.Fprintf(w, "  %s %d expired holds of pulls that ended without removing them\n", done, r.ExpiredHolds)
	}
}
