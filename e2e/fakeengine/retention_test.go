package fakeengine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

// A pull in progress protects the dump it restores from a prune, named by
// its workflow; once it ends, the dump can go, and no hold is left. The
// fake engine is used for its restore, which the test can hold open.
func TestRunningPullProtectsItsDump(t *testing.T) {
	tp := testenv.StartTemporal(t)
	tp.StartWorker(t, activities.Config{})
	dir := t.TempDir()
	srv.mu.Lock()
	srv.dbs["ledger"] = bytes.Repeat([]byte("ledger row\n"), 1000)
	srv.failRestore = false // the server is shared with the other tests
	srv.mu.Unlock()
	base := config.Task{DBMS: name, StorageBackend: "file", URL: dir, Path: "kv", WorkerHost: testenv.Host}
	push := base
	push.Name, push.Action, push.Database = "push_ledger", config.ActionPush, "ledger"
	pull := base
	pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_ledger_copy", config.ActionPull, "ledger_copy", "ledger"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	timeouts := workflows.Timeouts{HostWait: 30 * time.Second}

	var pushed []string
	for i := range 3 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // dump keys name the second
		}
		out, err := starter.Run(ctx, tp.Client, starter.Request{Task: push, Timeouts: timeouts})
		if err != nil {
			t.Fatalf("push: %v", err)
		}
		pushed = append(pushed, out.Push.Key)
	}

	// The pull of the oldest dump stops in its restore.
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	defer func() {
		srv.mu.Lock()
		srv.gate = nil
		srv.mu.Unlock()
	}()
	run, err := starter.Start(ctx, tp.Client, starter.Request{Task: pull, Key: pushed[0], Timeouts: timeouts})
	if err != nil {
		t.Fatal(err)
	}
	waitRestoring(t, tp, run.GetID())

	push.Keep = 1
	res, err := starter.Prune(ctx, tp.Client, push, false, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0].Key != pushed[1] || res.Removed[0].Reason != "beyond keep 1" {
		t.Errorf("removed %+v, want only %s, beyond keep 1", res.Removed, pushed[1])
	}
	if len(res.Protected) != 1 || res.Protected[0].Key != pushed[0] || !strings.Contains(res.Protected[0].Reason, "held by pull "+run.GetID()) {
		t.Errorf("protected %+v, want %s held by pull %s", res.Protected, pushed[0], run.GetID())
	}
	if _, err := os.Stat(filepath.Join(dir, pushed[0])); err != nil {
		t.Fatalf("the dump a running pull restores was removed: %v", err)
	}

	close(gate)
	var pulled workflows.PullResult
	if err := run.Get(ctx, &pulled); err != nil || pulled.Key != pushed[0] {
		t.Fatalf("pull: %+v, %v", pulled, err)
	}
	res, err = starter.Prune(ctx, tp.Client, push, false, timeouts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0].Key != pushed[0] || len(res.Protected) != 0 {
		t.Errorf("after the pull: removed %+v, protected %+v; want %s removed", res.Removed, res.Protected, pushed[0])
	}
	left, _ := filepath.Glob(filepath.Join(dir, "kv", ".envsync-holds", "*", "*"))
	if len(left) != 0 {
		t.Errorf("holds left: %v", left)
	}
}

// waitRestoring waits until the run's Restore step is running.
func waitRestoring(t *testing.T, tp *testenv.Temporal, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		d, err := tp.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil {
			for _, p := range d.GetPendingActivities() {
				if p.GetActivityType().GetName() == "Restore" && p.GetLastStartedTime() != nil {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %s never reached its restore", id)
}
