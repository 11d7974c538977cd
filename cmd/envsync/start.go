package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/temporalconn"
)

// startCommand is push and pull (action "push", "pull") and run (action
// ""): start a run and follow it to the end.
func startCommand(action string) func(*flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		flags := starter.DefineFlags(fs, action)
		temporal := temporalFlags(fs)
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			return startRun(ctx, flags, temporal, stdout, stderr)
		}
	}
}

func startRun(ctx context.Context, flags *starter.Flags, temporal *temporalconn.Request, stdout, stderr io.Writer) error {
	parsed, err := flags.Args()
	if err != nil {
		return err
	}
	c, _, err := dial(ctx, temporal)
	if err != nil {
		return err
	}
	defer c.Close()
	r := parsed.Request
	fmt.Fprintf(stdout, "%s %s database %s (%s) via %s://%s/%s on host %s\n", r.Task.Action, r.Task.DBMS, r.Task.Database,
		parsed.Source, r.Task.StorageBackend, r.Task.URL, r.Task.Path, r.Task.WorkerHost)
	// Progress goes to stderr: stdout stays the summary, for scripts.
	watch := &starter.Watch{Out: stderr}
	if f, ok := stderr.(*os.File); ok {
		watch.TTY = term.IsTerminal(int(f.Fd()))
	}
	out, err := starter.RunWatched(ctx, c, r, watch)
	if err != nil {
		starter.Failed(stdout, out)
		var input *starter.InputError
		if !errors.As(err, &input) {
			err = errors.New(r.Task.Action + " failed: " + failure.Text(err))
		}
		return err
	}
	starter.Report(stdout, out)
	return starter.Check(out, parsed.Source)
}
