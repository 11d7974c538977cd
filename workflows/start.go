package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/searchattr"
)

// Start is how every envsync run is started, whoever starts it: the command
// line (a push, pull or s3_sync, a prune, a keep), a schedule's Scheduled
// workflow or a push's chained pull. One place sets what they share: the
// central queue, the ID (one run of a target at a time, a finished run's ID
// free again), the search attributes.
type Start struct {
	ID   string
	Task config.Task
	// Summary is the one line the Temporal UI shows for the run
	// (client starts only).
	Summary string
}

// Client is the options of a start through a client. A second start of
// a running ID fails (the caller decides whether to attach to it).
func (s Start) Client() client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                                       s.ID,
		TaskQueue:                                CentralQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    searchattr.For(s.Task),
		StaticSummary:                            s.Summary,
	}
}

// Child is the options of a start as a child of a running workflow; the
// parent's end does to the child what parentClose says.
func (s Start) Child(parentClose enumspb.ParentClosePolicy) workflow.ChildWorkflowOptions {
	return workflow.ChildWorkflowOptions{
		WorkflowID:            s.ID,
		TaskQueue:             CentralQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		ParentClosePolicy:     parentClose,
		TypedSearchAttributes: searchattr.For(s.Task),
	}
}
