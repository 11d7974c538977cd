// Package worker runs envsync's Temporal workers: the central one that runs
// workflows, and the one on each database host that runs its activities on
// the host's own task queue ("envsync-host-<host>").
package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/metrics"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/workflows"
)

// Options say which queues this process serves.
type Options struct {
	// Central runs the workflows (task queue "envsync").
	Central bool
	// Host, when set, runs the activities of that database host.
	Host string
	// Activities configures the host's steps (lock dir, temp dir, S3).
	Activities activities.Config
	// Notify reports outcomes to monitoring (central worker); nil only logs.
	Notify *notify.Activities
	// Metrics, when set, counts runs, bytes and step durations (see
	// package metrics); the caller serves them.
	Metrics *metrics.Metrics
	// Interceptors are added to every worker's own (tracing, tests that
	// change what a step sees).
	Interceptors []interceptor.WorkerInterceptor
}

// Register adds the workflows to a worker, under their stable type names.
func Register(w sdkworker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(workflows.Push, workflow.RegisterOptions{Name: "Push"})
	w.RegisterWorkflowWithOptions(workflows.Pull, workflow.RegisterOptions{Name: "Pull"})
	w.RegisterWorkflowWithOptions(workflows.Sync, workflow.RegisterOptions{Name: "Sync"})
	w.RegisterWorkflowWithOptions(workflows.Drill, workflow.RegisterOptions{Name: "Drill"})
	w.RegisterWorkflowWithOptions(workflows.PruneDumps, workflow.RegisterOptions{Name: "PruneDumps"})
	w.RegisterWorkflowWithOptions(workflows.KeepDump, workflow.RegisterOptions{Name: "KeepDump"})
	w.RegisterWorkflowWithOptions(workflows.ListDumps, workflow.RegisterOptions{Name: "ListDumps"})
	w.RegisterWorkflowWithOptions(workflows.Scheduled, workflow.RegisterOptions{Name: "Scheduled"})
	w.RegisterWorkflowWithOptions(workflows.SurveyDatabase, workflow.RegisterOptions{Name: "SurveyDatabase"})
}

// Start starts the workers o asks for and returns a function that stops
// them.
func Start(c client.Client, o Options) (stop func(), err error) {
	if !o.Central && o.Host == "" {
		return nil, errors.New("worker: nothing to run: ask for the central queue, a host, or both")
	}
	var started []sdkworker.Worker
	stop = func() {
		for _, w := range started {
			w.Stop()
		}
	}
	if o.Central {
		w := sdkworker.New(c, workflows.CentralQueue, sdkworker.Options{Interceptors: o.interceptors()})
		Register(w)
		n := &notify.Activities{}
		if o.Notify != nil {
			n = o.Notify
		}
		if o.Metrics != nil {
			observed := *n
			observed.Observe = func(r notify.Report) { o.Metrics.RunFinished(r.Task.Name, r.Task.Action, r.Outcome) }
			n = &observed
		}
		w.RegisterActivity(n)
		w.RegisterActivityWithOptions((&chainer{client: c}).start, activity.RegisterOptions{Name: workflows.StartChainedPullActivity})
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("worker: start central worker: %w", err)
		}
		started = append(started, w)
	}
	if o.Host != "" {
		o.Activities.Host = o.Host
		// A host runs a few heavy steps at once at most: dumps and restores
		// compete for the same disks and database.
		// The SDK sends heartbeats at most every 80% of the heartbeat
		// timeout (24 s); progress lines and the UI want them as often
		// as the steps record them.
		w := sdkworker.New(c, workflows.TaskQueue(o.Host), sdkworker.Options{MaxConcurrentActivityExecutionSize: 4,
			MaxHeartbeatThrottleInterval: activities.HeartbeatEvery, DefaultHeartbeatThrottleInterval: activities.HeartbeatEvery,
			Interceptors: o.interceptors()})
		w.RegisterActivity(activities.New(o.Activities))
		if err := w.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("worker: start host worker for %s: %w", o.Host, err)
		}
		started = append(started, w)
	}
	return stop, nil
}

func (o Options) interceptors() []interceptor.WorkerInterceptor {
	out := slices.Clone(o.Interceptors)
	if o.Metrics != nil {
		out = append(out, o.Metrics.Interceptor())
	}
	return out
}

// Run starts the workers and blocks until ctx ends.
func Run(ctx context.Context, c client.Client, o Options) error {
	stop, err := Start(c, o)
	if err != nil {
		return err
	}
	<-ctx.Done()
	stop()
	return nil
}
