package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

// sanitiseInitCommand prints a complete rule set for a task's database, or
// an existing rule set with what it lacks added. The database is read on
// the task's worker; only names and verdicts come back.
func sanitiseInitCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("tasks", "", "YAML tasks `file`; required")
	name := fs.String("task", "", "push task `name`, or a pull fed by one; required")
	update := fs.String("update", "", "existing rule set `file`: print it with every line as it is and what the database has and it lacks added")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *file == "" || *name == "" {
			return &starter.InputError{Err: errors.New("--tasks FILE and --task NAME are required")}
		}
		f, err := config.LoadFile(*file)
		if err != nil {
			return &starter.InputError{Err: err}
		}
		push, err := starter.SurveyTask(f, *name)
		if err != nil {
			return err
		}
		var old []byte
		if *update != "" {
			if old, err = os.ReadFile(*update); err != nil {
				return &starter.InputError{Err: fmt.Errorf("--update: %w", err)}
			}
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		s, err := starter.Survey(ctx, c, push, workflows.Timeouts{})
		if err != nil {
			return err
		}
		transformed, kept := s.Changes()
		if *update == "" {
			header := fmt.Sprintf("Written by envsync sanitise init on %s from %s %s (task %s, host %s),\nsampling up to %d values of each column. Every table and column is named:\na transformer replaces its values, keep passes them as they are (and every\npull scans them for personal data). Read it through before use: a column\nkept here may hold personal data the samples did not show.",
				time.Now().UTC().Format("2006-01-02"), push.DBMS, push.Database, push.Name, push.WorkerHost, s.Sampled)
			if _, err := stdout.Write(s.YAML(header)); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%d tables: %d columns transformed, %d kept\n", len(s.Tables), transformed, kept)
			return nil
		}
		out, added, err := s.Update(*update, old)
		if err != nil {
			return &starter.InputError{Err: err}
		}
		if _, err := stdout.Write(out); err != nil {
			return err
		}
		if len(added) == 0 {
			fmt.Fprintf(stderr, "%s names everything %s holds; nothing added\n", *update, push.Database)
		} else {
			fmt.Fprintf(stderr, "added %d to %s: %s\n", len(added), *update, strings.Join(added, ", "))
		}
		return nil
	}
}
