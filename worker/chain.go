package worker

import (
	"context"
	"fmt"
	"github.com/envsync/envsync/starter"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/envsync/envsync/temporalconn"
	"github.com/envsync/envsync/workflows"
)

// chainer starts a chained pull in another namespace or cluster. The pull's
// workflow ID is the database's own, so a retry of this activity attaches
// to the run it already started instead of starting a second one.
type chainer struct {
	client client.Client
}

func (c *chainer) start(ctx context.Context, in workflows.ChainInput) (workflows.ChainedRun, error) {
	out := workflows.ChainedRun{Task: in.Task.Name, Namespace: in.Task.Namespace, Profile: in.Task.TemporalProfile, WorkflowID: workflows.WorkflowID(in.Task)}
	var target client.Client
	var err error
	where := "namespace " + in.Task.Namespace
	switch {
	case in.Task.TemporalProfile != "":
		// The profile alone: this worker's own TEMPORAL_ADDRESS and
		// certificates are for its own cluster.
		conn, err := temporalconn.Load(temporalconn.Request{Profile: in.Task.TemporalProfile, ProfileOnly: true, Namespace: in.Task.Namespace})
		if err != nil {
			// Only the central worker's files can fix it: retrying
			// would only repeat the message.
			return out, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("chained pull %s: temporal_profile %s on the central worker: %v", in.Task.Name, in.Task.TemporalProfile, err),
				"TemporalProfile", nil)
		}
		out.Namespace = conn.Options.Namespace
		if target, err = conn.Dial(ctx, starter.Logger(), nil); err != nil {
			return out, fmt.Errorf("chained pull %s into temporal_profile %s: %w", in.Task.Name, in.Task.TemporalProfile, err)
		}
	case in.Task.TemporalAddress != "":
		where = fmt.Sprintf("namespace %s at %s", in.Task.Namespace, in.Task.TemporalAddress)
		target, err = client.Dial(client.Options{HostPort: in.Task.TemporalAddress, Namespace: in.Task.Namespace, Logger: starter.Logger()})
	default:
		target, err = client.NewClientFromExisting(c.client, client.Options{Namespace: in.Task.Namespace})
	}
	if err != nil {
		return out, fmt.Errorf("connect to %s for chained pull %s: %w", where, in.Task.Name, err)
	}
	defer target.Close()
	run, err := starter.Start(ctx, target, workflows.Request{Task: in.Task, Key: in.Key})
	if err != nil {
		return out, err
	}
	out.RunID = run.GetRunID()
	return out, nil
}
