package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/envsync/envsync/config"
)

// HookInput names a hook to run on this host.
type HookInput struct {
	Task config.Task
	// Name is an executable in the worker's hooks directory.
	Name string
	// Phase is "before" or "after".
	Phase string
	// Outcome (after hooks): ok, failed or skipped.
	Outcome string
}

// RunHook runs one of the host's own hook executables with the run's
// context in its environment. Its output goes to the worker's log, not to
// Temporal: a hook may print things that should not be in workflow history.
func (a *Activities) RunHook(ctx context.Context, in HookInput) error {
	if a.cfg.HooksDir == "" {
		return permanent(ErrHookMissing, fmt.Errorf("task %s names hook %q but this worker has no hooks directory (start it with --hooks-dir)", in.Task.Name, in.Name))
	}
	if strings.ContainsAny(in.Name, `/\`) || in.Name == "" || strings.HasPrefix(in.Name, ".") {
		return permanent(ErrHookMissing, fmt.Errorf("hook name %q is not a plain file name", in.Name))
	}
	path := filepath.Join(a.cfg.HooksDir, in.Name)
	if fi, err := os.Stat(path); err != nil || fi.Mode()&0o111 == 0 {
		return permanent(ErrHookMissing, fmt.Errorf("hook %s is missing or not executable on this host", path))
	}
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = append(os.Environ(),
		"ENVSYNC_TASK="+in.Task.Name, "ENVSYNC_ACTION="+in.Task.Action, "ENVSYNC_DBMS="+in.Task.DBMS,
		"ENVSYNC_DATABASE="+in.Task.Database, "ENVSYNC_PHASE="+in.Phase, "ENVSYNC_OUTCOME="+in.Outcome)
	out, err := cmd.CombinedOutput()
	a.cfg.Logger.Info("hook ran", "hook", path, "phase", in.Phase, "task", in.Task.Name, "output", string(out), "error", err)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return permanent(ErrHookFailed, fmt.Errorf("%s hook %s exited %d (its output is in the worker's log on this host)", in.Phase, in.Name, exit.ExitCode()))
	}
	if err != nil {
		return fmt.Errorf("run %s hook %s: %w", in.Phase, in.Name, err)
	}
	return nil
}
