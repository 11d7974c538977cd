package activities

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
)

// The reboot lock is a file per task while the run holds it; release
// removes only this run's lock, never another run's.
func TestRebootLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-reboot")
	a := New(Config{LockDir: dir})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	if _, err := env.ExecuteActivity(a.AcquireLock, LockInput{Task: "push_orders"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "envsync-push_orders")
	body, err := os.ReadFile(p)
	if err != nil || !strings.Contains(string(body), "envsync workflow") {
		t.Fatalf("lock file: %q %v", body, err)
	}
	if _, err := env.ExecuteActivity(a.ReleaseLock, LockInput{Task: "push_orders"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("lock still there after release: %v", err)
	}

	other := "envsync workflow other run other\n"
	os.WriteFile(p, []byte(other), 0o644)
	if _, err := env.ExecuteActivity(a.ReleaseLock, LockInput{Task: "push_orders"}); err != nil {
		t.Fatal(err)
	}
	if body, _ := os.ReadFile(p); string(body) != other {
		t.Error("released another run's lock")
	}
}
