package starter

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/envsync/envsync/config"
)

// Args are the command-line options of push, pull and run: the original
// script's single-letter flags, plus what Temporal needs.
type Args struct {
	Request Request
	// Source names where the task came from, for messages.
	Source    string
	Namespace string
}

// DefaultNamespace is $TEMPORAL_NAMESPACE, else "default".
func DefaultNamespace() string {
	if ns := os.Getenv("TEMPORAL_NAMESPACE"); ns != "" {
		return ns
	}
	return "default"
}

// ParseArgs reads a command line. action is "push" or "pull" for those
// subcommands and "" for run, which takes the action from -a or the file.
// Precedence: tasks file (--tasks/--task) or legacy file (-f), then flags.
func ParseArgs(action string, args []string, stderr io.Writer) (Args, error) {
	fs := flag.NewFlagSet("envsync "+orRun(action), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		legacy    = fs.String("f", "", "legacy configuration file (key=\"value\" lines)")
		tasksFile = fs.String("tasks", "", "YAML tasks file")
		taskName  = fs.String("task", "", "task name in the tasks file")
		timestamp = fs.String("t", "", "pull the dump taken in this UTC minute, YYYY-MM-DDTHH:MM")
		key       = fs.String("key", "", "pull exactly this dump key")
		allowProt = fs.Bool("allow-protected", false, "pull into a target marked protected")
		namespace = fs.String("namespace", DefaultNamespace(), "Temporal namespace")
		worker    = fs.String("worker-host", "", "host whose worker runs the steps (default $ENVSYNC_WORKER_HOST, else this host's name)")
	)
	// The original's flags, each setting one task key.
	flagKeys := map[string]string{"a": "action", "D": "dbms", "S": "storagebackend", "T": "temppath",
		"d": "database", "H": "database_hostname", "u": "url", "p": "path",
		"s": "transformation_sql_file", "F": "pre_dump_transformation_sql_file"}
	set := map[string]*string{}
	for f, k := range flagKeys {
		set[f] = fs.String(f, "", k)
	}
	if err := fs.Parse(args); err != nil {
		return Args{}, &InputError{Err: err}
	}
	if fs.NArg() > 0 {
		return Args{}, &InputError{Err: fmt.Errorf("unexpected argument %q: options only (see -h)", fs.Arg(0))}
	}
	var t config.Task
	var then []config.Task
	source := "command line"
	switch {
	case *tasksFile != "" && *legacy != "":
		return Args{}, &InputError{Err: fmt.Errorf("give either -f (legacy file) or --tasks, not both")}
	case *tasksFile != "":
		if *taskName == "" {
			return Args{}, &InputError{Err: fmt.Errorf("--tasks needs --task NAME")}
		}
		f, err := config.LoadFile(*tasksFile)
		if err != nil {
			return Args{}, &InputError{Err: err}
		}
		var ok bool
		if t, ok = f.Task(*taskName); !ok {
			return Args{}, &InputError{Err: fmt.Errorf("%s: no task named %q", *tasksFile, *taskName)}
		}
		for _, name := range t.Then {
			pull, _ := f.Task(name) // LoadFile checked that it exists
			then = append(then, pull)
		}
		source = *tasksFile
	case *legacy != "":
		fh, err := os.Open(*legacy)
		if err != nil {
			return Args{}, &InputError{Err: fmt.Errorf("-f: %w", err)}
		}
		defer fh.Close()
		t.Name = strings.TrimSuffix(filepath.Base(*legacy), filepath.Ext(*legacy))
		if err := config.ReadLegacy(*legacy, fh, &t); err != nil {
			return Args{}, &InputError{Err: err}
		}
		source = *legacy
	}
	var flagErr error
	fs.Visit(func(f *flag.Flag) {
		if k, ok := flagKeys[f.Name]; ok && flagErr == nil {
			flagErr = config.SetKey(&t, "command line", k, f.Value.String())
		}
	})
	if flagErr != nil {
		return Args{}, &InputError{Err: flagErr}
	}
	if action != "" {
		if t.Action != "" && t.Action != action {
			return Args{}, &InputError{Err: &config.FieldError{Source: source, Task: t.Name, Field: "action", Value: t.Action,
				Reason: fmt.Sprintf("conflicts with `envsync %s`; use `envsync run` to take the action from the file", action)}}
		}
		t.Action = action
	}
	if t.WorkerHost == "" || *worker != "" {
		t.WorkerHost = firstNonEmpty(*worker, os.Getenv("ENVSYNC_WORKER_HOST"), hostname())
	}
	if t.Name == "" {
		t.Name = t.Action + "_" + t.Database
	}
	t.Normalise()
	if err := t.LoadRules(source); err != nil {
		return Args{}, &InputError{Err: err}
	}
	r := Request{Task: t, Timestamp: *timestamp, Key: *key, AllowProtected: *allowProt, Then: then}
	if err := validate(&r, source); err != nil {
		return Args{}, err
	}
	return Args{Request: r, Source: source, Namespace: *namespace}, nil
}

func orRun(action string) string {
	if action == "" {
		return "run"
	}
	return action
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
