package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/temporalconn"
)

// startCommand is push and pull (action "push", "pull") and run (action
// ""): start a run and follow it to the end.
func startCommand(action string) func(*flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(fs *flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
		flags := defineStartFlags(fs, action)
		temporal := temporalFlags(fs)
		patience := fs.Duration("wait-for-temporal", starter.DefaultPatience,
			"how long to keep waiting for Temporal once it stops answering; past it, exit 3 (the run's outcome unknown)")
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			return startRun(ctx, flags, temporal, *patience, stdout, stderr)
		}
	}
}

func startRun(ctx context.Context, flags *Flags, temporal *temporalconn.Request, patience time.Duration, stdout, stderr io.Writer) error {
	parsed, err := flags.Args()
	if err != nil {
		return err
	}
	if patience <= 0 {
		return &starter.InputError{Err: fmt.Errorf("--wait-for-temporal %s: must be more than 0", patience)}
	}
	c, conn, err := dial(ctx, temporal)
	if err != nil {
		return err
	}
	defer c.Close()
	r := parsed.Request
	fmt.Fprintf(stdout, "%s %s database %s (%s) via %s://%s/%s on host %s\n", r.Task.Action, r.Task.DBMS, r.Task.Database,
		parsed.Source, r.Task.StorageBackend, r.Task.URL, r.Task.Path, r.Task.WorkerHost)
	// Progress goes to stderr: stdout stays the summary, for scripts.
	watch := &starter.Watch{Out: stderr, Address: conn.Options.HostPort, Namespace: conn.Options.Namespace, Patience: patience}
	if f, ok := stderr.(*os.File); ok {
		watch.TTY = term.IsTerminal(int(f.Fd()))
	}
	out, err := starter.RunWatched(ctx, c, r, watch)
	var unknown *starter.UnknownOutcome
	if errors.As(err, &unknown) {
		return err // not a failure: exit 3, saying where to look
	}
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
