package devserver

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// `envsync dev` keeps its runs across restarts, and serves the Web UI.
func TestStateSurvivesRestartAndUIAnswers(t *testing.T) {
	dir := t.TempDir()
	// Ports of its own, so `envsync demo` in another test package can take
	// the defaults at the same time.
	port, _ := freePort()
	uiPort, _ := freePort()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := func() (*Server, client.Client) {
		s, err := Start(Options{Dir: dir, Port: port, UIPort: uiPort})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: s.Address, Namespace: s.Namespace})
		if err != nil {
			s.Stop()
			t.Fatal(err)
		}
		return s, c
	}
	s, c := start()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "survivor", TaskQueue: "nobody-polls"}, "Push")
	if err != nil {
		t.Fatal(err)
	}
	var status int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(s.UIURL); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
			break
		}
	}
	if status != http.StatusOK {
		t.Errorf("Web UI at %s answered %d", s.UIURL, status)
	}
	c.Close()
	s.Stop()

	s, c = start()
	defer s.Stop()
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, "survivor", run.GetRunID())
	if err != nil {
		t.Fatalf("run started before the restart is gone: %v", err)
	}
	if desc.GetWorkflowExecutionInfo().GetType().GetName() != "Push" {
		t.Errorf("described %v", desc.GetWorkflowExecutionInfo())
	}
}
