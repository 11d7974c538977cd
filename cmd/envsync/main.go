// Command envsync pushes and pulls databases between environments through
// Temporal. Subcommands only; the work is in the packages they call.
//
// Every subcommand is a row of the commands table; its help is generated
// from the flags it defines, so help cannot drift from the flags. Built with
// -tags lean, the binary leaves out dev and demo, and with them the
// embedded Temporal server and Web UI: that is the worker for database
// hosts (see the Dockerfile).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/buildinfo"
	"github.com/envsync/envsync/dump"
	_ "github.com/envsync/envsync/engine/all" // every engine and store, registered
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/temporalconn"
)

// command is one subcommand. define defines the command's flags on fs and
// returns the function that runs it once they are parsed; it is nil when
// the command is not in this build (see lean.go).
type command struct {
	name     string // one word, or a noun and a verb ("schedules apply")
	summary  string // one line, for the list of commands
	synopsis string // the arguments after the name, for the command's help
	define   func(fs *flag.FlagSet) func(ctx context.Context, stdout, stderr io.Writer) error
}

var commands = []command{
	{"demo", "push a sample PostgreSQL database and pull it into a second one, on an embedded Temporal",
		"[--dir DIR] [--keep] [--postgres HOST:PORT]", demoCommand},
	{"dev", "run an embedded Temporal (SQLite), its Web UI and a worker (central + this host)",
		"[--dir DIR] [--port PORT] [--ui-port PORT] [worker flags]", devCommand},
	{"worker", "run a worker: this host's steps, and with --central the workflows",
		"[--central] [--no-host] [--host NAME] [flags]", workerCommand},
	{"push", "dump a database and upload it to a store",
		"[-f FILE.cfg | --tasks FILE --task NAME] [-D dbms -S backend -d db -H host[:port] -u url -p path ...]", startCommand("push")},
	{"pull", "download a dump and restore it into a database",
		"(as push) [-t YYYY-MM-DDTHH:MM | --key KEY]", startCommand("pull")},
	{"run", "push or pull, as the legacy file's action (or -a) says",
		"-f FILE.cfg [flags as push and pull]", startCommand("")},
	{"drill", "prove a drill task's newest dump restores: restore it into a throwaway database, verify, check, drop, write the evidence",
		"--tasks FILE --task NAME", startCommand("drill")},
	{"prune", "remove the dumps push tasks' keep and keep_days no longer keep (on the tasks' workers)",
		"--tasks FILE [--task NAME] [--dry-run]", pruneCommand},
	{"status", "every task at a glance: schedule, last run, newest dump, verdict (exit 0 only when all are ok)",
		"--tasks FILE [--task NAME] [--stale-after 26h] [--json]", statusCommand},
	{"dumps", "list a task's dumps in its store, newest first: size, flags, holds, drills, what retention would do (on the task's worker)",
		"--tasks FILE --task NAME [--limit N] [--json]", dumpsCommand},
	{"keep", "keep one dump forever, out of retention's reach (on the task's worker)",
		"--tasks FILE --task NAME --key KEY [--release]", keepCommand},
	{"sanitise init", "print a complete rule set read from a push task's database (on its worker): every table and column, the personal ones transformed",
		"--tasks FILE --task NAME [--update RULES]", sanitiseInitCommand},
	{"schedules apply", "make Temporal Schedules match the tasks file",
		"-f TASKS.yaml [--dry-run] [--prune]", schedulesCommand},
	{"version", "print the version", "", versionCommand},
}

const (
	exitStatus = "Exit status: 0 done, 1 the run failed, 2 bad input, 3 the run's outcome is unknown (Temporal stopped answering)."
	// temporalNote closes the help of the commands that talk to Temporal:
	// those with a --namespace flag.
	temporalNote = `Temporal: as the temporal CLI, from $TEMPORAL_ADDRESS (default 127.0.0.1:7233),
namespace --namespace or $TEMPORAL_NAMESPACE (default "default"), TLS and API key
from $TEMPORAL_TLS_*, $TEMPORAL_API_KEY, and a profile (--profile or $TEMPORAL_PROFILE)
of $TEMPORAL_CONFIG_FILE (default ~/.config/temporalio/temporal.toml); flags win
over the environment, the environment over the profile.`
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printCommands(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, slices.Concat(args[1:], []string{"--help"}), stdout, stderr)
		}
		printCommands(stdout)
		return 0
	}
	c, args, ok := lookup(args)
	if !ok {
		// A noun without its verb (envsync schedules) gets the commands
		// it starts, not "unknown".
		var near []string
		for _, c := range commands {
			if noun, verb, two := strings.Cut(c.name, " "); two && noun == args[0] {
				near = append(near, fmt.Sprintf("envsync %s %s %s", noun, verb, c.synopsis))
			}
		}
		if len(near) > 0 {
			fmt.Fprintf(stderr, "usage: %s\n", strings.Join(near, "\n       "))
			return 2
		}
		fmt.Fprintf(stderr, "envsync: unknown command %q\n\n", args[0])
		printCommands(stderr)
		return 2
	}
	if c.define == nil {
		fmt.Fprintf(stderr, "envsync: %s is not in this build: this is the lean worker build (-tags lean), which leaves out the embedded Temporal server; %s is in the default build (go build ./cmd/envsync)\n", c.name, c.name)
		return 2
	}
	fs := newFlagSet(c)
	runCmd := c.define(fs)
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q: %s takes flags only", fs.Arg(0), c.name)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stdout, c, fs)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "envsync %s: %v\n\n", c.name, err)
		printUsage(stderr, c, fs)
		return 2
	}
	return exitCode(runCmd(ctx, stdout, stderr), stderr)
}

// lookup finds the command args start with and returns the arguments after
// its name.
func lookup(args []string) (command, []string, bool) {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c, args[len(words):], true
		}
	}
	return command{}, args, false
}

// newFlagSet is a silent FlagSet: run prints parse errors and help itself,
// help to stdout and errors to stderr.
func newFlagSet(c command) *flag.FlagSet {
	fs := flag.NewFlagSet("envsync "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, "envsync: durable database push/pull between environments, on Temporal\n\nUsage: envsync <command> [flags]\n\nCommands:\n")
	width := len("help [command]")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		summary := c.summary
		if c.define == nil {
			summary += " (not in this build)"
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, summary)
	}
	fmt.Fprintf(w, "  %-*s  %s\n", width, "help [command]", "this list, or a command's flags")
	var temporal []string
	for _, c := range commands {
		if c.define != nil && talksToTemporal(c) {
			temporal = append(temporal, c.name)
		}
	}
	fmt.Fprintf(w, "\n`envsync <command> --help` lists the command's flags.\n%s talk to Temporal.\n%s\n%s\n",
		strings.Join(temporal, ", "), temporalNote, exitStatus)
}

// talksToTemporal says whether c defines --namespace, as every command that
// dials Temporal does.
func talksToTemporal(c command) bool {
	fs := newFlagSet(c)
	c.define(fs)
	return fs.Lookup("namespace") != nil
}

func printUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s.\n", strings.TrimSpace("envsync "+c.name+" "+c.synopsis), upperFirst(c.summary))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	fmt.Fprintln(w)
	if fs.Lookup("namespace") != nil {
		fmt.Fprintln(w, temporalNote)
	}
	fmt.Fprintln(w, exitStatus)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "envsync:", err)
	var input *starter.InputError
	var unknown *starter.UnknownOutcome
	switch {
	case errors.As(err, &input):
		return 2
	case errors.As(err, &unknown):
		return 3
	}
	return 1
}

// temporalFlags are the connection flags of every command that dials
// Temporal; the rest of the connection is the temporal CLI's environment
// and profile file (package temporalconn).
func temporalFlags(fs *flag.FlagSet) *temporalconn.Request {
	r := &temporalconn.Request{}
	fs.StringVar(&r.Namespace, "namespace", "", "Temporal `namespace` (default $TEMPORAL_NAMESPACE, else the profile's, else \"default\")")
	fs.StringVar(&r.Profile, "profile", "", "client config profile `name` (default $TEMPORAL_PROFILE, else \"default\")")
	return r
}

func dial(ctx context.Context, r *temporalconn.Request) (client.Client, temporalconn.Conn, error) {
	conn, err := temporalconn.Load(*r)
	if err != nil {
		return nil, conn, &starter.InputError{Err: err}
	}
	c, err := conn.Dial(ctx, starter.Logger(), nil)
	return c, conn, err
}

func versionCommand(*flag.FlagSet) func(context.Context, io.Writer, io.Writer) error {
	return func(_ context.Context, stdout, _ io.Writer) error {
		// The encoder decides a push's CPU: a build without cgo spends
		// more on it (dump/zstd.go).
		_, err := fmt.Fprintf(stdout, "envsync %s\nzstd encoder: %s\n", buildinfo.Version, dump.ZstdEncoder())
		return err
	}
}
