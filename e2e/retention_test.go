package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
)

// complete lists the complete dumps of db in the test bucket, oldest first.
func (e *env) complete(t *testing.T, prefix, db string) []string {
	t.Helper()
	var keys []string
	for _, c := range dump.Candidates(prefix, db, e.keys(t, bucket)) {
		keys = append(keys, c.Key)
	}
	return keys
}

// Pushes with keep: 2 leave the two newest dumps; a dump kept forever with
// `envsync keep` outlives them until released; `envsync prune --dry-run`
// lists what would go and why and removes nothing; `envsync prune` removes
// it and says how much it freed.
func TestRetentionThroughPushesAndBinary(t *testing.T) {
	e := newEnv(t, true)
	e.exec("postgres", "CREATE DATABASE kept")
	e.exec("kept", "CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)")
	push := e.task("push", "kept", "s3")
	push.Keep = 2
	var pushed []string
	for i := range 4 {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // dump keys name the second
		}
		out := e.mustRun(starter.Request{Task: push})
		pushed = append(pushed, out.Push.Key)
		if out.Push.PruneError != "" || out.Push.Prune == nil {
			t.Fatalf("push %d: prune %+v, error %q", i+1, out.Push.Prune, out.Push.PruneError)
		}
		// The third push removes the first dump; the fourth would remove
		// the second, which is kept forever by then.
		if want := []int{0, 0, 1, 0}[i]; out.Push.Prune.Dumps != want {
			t.Errorf("push %d pruned %d dumps, want %d", i+1, out.Push.Prune.Dumps, want)
		}
		if i == 3 && (len(out.Push.Prune.Protected) != 1 || out.Push.Prune.Protected[0].Key != pushed[1]) {
			t.Errorf("push 4: protected %+v, want %s kept forever", out.Push.Prune.Protected, pushed[1])
		}
		if i == 2 {
			// Before the fourth push, the oldest left is kept forever.
			tasks := e.tasksFile(t, push.Keep)
			r := e.envsync(t, "keep", "--tasks", tasks, "--task", "push_kept", "--key", pushed[1])
			if r.code != 0 || !strings.Contains(r.stdout, "kept      "+pushed[1]+" forever") {
				t.Fatalf("envsync keep: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
		}
	}
	if got, want := e.complete(t, push.Path, "kept"), []string{pushed[1], pushed[2], pushed[3]}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after 4 pushes with keep 2 and one kept forever: %v, want %v", got, want)
	}

	tasks := e.tasksFile(t, push.Keep)
	r := e.envsync(t, "keep", "--tasks", tasks, "--task", "push_kept", "--key", pushed[1], "--release")
	if r.code != 0 || !strings.Contains(r.stdout, "released  "+pushed[1]) {
		t.Fatalf("envsync keep --release: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	before := e.keys(t, bucket)
	r = e.envsync(t, "prune", "--tasks", tasks, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would remove dump   "+pushed[1]) || !strings.Contains(r.stdout, "beyond keep 2") ||
		!strings.Contains(r.stdout, "would remove 1 dumps and 0 orphans") {
		t.Fatalf("envsync prune --dry-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if after := e.keys(t, bucket); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a dry run changed the bucket:\n%v\n%v", before, after)
	}
	r = e.envsync(t, "prune", "--tasks", tasks, "--task", "push_kept")
	if r.code != 0 || !strings.Contains(r.stdout, "removed dump   "+pushed[1]) || !strings.Contains(r.stdout, "removed 1 dumps and 0 orphans") {
		t.Fatalf("envsync prune: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := e.complete(t, push.Path, "kept"); fmt.Sprint(got) != fmt.Sprint(pushed[2:]) {
		t.Fatalf("after prune: %v, want %v", got, pushed[2:])
	}
	// A pull holds its dump while it runs and removes the hold when it
	// ends.
	pull := e.task("pull", "kept_copy", "s3")
	pull.SourceDatabase = "kept"
	out := e.mustRun(starter.Request{Task: pull})
	if out.Pull.Key != pushed[3] || len(out.Pull.Notes) != 0 {
		t.Fatalf("pull restored %s with notes %v, want %s and no note", out.Pull.Key, out.Pull.Notes, pushed[3])
	}
	if n := e.attempts(t, out.WorkflowID, out.RunID)["ReleaseHold"]; n != 1 {
		t.Errorf("the pull removed its hold %d times, want once", n)
	}
	for _, k := range e.keys(t, bucket) {
		if strings.Contains(k, ".envsync-holds/") {
			t.Errorf("hold %s left behind", k)
		}
	}

	// Bad input exits 2 and names what is wrong.
	r = e.envsync(t, "prune", "--tasks", tasks, "--task", "pull_kept")
	if r.code != 2 || !strings.Contains(r.stderr, "task pull_kept is a pull") {
		t.Errorf("prune of a pull task: exit %d\n%s", r.code, r.stderr)
	}
}

// tasksFile writes the push task of TestRetention… and a pull of its dumps.
func (e *env) tasksFile(t *testing.T, keep int) string {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(`defaults:
  dbms: postgresql
  database_hostname: %s
  storagebackend: s3
  url: %s
  path: postgresql
  worker_host: %s
tasks:
  push_kept:
    action: push
    database: kept
    keep: %d
  pull_kept:
    action: pull
    database: kept_copy
    source_database: kept
`, e.pg.Addr(), bucket, testenv.Host, keep)
	return writeFile(t, dir, "tasks.yaml", body)
}
