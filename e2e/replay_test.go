package e2e

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
	"github.com/envsync/envsync/workflows"
)

var updateHistories = flag.Bool("update-histories", false,
	"write the histories of TestReplayHistories' runs to workflows/testdata/histories, for the replay test there")

// historiesDir is where the workflows package's replay test reads them.
const historiesDir = "../workflows/testdata/histories"

// The runs whose histories guard the workflows: a push, a push chained
// into a pull, a pull that fails (a damaged dump) and a retention run.
// Each history replays on the workflows as they are now; with
// -update-histories they become the recorded histories that
// workflows/replay_test.go replays, so a change to a workflow that would
// break runs in flight fails CI. Record them again only for a change meant
// to be incompatible, made safe by a patch or Worker Versioning (see
// docs/architecture.md).
func TestReplayHistories(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	var recorded []struct{ name, id, runID string }
	keep := func(name string, o starter.Outcome) {
		recorded = append(recorded, struct{ name, id, runID string }{name, o.WorkflowID, o.RunID})
	}

	push := e.task(config.ActionPush, "shop", "file")
	keep("push", e.mustRun(starter.Request{Task: push}))

	pull := e.task(config.ActionPull, "shop_copy", "file")
	pull.Name, pull.SourceDatabase = "pull_shop_copy", "shop"
	chained := e.mustRun(starter.Request{Task: push, Then: []config.Task{pull}})
	keep("push-chained", chained)
	child := chained.Push.Chained[0]
	if err := e.temporal.Client.GetWorkflow(context.Background(), child.WorkflowID, child.RunID).Get(context.Background(), nil); err != nil {
		t.Fatalf("chained pull: %v", err)
	}
	recorded = append(recorded, struct{ name, id, runID string }{"pull-chained", child.WorkflowID, child.RunID})

	// A pull of a dump damaged in the store fails in its restore.
	e.damage(t, chained.Push.Key)
	failed, err := e.run(starter.Request{Task: pull})
	if err == nil {
		t.Fatal("the pull of a damaged dump succeeded")
	}
	keep("pull-failed", failed)

	push.Keep = 1
	if _, err := starter.Prune(context.Background(), e.temporal.Client, push, false, workflows.Timeouts{}); err != nil {
		t.Fatal(err)
	}
	recorded = append(recorded, struct{ name, id, runID string }{"prune", workflows.PruneWorkflowID(push), ""})

	replayer := sdkworker.NewWorkflowReplayer()
	worker.Register(replayer)
	for _, r := range recorded {
		h := e.history(t, r.id, r.runID)
		if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
			t.Errorf("%s (%s) does not replay on the workflows as they are: %v", r.name, r.id, err)
		}
		if !*updateHistories {
			continue
		}
		body, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(historiesDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(historiesDir, r.name+".json"), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// history is a finished run's whole history.
func (e *env) history(t *testing.T, id, runID string) *historypb.History {
	t.Helper()
	it := e.temporal.Client.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	return h
}
