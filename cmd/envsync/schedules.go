package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/schedules"
	"github.com/envsync/envsync/starter"
)

func schedulesCommand(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	temporal := temporalFlags(fs)
	file := fs.String("f", "", "tasks `file` (YAML); required")
	dry := fs.Bool("dry-run", false, "print the plan, change nothing")
	prune := fs.Bool("prune", false, "also delete envsync schedules the file no longer names")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *file == "" {
			return &starter.InputError{Err: errors.New("-f tasks.yaml is required")}
		}
		f, err := config.LoadFile(*file)
		if err != nil {
			return &starter.InputError{Err: err}
		}
		c, _, err := dial(ctx, temporal)
		if err != nil {
			return err
		}
		defer c.Close()
		plan, err := schedules.Build(ctx, c, f, schedules.Progress(stderr))
		if err != nil {
			return err
		}
		plan.Print(stdout)
		pending := plan.Pending(*prune)
		switch {
		case pending == 0:
			fmt.Fprintln(stdout, "no changes")
		case *dry:
			fmt.Fprintf(stdout, "dry run: %d changes not applied\n", pending)
		default:
			n, err := plan.Apply(ctx, c, *prune)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "applied %d changes\n", n)
		}
		return nil
	}
}
