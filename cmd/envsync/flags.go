package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
)

// Args are the command-line options of push, pull and run: the original
// script's single-letter flags and envsync's own. Where Temporal is, is
// the caller's (package temporalconn).
type Args struct {
	Request starter.Request
	// Source names where the task came from, for messages.
	Source string
}

// legacyFlags are the original script's single-letter flags, each setting
// one task key.
var legacyFlags = []struct{ flag, key string }{
	{"a", "action"}, {"D", "dbms"}, {"S", "storagebackend"}, {"T", "temppath"},
	{"d", "database"}, {"H", "database_hostname"}, {"u", "url"}, {"p", "path"},
	{"s", "transformation_sql_file"}, {"F", "pre_dump_transformation_sql_file"},
}

// Flags are the options of push, pull and run, defined on the caller's
// FlagSet so that its help lists them. The caller parses; Args reads the
// result.
type Flags struct {
	fs        *flag.FlagSet
	action    string
	legacy    *string
	tasksFile *string
	taskName  *string
	timestamp *string
	key       *string
	allowProt *bool
	worker    *string
}

// defineStartFlags defines the options on fs. action is "push" or "pull" for
// those subcommands and "" for run, which takes the action from -a or the
// file.
func defineStartFlags(fs *flag.FlagSet, action string) *Flags {
	f := &Flags{
		fs:        fs,
		action:    action,
		legacy:    fs.String("f", "", "legacy configuration `file` (key=\"value\" lines, as the original's .cfg)"),
		tasksFile: fs.String("tasks", "", "YAML tasks `file`"),
		taskName:  fs.String("task", "", "task `name` in the tasks file"),
		timestamp: fs.String("t", "", "pull the dump taken in this UTC minute, `YYYY-MM-DDTHH:MM`"),
		key:       fs.String("key", "", "pull exactly this dump `key`"),
		allowProt: fs.Bool("allow-protected", false, "pull into a target marked protected"),
		worker:    fs.String("worker-host", "", "`host` whose worker runs the steps (default $ENVSYNC_WORKER_HOST, else this host's name)"),
	}
	for _, l := range legacyFlags {
		fs.String(l.flag, "", "set the task's `"+l.key+"` (overrides the file)")
	}
	return f
}

// Args reads the parsed flags into a request. Precedence: tasks file
// (--tasks/--task) or legacy file (-f), then the single-letter flags.
func (f *Flags) Args() (Args, error) {
	var t config.Task
	var then, pullRules []config.Task
	source := "command line"
	switch {
	case *f.tasksFile != "" && *f.legacy != "":
		return Args{}, &starter.InputError{Err: fmt.Errorf("give either -f (legacy file) or --tasks, not both")}
	case *f.tasksFile != "":
		if *f.taskName == "" {
			return Args{}, &starter.InputError{Err: fmt.Errorf("--tasks needs --task NAME")}
		}
		file, err := config.LoadFile(*f.tasksFile)
		if err != nil {
			return Args{}, &starter.InputError{Err: err}
		}
		var ok bool
		if t, ok = file.Task(*f.taskName); !ok {
			return Args{}, &starter.InputError{Err: fmt.Errorf("%s: no task named %q", *f.tasksFile, *f.taskName)}
		}
		for _, name := range t.Then {
			pull, _ := file.Task(name) // LoadFile checked that it exists
			then = append(then, pull)
		}
		if t.Action == config.ActionPush {
			pullRules = file.PullsFedBy(t)
		}
		source = *f.tasksFile
	case *f.legacy != "":
		fh, err := os.Open(*f.legacy)
		if err != nil {
			return Args{}, &starter.InputError{Err: fmt.Errorf("-f: %w", err)}
		}
		defer fh.Close()
		t.Name = strings.TrimSuffix(filepath.Base(*f.legacy), filepath.Ext(*f.legacy))
		if err := config.ReadLegacy(*f.legacy, fh, &t); err != nil {
			return Args{}, &starter.InputError{Err: err}
		}
		source = *f.legacy
	}
	var flagErr error
	f.fs.Visit(func(fl *flag.Flag) {
		for _, l := range legacyFlags {
			if l.flag == fl.Name && flagErr == nil {
				flagErr = config.SetKey(&t, "command line", l.key, fl.Value.String())
			}
		}
	})
	if flagErr != nil {
		return Args{}, &starter.InputError{Err: flagErr}
	}
	if f.action != "" {
		if t.Action != "" && t.Action != f.action {
			return Args{}, &starter.InputError{Err: &config.FieldError{Source: source, Task: t.Name, Field: "action", Value: t.Action,
				Reason: fmt.Sprintf("conflicts with `envsync %s`; use `envsync run` to take the action from the file", f.action)}}
		}
		t.Action = f.action
	}
	if t.WorkerHost == "" || *f.worker != "" {
		t.WorkerHost = firstNonEmpty(*f.worker, os.Getenv("ENVSYNC_WORKER_HOST"), hostname())
	}
	if t.Name == "" {
		t.Name = t.Action + "_" + t.Database
	}
	t.Normalise()
	if err := t.LoadRules(source); err != nil {
		return Args{}, &starter.InputError{Err: err}
	}
	r := starter.Request{Task: t, Timestamp: *f.timestamp, Key: *f.key, AllowProtected: *f.allowProt, Then: then, PullRules: pullRules}
	if err := starter.Validate(&r, source); err != nil {
		return Args{}, err
	}
	return Args{Request: r, Source: source}, nil
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
