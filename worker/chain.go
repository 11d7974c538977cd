package worker

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/launch"
	"github.com/envsync/envsync/workflows"
)

// chainer starts a chained pull in another namespace or cluster. The pull's
// workflow ID is the database's own, so a retry of this activity attaches
// to the run it already started instead of starting a second one.
type chainer struct {
	client client.Client
}

func (c *chainer) start(ctx context.Context, in workflows.ChainInput) (workflows.ChainedRun, error) {
	out := workflows.ChainedRun{Task: in.Task.Name, Namespace: in.Task.Namespace, WorkflowID: in.Task.WorkflowID()}
	var target client.Client
	var err error
	switch {
	case in.Task.TemporalAddress != "":
		target, err = client.Dial(client.Options{HostPort: in.Task.TemporalAddress, Namespace: in.Task.Namespace, Logger: launch.Logger()})
	default:
		target, err = client.NewClientFromExisting(c.client, client.Options{Namespace: in.Task.Namespace})
	}
	if err != nil {
		return out, fmt.Errorf("connect to namespace %s at %q for chained pull %s: %w", in.Task.Namespace, in.Task.TemporalAddress, in.Task.Name, err)
	}
	defer target.Close()
	run, err := launch.Start(ctx, target, workflows.Request{Task: in.Task, Key: in.Key})
	if err != nil {
		return out, err
	}
	out.RunID = run.GetRunID()
	return out, nil
}
