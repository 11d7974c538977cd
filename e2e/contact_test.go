package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/worker"
)

// `envsync push` that loses Temporal while its run goes on: it says so,
// keeps waiting, and reports the run's real outcome once Temporal answers
// again (it used to exit 1, "push failed: context deadline exceeded", for
// a run that completed). Past --wait-for-temporal it exits 3, saying the
// outcome is unknown and how to learn it. Only the command's connection
// goes through the proxy: the worker, like the run, carries on.
func TestLosingTemporalIsNotAFailedRun(t *testing.T) {
	// Paced to about 8 s, so the run is still going when contact is lost.
	e := newEnvWith(t, false, worker.Options{Activities: activities.Config{UploadLimit: 1 << 20}})
	e.randomDB("big", 8)
	proxy := testenv.StartProxy(t, e.temporal.Server.GetFrontendHostPort())
	tasks := e.bigPushTasks(t, "file", "    compression: none\n")
	id := "envsync-" + testenv.Host + "-" + e.pg.Addr() + "/big"
	env := map[string]string{"TEMPORAL_ADDRESS": proxy.Addr, "TEMPORAL_NAMESPACE": e.temporal.Namespace}

	// cutOff waits for a run to be going, then takes Temporal away from
	// the command until the test calls proxy.Forward.
	cutOff := func() <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				d, err := e.temporal.Client.DescribeWorkflowExecution(context.Background(), id, "")
				if err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					proxy.Refuse()
					proxy.Drop()
					return
				}
			}
		}()
		return done
	}

	t.Run("back in time", func(t *testing.T) {
		go func() {
			<-cutOff()
			time.Sleep(25 * time.Second)
			proxy.Forward()
		}()
		r := runBinary(t, env, "push", "--tasks", tasks, "--task", "push_big")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0 (the run completed)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"lost contact with Temporal at " + proxy.Addr + "; the run goes on without us; retrying", "contact with Temporal at " + proxy.Addr + " is back"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if !strings.Contains(r.stdout, "pushed    postgresql/") {
			t.Errorf("no summary of the completed run:\n%s", r.stdout)
		}
	})

	t.Run("away too long", func(t *testing.T) {
		cut := cutOff()
		r := runBinary(t, env, "push", "--tasks", tasks, "--task", "push_big", "--wait-for-temporal", "5s")
		<-cut
		proxy.Forward()
		if r.code != 3 {
			t.Fatalf("exit %d, want 3 (outcome unknown)\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"the run's outcome is unknown", "has not answered for", "temporal workflow show --workflow-id " + id + " --run-id ", "--address " + proxy.Addr} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		if strings.Contains(r.stdout, "failed") || strings.Contains(r.stderr, "push failed") {
			t.Errorf("a run whose outcome is unknown is reported as failed:\n%s\n%s", r.stdout, r.stderr)
		}
		// The run itself went on and completed.
		if err := e.temporal.Client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil); err != nil {
			t.Errorf("the run behind the unknown outcome: %v", err)
		}
	})
}
