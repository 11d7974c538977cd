package engine

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/envsync/envsync/internal/registry"
)

// Info is what an engine package says about itself when it registers: all
// that the rest of envsync may know about an engine. Config validates tasks
// against it, activities build engines with it, and workflows learn what
// they need from activity results, so adding an engine is one package and
// one import line (engine/all).
type Info struct {
	// Name is the dbms value tasks give; Aliases are other values meaning
	// the same engine (a task keeps the value it was given).
	Name    string
	Aliases []string
	// MaxName is the longest database name the server takes, in bytes:
	// staging names are cut to fit.
	MaxName int
	// Stores are the storage backends the engine can use, by their
	// registered names (package store).
	Stores []string
	// Fields are the task keys only some engines read (directory,
	// indices, excluded_tables, restore_jobs). A task of another engine
	// that sets one is refused, naming the engines that take it.
	Fields []string
	// Sanitise are the sanitise modes the engine supports (on_pull,
	// before_upload); empty: its copies cannot be sanitised. Rules is the
	// kind of rule set it runs (sanitise.KindSQL or KindDocuments).
	Sanitise []string
	Rules    string
	// Check validates the task values the engine reads beyond the common
	// ones; optional.
	Check func(Spec) []Problem
	// Settings are the worker-host settings the engine takes (e.g. where
	// its tools are); the worker's flags are made from them.
	Settings []Setting
	// Native names the store the engine's own servers keep (a snapshot
	// repository), which it registers in package store; its engines are
	// Snapshotters. Empty for most.
	Native string
	// New returns the engine for one task on this worker host.
	New func(Spec, Settings) (Engine, error)
}

// Spec is what an engine is told about a task.
type Spec struct {
	Target
	// Directory is the tree a directory-archiving engine works on.
	Directory string
	// Indices is the index pattern a push of a search engine takes.
	Indices string
	// ExcludedTables are left out of dumps.
	ExcludedTables []string
	// Count asks Dump to record the rows per table it dumped (see
	// Counter), at the cost of reading every table once more.
	Count bool
}

// Problem is a task value an engine refuses: the task key, the value and
// why.
type Problem struct {
	Field, Value, Reason string
}

// Setting is one worker-host setting an engine takes: the worker has a
// flag --Flag, defaulting to $Env.
type Setting struct {
	Flag, Env, Usage string
	// Check, when set, refuses a value the engine cannot use, saying
	// what it wants.
	Check func(string) error
}

// CheckSettings refuses, before a worker starts, an engine setting in
// values (keyed by flag) that its engine's Check does not take, naming the
// flag, its variable and the value.
func CheckSettings(values map[string]string) error {
	for _, e := range All() {
		for _, s := range e.Settings {
			v, ok := values[s.Flag]
			if !ok || s.Check == nil {
				continue
			}
			if err := s.Check(v); err != nil {
				return fmt.Errorf("--%s (or $%s) %q: %w", s.Flag, s.Env, v, err)
			}
		}
	}
	return nil
}

// Settings are a worker host's values for the engines' settings (keyed by
// Setting.Flag) and its logger.
type Settings struct {
	Values map[string]string
	Logger *slog.Logger
	// DumpPriority is what engines that run a dump tool run it at.
	DumpPriority Priority
}

var engines = registry.New[Info]("engine")

// Register makes an engine known; engine packages call it from init. A
// name registered twice is a programming error and panics.
func Register(info Info) {
	if info.Name == "" || info.New == nil || info.MaxName <= 0 {
		panic("engine.Register: Name, MaxName and New are required")
	}
	engines.Add(info.Name, info.Aliases, info)
}

// Lookup returns the engine registered under name or alias.
func Lookup(name string) (Info, bool) { return engines.Lookup(name) }

// Names returns every name tasks may give as dbms, aliases included, in
// a stable order.
func Names() []string { return engines.Names() }

// All returns every registered engine, by name.
func All() []Info { return engines.All() }

// Taking returns the names of the engines that read the task key field.
func Taking(field string) []string {
	var out []string
	for _, i := range All() {
		if slices.Contains(i.Fields, field) {
			out = append(out, i.Name)
		}
	}
	return out
}
