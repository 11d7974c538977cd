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
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

func pruneCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("tasks", "", "YAML tasks `file`; required")
	name := fs.String("task", "", "push task `name` (default: every push task with keep or keep_days)")
	dry := fs.Bool("dry-run", false, "list what would be removed and why; remove nothing")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if *file == "" {
			return &starter.InputError{Err: errors.New("--tasks FILE is required")}
		}
		f, err := config.LoadFile(*file)
		if err != nil {
			return &starter.InputError{Err: err}
		}
		tasks, err := starter.PruneTasks(f, *name)
		if err != nil {
			return err
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		// Every task is tried: one store being away does not keep the
		// others from being pruned.
		var failed []string
		for _, t := range tasks {
			res, err := starter.Prune(ctx, c, t, *dry, workflows.Timeouts{})
			if err != nil {
				fmt.Fprintf(stdout, "%s: FAILED: %s\n", t.Name, failure.Text(err))
				failed = append(failed, t.Name)
				continue
			}
			starter.ReportPrune(stdout, t.Name, res)
		}
		if len(failed) > 0 {
			return fmt.Errorf("pruning %d of %d tasks failed (%v); their reasons are above", len(failed), len(tasks), failed)
		}
		return nil
	}
}

func keepCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("tasks", "", "YAML tasks `file`; required")
	name := fs.String("task", "", "`name` of a task whose store and path hold the dump; required")
	key := fs.String("key", "", "the dump's data `key`, as a push or pull printed it; required")
	release := fs.Bool("release", false, "undo: let retention remove the dump again")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if *file == "" || *name == "" || *key == "" {
			return &starter.InputError{Err: errors.New("--tasks FILE, --task NAME and --key KEY are required")}
		}
		t, err := loadTask(*file, *name)
		if err != nil {
			return err
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		res, err := starter.Keep(ctx, c, t, *key, *release, workflows.Timeouts{})
		if err != nil {
			return err
		}
		switch {
		case *release && res.Existed:
			fmt.Fprintf(stdout, "released  %s: retention may remove it again\n", res.Key)
		case *release:
			fmt.Fprintf(stdout, "released  %s: it was not kept forever\n", res.Key)
		default:
			fmt.Fprintf(stdout, "kept      %s forever (hold %s in %s); undo with --release\n", res.Key, res.Hold, res.Location)
		}
		return nil
	}
}

func dumpsCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("tasks", "", "YAML tasks `file`; required")
	name := fs.String("task", "", "`name` of a task whose store and path hold the dumps (push, pull or drill); required")
	limit := fs.Int("limit", 0, "describe at most `n` dumps, newest first (default 50)")
	asJSON := fs.Bool("json", false, "print the listing as JSON")
	return func(ctx context.Context, stdout, _ io.Writer) error {
		if *file == "" || *name == "" {
			return &starter.InputError{Err: errors.New("--tasks FILE and --task NAME are required")}
		}
		if *limit < 0 {
			return &starter.InputError{Err: fmt.Errorf("--limit %d: give a number of dumps, 1 or more", *limit)}
		}
		t, err := loadTask(*file, *name)
		if err != nil {
			return err
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		res, err := starter.Dumps(ctx, c, t, *limit, workflows.Timeouts{})
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}
		starter.ReportDumps(stdout, t.Name, res, time.Now())
		return nil
	}
}

// loadTask loads the tasks file and finds the named task in it; what is
// wrong with either is bad input.
func loadTask(file, name string) (config.Task, error) {
	f, err := config.LoadFile(file)
	if err != nil {
		return config.Task{}, &starter.InputError{Err: err}
	}
	t, ok := f.Task(name)
	if !ok {
		return config.Task{}, &starter.InputError{Err: fmt.Errorf("%s: no task named %q", file, name)}
	}
	return t, nil
}
