package workflows

import (
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/config"
)

// ScheduledInput is what a task's Temporal Schedule starts.
type ScheduledInput struct {
	// Task is the scheduled task. Required.
	Task config.Task `json:"task"`
	// Then are the pulls a scheduled push chains into.
	Then []config.Task `json:"then,omitempty"`
	// PullRules are the pulls whose rule sets a scheduled push checks.
	PullRules []config.Task `json:"pull_rules,omitempty"`
}

// ScheduledResult names the run the schedule started, and its result.
type ScheduledResult struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Results
}

// Scheduled runs a task's Push or Pull as a child under the database's own
// workflow ID. Schedules give the workflows they start IDs of their own
// (with a timestamp); going through this wrapper keeps the rule that a
// database has one run at a time, so a scheduled run never overlaps a manual
// one. A scheduled pull never has AllowProtected.
func Scheduled(ctx workflow.Context, in ScheduledInput) (ScheduledResult, error) {
	task := in.Task
	res := ScheduledResult{WorkflowID: WorkflowID(task)}
	cctx := workflow.WithChildOptions(ctx, Start{ID: res.WorkflowID, Task: task}.Child(enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL))
	act, err := ActionOf(task.Action)
	if err != nil {
		return res, invalid(err)
	}
	// A scheduled pull never has AllowProtected.
	child := workflow.ExecuteChildWorkflow(cctx, act.Workflow, act.Input(Request{Task: task, Then: in.Then, PullRules: in.PullRules}))
	var exec workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"another run of this database is in progress (workflow %s); this scheduled run did not start", res.WorkflowID), "Busy", err)
		}
		return res, err
	}
	res.RunID = exec.RunID
	return res, child.Get(ctx, act.Result(&res.Results))
}
