package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/envsync once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "envsync-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "envsync")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/envsync").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/envsync: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

func (e *env) envsync(t *testing.T, args ...string) result {
	t.Helper()
	return runBinary(t, map[string]string{"TEMPORAL_ADDRESS": e.temporal.Server.GetFrontendHostPort(), "TEMPORAL_NAMESPACE": e.temporal.Namespace}, args...)
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The original's cron line, `-f <task>.cfg`, works through the binary with
// only the program name changed; exit codes say done (0), failed (1) and
// bad input (2).
func TestLegacyConfigThroughBinary(t *testing.T) {
	e := newEnv(t, false)
	e.exec("postgres", "CREATE DATABASE legacy")
	e.exec("legacy", "CREATE TABLE t (v int)", "INSERT INTO t VALUES (1), (2)")
	dir := t.TempDir()
	common := fmt.Sprintf(`# written by puppet
dbms="postgresql"
storagebackend="file"
temppath="%s"
database="legacy"
database_hostname="%s"
url="%s"
path="postgresql-backend"
`, filepath.Join(dir, "tmp"), e.pg.Addr(), e.fileDir)
	pushCfg := writeFile(t, dir, "push_legacy_daily.cfg", common+"action=\"push\"\n")
	pullCfg := writeFile(t, dir, "pull_legacy_daily.cfg", common+"action=\"pull\"\n")

	r := e.envsync(t, "run", "-f", pushCfg, "--worker-host", testenv.Host)
	if r.code != 0 || !strings.Contains(r.stdout, "pushed    postgresql-backend/") {
		t.Fatalf("run -f push cfg: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	e.exec("legacy", "INSERT INTO t VALUES (3)") // after the dump: the pull must undo it
	r = e.envsync(t, "run", "-f", pullCfg, "--worker-host", testenv.Host)
	if r.code != 0 || !strings.Contains(r.stdout, "restored  postgresql-backend/") {
		t.Fatalf("run -f pull cfg: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var n int
	if err := e.conn("legacy").QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Errorf("after pull: %d rows, %v; want the 2 rows of the dump", n, err)
	}

	// The original's -s: transformation SQL run on the restored copy
	// before it is swapped in.
	sqlFile := writeFile(t, dir, "transform.sql", "UPDATE t SET v = v * 10;\n")
	r = e.envsync(t, "run", "-f", pullCfg, "--worker-host", testenv.Host, "-s", sqlFile)
	if r.code != 0 {
		t.Fatalf("run -f pull cfg -s: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var sum int
	if err := e.conn("legacy").QueryRow(context.Background(), "SELECT sum(v) FROM t").Scan(&sum); err != nil || sum != 30 {
		t.Errorf("after pull with -s: sum %d, %v; want the transformation applied (30)", sum, err)
	}

	// Flags override the file, as in the original; a -t with no dump fails the run.
	r = e.envsync(t, "pull", "-f", pullCfg, "--worker-host", testenv.Host, "-t", "1999-01-01T00:00")
	if r.code != 1 || !strings.Contains(r.stderr, "no complete dump found at 1999-01-01T00:00 UTC") {
		t.Errorf("pull -t without a dump: exit %d, stderr %s", r.code, r.stderr)
	}

	bad := map[string]struct {
		args []string
		want []string
	}{
		"bad dbms": {[]string{"run", "-f", writeFile(t, dir, "bad_dbms.cfg", common+"action=\"push\"\ndbms=\"oracle\"\n")},
			[]string{"bad_dbms.cfg", `dbms "oracle"`, "postgresql"}},
		"unknown key": {[]string{"run", "-f", writeFile(t, dir, "typo.cfg", common+"acton=\"push\"\n")},
			[]string{"typo.cfg", "line 9", `acton "push"`, "unknown key"}},
		"bad timestamp": {[]string{"pull", "-f", pullCfg, "-t", "2026-13-01T00:00"},
			[]string{`timestamp "2026-13-01T00:00"`, "YYYY-MM-DDTHH:MM"}},
		"action conflict":  {[]string{"push", "-f", pullCfg}, []string{`action "pull"`, "envsync run"}},
		"bad backend pair": {[]string{"push", "-f", pushCfg, "-S", "es_snapshot"}, []string{`storagebackend "es_snapshot"`, "s3, file"}},
		"missing database": {[]string{"push", "-D", "postgresql", "-S", "file", "-u", "/srv/x"}, []string{`database ""`, "required"}},
	}
	for name, tc := range bad {
		t.Run(name, func(t *testing.T) {
			r := e.envsync(t, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

// The README's first command, run as a user would run it: its output is
// what it promises (no log lines in between), and it points at the Web UI
// only when asked to keep it up (--keep), since it goes away with the
// command otherwise.
func TestDemoThroughBinary(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "demo", "--dir", filepath.Join(dir, ".envsync"))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("envsync demo: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"pushed    postgresql/", "restored  postgresql/", "run       ", "customers 1000 = 1000 rows", "envsync demo --keep",
		"== envsync sanitise init", "    email: email  # the name says e-mail address; sampled values were e-mail addresses (200 of 200)",
		"  public.customers         1000 rows: 1000 transformed, 0 filtered out, 1000 kept values scanned",
		"none of the 3000 original names, e-mail addresses and phone numbers is in the copy"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "http://") {
		t.Errorf("the demo prints a Web UI address that is gone once it exits:\n%s", out)
	}
	if stderr.Len() > 0 || strings.Contains(out, "INFO") || strings.Contains(out, "level=") {
		t.Errorf("log lines in the demo's output:\n%s\nstderr:\n%s", out, stderr.String())
	}

	// With --keep the address is printed, answers, and stays up until
	// Ctrl-C.
	keep := exec.CommandContext(ctx, binary(t), "demo", "--keep", "--dir", filepath.Join(dir, ".envsync"))
	keep.Dir = dir
	keep.WaitDelay = 10 * time.Second // what it started may hold its stdout after it exits
	pr, pw := io.Pipe()
	keep.Stdout, keep.Stderr = pw, &stderr
	if err := keep.Start(); err != nil {
		t.Fatal(err)
	}
	// A demo that exits before it prints what is read below ends the
	// scan (and the test, with its stderr) instead of leaving it waiting.
	exited := make(chan error, 1)
	go func() {
		err := keep.Wait()
		pw.CloseWithError(fmt.Errorf("envsync demo --keep exited: %v", err))
		exited <- err
	}()
	var ui, address, tasks string
	sc := bufio.NewScanner(pr)
	for (ui == "" || address == "" || tasks == "") && sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "Web UI      "); ok {
			ui, _, _ = strings.Cut(rest, " ")
		}
		if rest, ok := strings.CutPrefix(line, "export TEMPORAL_ADDRESS="); ok {
			address = rest
		}
		if rest, ok := strings.CutPrefix(line, "envsync pull --tasks "); ok {
			tasks, _, _ = strings.Cut(rest, " ")
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.HasPrefix(ui, "http://127.0.0.1:") || address == "" || tasks == "" {
		select {
		case err := <-exited: // the scan ended with it: say why
			t.Fatalf("envsync demo --keep exited (%v) before it printed its Web UI address and the tour:\n%s", err, stderr.String())
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("envsync demo --keep printed no Web UI address (%q) or no tour (%q, %q)", ui, address, tasks)
	}
	resp, err := http.Get(ui)
	if err != nil {
		t.Fatalf("the Web UI the demo kept up does not answer: %v", err)
	}
	resp.Body.Close()
	// The README's tour: a sanitised pull of the demo's dump, from
	// another shell, with what the demo printed.
	r := runBinary(t, map[string]string{"TEMPORAL_ADDRESS": address}, "pull", "--tasks", tasks, "--task", "pull_demo_staging")
	if r.code != 0 || !strings.Contains(r.stdout, "restored  postgresql/") || !strings.Contains(r.stdout, "  public.orders            3000 rows: 3000 transformed") {
		t.Errorf("the tour's pull: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rules, err := os.ReadFile(filepath.Join(filepath.Dir(tasks), "rules.yaml"))
	if err != nil || !strings.Contains(readme(t), string(rules)) {
		t.Errorf("the README does not show the tour's rule set as the demo writes it (%v):\n%s", err, rules)
	}
	_ = keep.Process.Signal(os.Interrupt)
	if err := <-exited; err != nil {
		t.Errorf("envsync demo --keep after Ctrl-C: %v\n%s", err, stderr.String())
	}
}

func temporalCLI(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("temporal"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "temporal")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("temporal CLI not found; install it: go install github.com/temporalio/cli/cmd/temporal@v1.5.1")
	}
	return p
}

func (e *env) cli(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "--address", e.temporal.Server.GetFrontendHostPort(), "--namespace", e.temporal.Namespace)
	out, err := exec.Command(temporalCLI(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("temporal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The README's schedule commands through the binary, and its operator
// recipes through the real temporal CLI: trigger a task's schedule now,
// start a pull of a chosen timestamp, list one database's failed runs,
// pause a schedule.
func TestSchedulesAndOperatorRecipes(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.exec("postgres", "CREATE DATABASE shop_staging")
	dir := t.TempDir()
	tasks := func(hour int) string {
		return writeFile(t, dir, "tasks.yaml", fmt.Sprintf(`
defaults:
  dbms: postgresql
  storagebackend: file
  url: %s
  path: postgresql
  database_hostname: %s
  worker_host: %s
tasks:
  push_shop:
    title: shop nightly push
    action: push
    database: shop
    hour: %d
    minute: 30
    timezone: Europe/London
  pull_shop_staging:
    ensure: disabled
    action: pull
    database: shop_staging
    source_database: shop
    hour: 1
    minute: 0
`, e.fileDir, e.pg.Addr(), testenv.Host, hour))
	}

	f := tasks(23)
	r := e.envsync(t, "schedules", "apply", "--dry-run", "-f", f)
	if r.code != 0 || !strings.Contains(r.stdout, "create") || !strings.Contains(r.stdout, "dry run: 2 changes not applied") {
		t.Fatalf("dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = e.envsync(t, "schedules", "apply", "-f", f)
	if r.code != 0 || !strings.Contains(r.stdout, "envsync-task-push_shop") || !strings.Contains(r.stdout, "daily 23:30 Europe/London") ||
		!strings.Contains(r.stdout, "applied 2 changes") {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = e.envsync(t, "schedules", "apply", "-f", f); r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Errorf("second apply: %d\n%s", r.code, r.stdout)
	}
	if r = e.envsync(t, "schedules", "apply", "-f", writeFile(t, dir, "bad.yaml", "tasks:\n  x:\n    action: push\n    hour: 24\n")); r.code != 2 || !strings.Contains(r.stderr, `hour "24": must be 0-23`) {
		t.Errorf("bad file: exit %d\n%s", r.code, r.stderr)
	}

	// Trigger the push's schedule now.
	e.cli(t, "schedule", "trigger", "--schedule-id", "envsync-task-push_shop")
	var pushed workflows.PushResult
	if err := waitRun(t, e.temporal.Client, "envsync-db1-"+e.pg.Addr()+"/shop", "Push").Get(context.Background(), &pushed); err != nil {
		t.Fatalf("triggered push: %v", err)
	}

	// Start a pull of a chosen timestamp, as the README shows.
	stamp := strings.TrimPrefix(pushed.Key, "postgresql/")[:15] // 2026-11-26T1830
	ts := stamp[:13] + ":" + stamp[13:15]                       // 2026-11-26T18:30
	input := fmt.Sprintf(`{"task": {"name": "pull_shop_staging", "action": "pull", "dbms": "postgresql", "storagebackend": "file",
		"database": "shop_staging", "source_database": "shop", "database_hostname": %q, "url": %q, "path": "postgresql",
		"worker_host": %q}, "timestamp": %q}`, e.pg.Addr(), e.fileDir, testenv.Host, ts)
	pullID := "envsync-db1-" + e.pg.Addr() + "/shop_staging" // worker host, database server, database
	e.cli(t, "workflow", "start", "--task-queue", "envsync", "--type", "Pull", "--workflow-id", pullID, "--input", input)
	var pulled workflows.PullResult
	if err := waitRun(t, e.temporal.Client, pullID, "Pull").Get(context.Background(), &pulled); err != nil {
		t.Fatalf("pull started with the CLI: %v", err)
	}
	if pulled.Key != pushed.Key {
		t.Errorf("CLI pull of %s restored %s, want %s", ts, pulled.Key, pushed.Key)
	}

	// A failed run, then the query that finds it.
	if _, err := e.run(starter.Request{Task: func() config.Task {
		tk := e.task(config.ActionPull, "shop_staging", "file")
		tk.SourceDatabase = "shop"
		return tk
	}(), Timestamp: "2001-01-01T00:00"}); err == nil {
		t.Fatal("pull of a missing timestamp succeeded")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := e.cli(t, "workflow", "list", "--query", `EnvsyncDatabase = "shop_staging" AND ExecutionStatus = "Failed"`)
		if strings.Contains(out, pullID) && strings.Contains(out, "Failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failed run not listed:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Pause a schedule by hand.
	e.cli(t, "schedule", "toggle", "--schedule-id", "envsync-task-push_shop", "--pause", "--reason", "maintenance")
	desc, err := e.temporal.Client.ScheduleClient().GetHandle(context.Background(), "envsync-task-push_shop").Describe(context.Background())
	if err != nil || !desc.Schedule.State.Paused {
		t.Errorf("schedule not paused: %v", err)
	}
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
