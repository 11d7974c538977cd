package e2e

import (
	"context"
	"os"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv/tmpfs"
	"github.com/envsync/envsync/starter"
)

// A push or pull whose temp dir fills up says so, with the directory, what
// it needs and what is free, instead of "pg_dump failed: signal: broken
// pipe" retried three times, or an hour of download retries while the
// reboot lock and a partial file are held. It fails at once (retrying
// cannot make room) and leaves no file and no lock behind.
func TestFullTempDiskIsReportedAsSuch(t *testing.T) {
	e := newEnv(t, false)
	e.exec("postgres", "CREATE DATABASE big")
	// About 12 MiB of random bytes, which compression cannot shrink.
	e.exec("big", "CREATE TABLE blobs (id int PRIMARY KEY, b bytea)",
		`INSERT INTO blobs SELECT i, decode((SELECT string_agg(md5(random()::text || i || j), '') FROM generate_series(1, 48) j), 'hex')
		 FROM generate_series(1, 16384) i`)
	disk := tmpfs.Mount(t, "4m")

	t.Run("push", func(t *testing.T) {
		task := e.task(config.ActionPush, "big", "file")
		task.TempPath = disk
		out, err := e.run(starter.Request{Task: task})
		if err == nil {
			t.Fatal("push into a full temp dir succeeded")
		}
		if !strings.Contains(err.Error(), "no space left on device in "+disk+" (needs more than ") || !strings.Contains(err.Error(), "free)") {
			t.Errorf("error = %v; want no space left on device in %s with what it needs and has", err, disk)
		}
		if strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("error still reports the tool's broken pipe: %v", err)
		}
		e.assertAttempts(t, out.WorkflowID, out.RunID, "Dump", 1)
		e.assertEmpty(t, disk)
		e.assertNoLocksOrTemp(t)
	})

	t.Run("pull", func(t *testing.T) {
		pushed := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "big", "file")})
		// A streamed pull needs no temp disk; a parallel restore
		// downloads the dump first.
		task := e.task(config.ActionPull, "big_copy", "file")
		task.SourceDatabase, task.TempPath, task.RestoreJobs = "big", disk, 2
		out, err := e.run(starter.Request{Task: task})
		if err == nil {
			t.Fatal("pull into a full temp dir succeeded")
		}
		if !strings.Contains(err.Error(), "no space left on device in "+disk+" (needs about "+dump.HumanSize(pushed.Push.Size)+", has ") {
			t.Errorf("error = %v; want no space left on device in %s, needing the dump's %d bytes", err, disk, pushed.Push.Size)
		}
		e.assertAttempts(t, out.WorkflowID, out.RunID, "Download", 1)
		e.assertEmpty(t, disk)
		e.assertNoLocksOrTemp(t)
	})
}

// assertAttempts fails if activity ran more than max attempts in the run.
func (e *env) assertAttempts(t *testing.T, id, runID, activity string, max int32) {
	t.Helper()
	it := e.temporal.Client.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]string{}
	seen := false
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == activity {
			seen = true
			if a.GetAttempt() > max {
				t.Errorf("%s ran %d attempts; want at most %d", activity, a.GetAttempt(), max)
			}
		}
	}
	if !seen {
		t.Errorf("no %s attempt in run %s", activity, runID)
	}
}

func (e *env) assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		t.Errorf("left in the temp dir: %s", en.Name())
	}
}
