package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

func statusCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("tasks", "", "YAML tasks `file`; required")
	name := fs.String("task", "", "only this task's `name` (default: every task not ensure: absent)")
	asJSON := fs.Bool("json", false, "print the statuses as JSON")
	stale := fs.Duration("stale-after", starter.DefaultStaleAfter, "a task whose last success (a push: newest dump) is older than this `duration` is stale")
	hostWait := fs.Duration("host-wait", 30*time.Second, "how long to wait for a task's worker to read its store (`duration`)")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if *file == "" {
			return &starter.InputError{Err: errors.New("--tasks FILE is required")}
		}
		if *stale <= 0 {
			return &starter.InputError{Err: fmt.Errorf("--stale-after %s: give a positive duration, e.g. 26h", *stale)}
		}
		var tasks []config.Task
		if *name != "" {
			t, err := loadTask(*file, *name)
			if err != nil {
				return err
			}
			tasks = append(tasks, t)
		} else {
			f, err := config.LoadFile(*file)
			if err != nil {
				return &starter.InputError{Err: err}
			}
			for _, t := range f.Tasks {
				if t.Ensure != config.EnsureAbsent {
					tasks = append(tasks, t)
				}
			}
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		now := time.Now()
		st := starter.Status(ctx, c, tasks, starter.StatusOptions{StaleAfter: *stale, Now: now, Timeouts: workflows.Timeouts{HostWait: *hostWait}})
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(map[string]any{"tasks": st}); err != nil {
				return err
			}
		} else {
			starter.ReportStatus(stdout, st, now)
		}
		var bad []string
		for _, s := range st {
			if s.Verdict != starter.VerdictOK {
				bad = append(bad, s.Task+" ("+s.Verdict+")")
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d of %d tasks are not ok: %v", len(bad), len(st), bad)
		}
		return nil
	}
}
