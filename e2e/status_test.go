package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
)

// `envsync status` over a task that succeeded (with a schedule), one that
// failed, one never run and one stale (its newest dump moved three days
// back): the verdicts, the exit status and the JSON.
func TestStatusVerdicts(t *testing.T) {
	e := newEnv(t, false)
	e.exec("postgres", "CREATE DATABASE fine", "CREATE DATABASE old")
	e.exec("fine", "CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)")
	e.exec("old", "CREATE TABLE t (v int)")
	hour := (time.Now().UTC().Hour() + 12) % 24 // never due during the test
	file := writeFile(t, t.TempDir(), "tasks.yaml", fmt.Sprintf(`defaults:
  dbms: postgresql
  database_hostname: %s
  worker_host: %s
  storagebackend: file
  url: %s
  path: postgresql
tasks:
  push_fine:
    action: push
    database: fine
    hour: %d
    minute: 5
  push_broken:
    action: push
    database: nosuch
  pull_never:
    action: pull
    database: fine_copy
    source_database: fine
  push_old:
    action: push
    database: old
`, e.pg.Addr(), testenv.Host, e.fileDir, hour))
	task := fileTasks(t, file)
	e.mustRun(starter.Request{Task: task("push_fine")})
	if _, err := e.run(starter.Request{Task: task("push_broken")}); err == nil {
		t.Fatal("a push of a database that does not exist succeeded")
	}
	old := e.mustRun(starter.Request{Task: task("push_old")}).Push.Key
	moveBack(t, e.fileDir, old, 72*time.Hour)
	if r := e.envsync(t, "schedules", "apply", "-f", file); r.code != 0 {
		t.Fatalf("schedules apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	r := e.envsync(t, "status", "--tasks", file, "--json")
	if r.code != 1 {
		t.Errorf("status with failing, never-run and stale tasks: exit %d, want 1\n%s", r.code, r.stderr)
	}
	var got struct{ Tasks []starter.TaskStatus }
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("status --json printed no JSON: %v\n%s", err, r.stdout)
	}
	verdicts := map[string]starter.TaskStatus{}
	for _, s := range got.Tasks {
		verdicts[s.Task] = s
	}
	for name, want := range map[string]string{"push_fine": "ok", "push_broken": "failing", "pull_never": "never run", "push_old": "stale"} {
		if s := verdicts[name]; s.Verdict != want {
			t.Errorf("%s: verdict %q (%s), want %q", name, s.Verdict, s.Why, want)
		}
	}
	fine := verdicts["push_fine"]
	if fine.LastRun == nil || fine.LastRun.Outcome != "ok" || fine.LastRun.Duration <= 0 || fine.NewestDump == nil ||
		fine.NewestDump.Rows != 1 || fine.Schedule == nil || fine.Schedule.NextRun == nil || fine.Schedule.Paused {
		t.Errorf("push_fine: %+v", fine)
	}
	if s := verdicts["push_broken"]; s.LastRun == nil || s.LastRun.Outcome != "failed" || !strings.Contains(s.Why, "the last run failed") {
		t.Errorf("push_broken: %+v", s)
	}
	if s := verdicts["push_old"]; !strings.Contains(s.Why, "newest dump 3d") {
		t.Errorf("push_old: why %q, want the newest dump's age", s.Why)
	}

	text := e.envsync(t, "status", "--tasks", file)
	for _, want := range []string{"push_fine", "next in", "ok ", "push_broken", "failing", "never run", "not drilled", "push_old: stale: newest dump 3d"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("envsync status does not say %q:\n%s", want, text.stdout)
		}
	}
	if r := e.envsync(t, "status", "--tasks", file, "--task", "push_fine"); r.code != 0 {
		t.Errorf("status of the one ok task: exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := e.envsync(t, "status", "--tasks", file, "--stale-after", "-1h"); r.code != 2 || !strings.Contains(r.stderr, "--stale-after") {
		t.Errorf("a negative --stale-after: exit %d\n%s", r.code, r.stderr)
	}
}

// moveBack renames a dump in a file store (data and manifest) as if it
// had been taken by ago earlier.
func moveBack(t *testing.T, root, key string, ago time.Duration) {
	t.Helper()
	db, at, ok := dump.Parse("postgresql", key)
	if !ok {
		t.Fatalf("%s is not a dump key", key)
	}
	moved := dump.Key("postgresql", db, at.Add(-ago), dump.Zstd)
	body, err := os.ReadFile(filepath.Join(root, dump.ManifestKey(key)))
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), `"key": "`+key+`"`, `"key": "`+moved+`"`, 1))
	if err := os.WriteFile(filepath.Join(root, dump.ManifestKey(moved)), body, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, key), filepath.Join(root, moved)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, dump.ManifestKey(key))); err != nil {
		t.Fatal(err)
	}
}

// fileTasks loads a tasks file and returns a lookup of its tasks by name
// that fails the test for a name the file lacks.
func fileTasks(t *testing.T, file string) func(string) config.Task {
	t.Helper()
	f, err := config.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) config.Task {
		tk, ok := f.Task(name)
		if !ok {
			t.Fatalf("no task %s in %s", name, file)
		}
		return tk
	}
}
