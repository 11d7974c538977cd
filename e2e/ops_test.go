package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// After a successful push and a failed pull, Icinga holds each task's
// state and a message naming action, dbms, database, location, key and
// duration (and the reason for the failure).
func TestIcingaHearsEveryOutcome(t *testing.T) {
	pushSvc := "GOV.UK environment sync shop push"
	pullSvc := "GOV.UK environment sync shop pull"
	ic := testenv.StartIcinga(t, testenv.Service{Host: testenv.Host, Name: pushSvc}, testenv.Service{Host: testenv.Host, Name: pullSvc})
	sender, err := notify.NewIcinga(ic.URL, ic.CAFile, ic.User, ic.Password)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, false, worker.Options{Notify: &notify.Activities{Sender: sender}})
	e.createShop("shop")

	push := e.task(config.ActionPush, "shop", "file")
	push.Title = "shop push"
	out := e.mustRun(starter.Request{Task: push})
	got := ic.Service(t, testenv.Host, pushSvc)
	for _, want := range []string{"OK: push postgresql shop to file://", out.Push.Key, "after "} {
		if got.State != notify.OK || !strings.Contains(got.Output, want) {
			t.Errorf("push check: state %d, output %q; want 0 and %q", got.State, got.Output, want)
		}
	}

	pull := e.task(config.ActionPull, "shop", "file")
	pull.Title = "shop pull"
	if _, err := e.run(starter.Request{Task: pull, Timestamp: "2001-01-01T00:00"}); err == nil {
		t.Fatal("pull of a missing timestamp succeeded")
	}
	got = ic.Service(t, testenv.Host, pullSvc)
	if got.State != notify.Critical || !strings.Contains(got.Output, "FAILED: pull postgresql shop from file://") ||
		!strings.Contains(got.Output, "no complete dump found at 2001-01-01T00:00") {
		t.Errorf("pull check: state %d, output %q", got.State, got.Output)
	}

	// What an operator sees when Icinga is set up wrong.
	bad, _ := notify.NewIcinga(ic.URL, ic.CAFile, ic.User, "wrong")
	if err := bad.Send(context.Background(), notify.Result{Host: testenv.Host, Service: pushSvc}); err == nil || !strings.Contains(err.Error(), "refused API user") {
		t.Errorf("wrong password: %v", err)
	}
	if err := sender.Send(context.Background(), notify.Result{Host: testenv.Host, Service: "no such service"}); err == nil || !strings.Contains(err.Error(), "define it") {
		t.Errorf("unknown service: %v", err)
	}
}

// send_nsca, for installations that still run NSCA: through Debian's real
// client to a real daemon.
func TestNSCATransport(t *testing.T) {
	d := testenv.StartNSCA(t)
	s := &notify.NSCA{Server: "127.0.0.1", Port: d.Port, Config: d.ClientConfig}
	a := &notify.Activities{Sender: s}
	task := config.Task{Name: "pull_orders", Title: "orders pull", Action: "pull", DBMS: "postgresql", Database: "orders", WorkerHost: "db2"}
	if err := a.Notify(context.Background(), notify.Report{Task: task, Outcome: notify.OutcomeFailed, Location: "s3://b/p",
		Seconds: 2, Error: "restore failed:\n\tline two"}); err != nil {
		t.Fatal(err)
	}
	want := "PROCESS_SERVICE_CHECK_RESULT;db2;GOV.UK environment sync orders pull;2;FAILED: pull postgresql orders from s3://b/p, after 2.0s: restore failed: line two"
	deadline := 50
	for !strings.Contains(d.Received(t), want) && deadline > 0 {
		deadline--
		sleep()
	}
	if !strings.Contains(d.Received(t), want) {
		t.Errorf("nsca received %q, want %q", d.Received(t), want)
	}
}

// A failing before hook stops the pull before any data changes; after hooks
// run after a failure too, and are told the outcome.
func TestHooksOnRealRuns(t *testing.T) {
	hooks := t.TempDir()
	marks := filepath.Join(t.TempDir(), "marks")
	script := func(name, body string) {
		if err := os.WriteFile(filepath.Join(hooks, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script("pause-replay", `echo "before $ENVSYNC_DATABASE" >> `+marks+`; exit 3`)
	script("resume-replay", `echo "after $ENVSYNC_OUTCOME" >> `+marks)
	script("ok", "true")
	e := newEnvWith(t, false, worker.Options{Activities: activities.Config{HooksDir: hooks}})
	e.createShop("shop")
	e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file")})
	e.exec("postgres", "CREATE DATABASE shop_staging")
	e.exec("shop_staging", "CREATE TABLE precious (v text)", "INSERT INTO precious VALUES ('still here')")
	before := e.snapshot("shop_staging")

	pull := e.task(config.ActionPull, "shop_staging", "file")
	pull.SourceDatabase = "shop"
	pull.Before, pull.After = []string{"pause-replay"}, []string{"resume-replay"}
	_, err := e.run(starter.Request{Task: pull})
	if err == nil || !strings.Contains(err.Error(), "before hook pause-replay (no data was changed)") || !strings.Contains(err.Error(), "exited 3") {
		t.Fatalf("error = %v", err)
	}
	e.assertUntouched(t, "shop_staging", before)
	if b, _ := os.ReadFile(marks); string(b) != "before shop_staging\nafter failed\n" {
		t.Errorf("hooks ran as %q", b)
	}

	pull.Before = []string{"ok"}
	e.mustRun(starter.Request{Task: pull})
	if b, _ := os.ReadFile(marks); !strings.HasSuffix(string(b), "after ok\n") {
		t.Errorf("after hook after success: %q", b)
	}
}
