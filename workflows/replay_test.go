package workflows_test

import (
	"path/filepath"
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	_ "github.com/envsync/envsync/engine/all" // the engines the recorded tasks name
	"github.com/envsync/envsync/worker"
)

// The recorded histories of real runs (a push, a push chained into a
// pull, a failed pull, a retention run: e2e TestReplayHistories writes
// them) replay on the workflows as they are. A change to a workflow's
// steps that would break runs in flight (an activity added, removed or
// moved) fails here: make it as a patch or with Worker
// Versioning instead, and record new histories only with it.
func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("%d recorded histories in testdata/histories; want the 5 that go test ./e2e -run TestReplayHistories -update-histories writes", len(files))
	}
	replayer := sdkworker.NewWorkflowReplayer()
	worker.Register(replayer)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Errorf("recorded run %s does not replay: %v", f, err)
			}
		})
	}
}
