package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envsync/envsync/internal/testenv"
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+e.temporal.Server.GetFrontendHostPort(), "TEMPORAL_NAMESPACE="+e.temporal.Namespace)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
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

// The README's first command, run as a user would run it.
func TestDemoThroughBinary(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "demo", "--dir", filepath.Join(dir, ".envsync"))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("envsync demo: %v\n%s", err, out)
	}
	for _, want := range []string{"pushed    postgresql/", "restored  postgresql/", "run       ", "customers 1000 = 1000 rows", "Web UI      http://127.0.0.1:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
