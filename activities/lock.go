package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/activity"
)

// LockInput names the task whose reboot lock is taken or released.
type LockInput struct {
	// Task is the task name; required.
	Task string
}

func (a *Activities) lockPath(task string) string {
	return filepath.Join(a.cfg.LockDir, "envsync-"+unsafeName.ReplaceAllString(task, "_"))
}

func lockOwner(ctx context.Context) string {
	we := activity.GetInfo(ctx).WorkflowExecution
	return fmt.Sprintf("envsync workflow %s run %s\n", we.ID, we.RunID)
}

// AcquireLock writes this task's reboot-lock file (one per task, as the
// original ended up with, so tasks do not serialise each other). A file left
// by a crashed run is taken over: Temporal's workflow ID already guarantees
// only one run per database.
func (a *Activities) AcquireLock(ctx context.Context, in LockInput) error {
	if err := os.MkdirAll(a.cfg.LockDir, 0o755); err != nil {
		return fmt.Errorf("create lock directory %s: %w", a.cfg.LockDir, err)
	}
	p := a.lockPath(in.Task)
	if prev, err := os.ReadFile(p); err == nil && string(prev) != lockOwner(ctx) {
		a.cfg.Logger.Warn("taking over a reboot lock left by another run", "lock", p, "previous", string(prev))
	}
	if err := os.WriteFile(p, []byte(lockOwner(ctx)), 0o644); err != nil {
		return fmt.Errorf("write reboot lock %s: %w", p, err)
	}
	return nil
}

// ReleaseLock removes the lock file if this run still owns it.
func (a *Activities) ReleaseLock(ctx context.Context, in LockInput) error {
	p := a.lockPath(in.Task)
	prev, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read reboot lock %s: %w", p, err)
	}
	if string(prev) != lockOwner(ctx) {
		a.cfg.Logger.Warn("reboot lock belongs to another run; leaving it", "lock", p)
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove reboot lock %s: %w", p, err)
	}
	return nil
}
