package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// setters maps each key a task may carry, in the tasks file and in a legacy
// .cfg, to the field it sets. One table for both formats keeps them in step.
var setters = map[string]func(t *Task, v string) error{
	"title":             func(t *Task, v string) error { t.Title = v; return nil },
	"ensure":            func(t *Task, v string) error { t.Ensure = v; return nil },
	"hour":              func(t *Task, v string) error { return setInt(&t.Hour, v) },
	"minute":            func(t *Task, v string) error { return setInt(&t.Minute, v) },
	"action":            func(t *Task, v string) error { t.Action = v; return nil },
	"dbms":              func(t *Task, v string) error { t.DBMS = v; return nil },
	"storagebackend":    func(t *Task, v string) error { t.StorageBackend = v; return nil },
	"database":          func(t *Task, v string) error { t.Database = v; return nil },
	"excluded_tables":   func(t *Task, v string) error { t.ExcludedTables = list(v); return nil },
	"target_url":        func(t *Task, v string) error { t.TargetURL = v; return nil },
	"target_path":       func(t *Task, v string) error { t.TargetPath = v; return nil },
	"delete":            func(t *Task, v string) error { return setBool(&t.Delete, v) },
	"sanitise_rules":    func(t *Task, v string) error { t.SanitiseRules = v; return nil },
	"sanitise":          func(t *Task, v string) error { t.Sanitise = v; return nil },
	"sanitised_path":    func(t *Task, v string) error { t.SanitisedPath = v; return nil },
	"require_sanitised": func(t *Task, v string) error { return setBool(&t.RequireSanitised, v) },
	// The original's names for the same.
	"transformation_sql_file": func(t *Task, v string) error { t.SanitiseRules = v; return nil },
	"pre_dump_transformation_sql_file": func(t *Task, v string) error {
		return errors.New("sanitising before the dump needs a separate prefix for sanitised dumps, which a .cfg cannot say; use a tasks file with sanitise_rules, sanitise: before_upload and sanitised_path")
	},
	"indices":           func(t *Task, v string) error { t.Indices = v; return nil },
	"keep":              func(t *Task, v string) error { return setIntValue(&t.Keep, v) },
	"directory":         func(t *Task, v string) error { t.Directory = v; return nil },
	"source_database":   func(t *Task, v string) error { t.SourceDatabase = v; return nil },
	"database_hostname": func(t *Task, v string) error { t.DatabaseHostname = v; return nil },
	"temppath":          func(t *Task, v string) error { t.TempPath = v; return nil },
	"url":               func(t *Task, v string) error { t.URL = v; return nil },
	"path":              func(t *Task, v string) error { t.Path = v; return nil },
	"worker_host":       func(t *Task, v string) error { t.WorkerHost = v; return nil },
	"timezone":          func(t *Task, v string) error { t.TimeZone = v; return nil },
	"jitter":            func(t *Task, v string) error { return setDuration(&t.Jitter, v) },
	"catchup_window":    func(t *Task, v string) error { return setDuration(&t.CatchupWindow, v) },
	"then":              func(t *Task, v string) error { t.Then = list(v); return nil },
	"namespace":         func(t *Task, v string) error { t.Namespace = v; return nil },
	"temporal_address":  func(t *Task, v string) error { t.TemporalAddress = v; return nil },
	"before":            func(t *Task, v string) error { t.Before = list(v); return nil },
	"after":             func(t *Task, v string) error { t.After = list(v); return nil },
	"protected":         func(t *Task, v string) error { return setBool(&t.Protected, v) },
	"monitoring_host":   func(t *Task, v string) error { t.MonitoringHost = v; return nil },
	"compression":       func(t *Task, v string) error { t.Compression = v; return nil },
	"compression_level": func(t *Task, v string) error { return setIntValue(&t.CompressionLevel, v) },
	"spool":             func(t *Task, v string) error { t.Spool = v; return nil },
	"restore_jobs":      func(t *Task, v string) error { return setIntValue(&t.RestoreJobs, v) },
}

// list reads a comma-separated value (YAML sequences arrive joined so).
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func setDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return errors.New("must be a duration such as 90s, 5m or 1h")
	}
	*dst = d
	return nil
}

func setBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return errors.New("must be true or false")
	}
	*dst = b
	return nil
}

func knownKeys() string {
	return strings.Join(slices.Sorted(maps.Keys(setters)), ", ")
}

func setIntValue(dst *int, v string) error {
	var p *int
	if err := setInt(&p, v); err != nil {
		return err
	}
	*dst = *p
	return nil
}

func setInt(dst **int, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return errors.New("must be a whole number")
	}
	*dst = &n
	return nil
}

// set applies one key of a task, reporting unknown keys and bad values.
func (t *Task) set(source, key, value string) error {
	fe := &FieldError{Source: source, Task: t.Name, Field: key, Value: value}
	set, ok := setters[key]
	if !ok {
		fe.Reason = "unknown key; known keys: " + knownKeys()
		return fe
	}
	if err := set(t, value); err != nil {
		fe.Reason = err.Error()
		return fe
	}
	return nil
}

// File is a parsed tasks file.
type File struct {
	Path  string
	Tasks []Task // in file order

	// index maps task names to positions in Tasks, so that looking up
	// every chain of a file of many thousand tasks is not quadratic.
	index map[string]int
}

// Task returns the named task.
func (f *File) Task(name string) (Task, bool) {
	if i, ok := f.index[name]; ok && i < len(f.Tasks) && f.Tasks[i].Name == name {
		return f.Tasks[i], true
	}
	// A File built or changed by hand has no index, or a stale one.
	for _, t := range f.Tasks {
		if t.Name == name {
			return t, true
		}
	}
	return Task{}, false
}

// LoadFile reads and validates a YAML tasks file:
//
//	defaults:            # optional, applied to every task
//	  worker_host: db1
//	tasks:
//	  push_orders_daily: # task name
//	    hour: 23
//	    ...
func LoadFile(path string) (*File, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tasks file: %w", err)
	}
	defer r.Close()
	// One byte over the limit is enough for ParseFile to refuse it.
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read tasks file: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile is LoadFile on bytes already read; path names them in errors.
func ParseFile(path string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d MiB, the limit for a tasks file; split it, or remove tasks that are absent everywhere", path, MaxFileSize>>20)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not valid YAML: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: expected a mapping with a tasks: key", path)
	}
	var (
		errs     Errors
		defaults = map[string]string{}
		tasks    *yaml.Node
	)
	root := doc.Content[0]
	rootLines := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if first, ok := rootLines[k.Value]; ok {
			errs = append(errs, fmt.Errorf("%s: top-level key %s given twice, at lines %d and %d; keep one", path, clip(k.Value), first, k.Line))
			continue
		}
		rootLines[k.Value] = k.Line
		switch k.Value {
		case "tasks":
			tasks = v
		case "defaults":
			errs = append(errs, scalars(path, "defaults", v, defaults)...)
		default:
			errs = append(errs, fmt.Errorf("%s: line %d: unknown top-level key %s; expected tasks and optionally defaults", path, k.Line, quoteClip(k.Value)))
		}
	}
	if tasks == nil || tasks.Kind != yaml.MappingNode {
		return nil, append(errs, fmt.Errorf("%s: missing tasks: mapping of task name to settings", path))
	}
	f := &File{Path: path, index: map[string]int{}}
	taskLines := map[string]int{}
	for i := 0; i+1 < len(tasks.Content); i += 2 {
		name, line := tasks.Content[i].Value, tasks.Content[i].Line
		if first, ok := taskLines[name]; ok {
			errs = append(errs, fmt.Errorf("%s: task %s defined twice, at lines %d and %d; rename or remove one", path, clip(name), first, line))
			continue
		}
		taskLines[name] = line
		values := map[string]string{}
		if es := scalars(path, "task "+clip(name), tasks.Content[i+1], values); es != nil {
			errs = append(errs, es...)
			continue
		}
		t := Task{Name: name}
		for _, m := range []map[string]string{defaults, values} {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if err := t.set(path, k, m[k]); err != nil {
					errs = append(errs, err)
				}
			}
		}
		t.Normalise()
		if err := t.LoadRules(path); err != nil {
			errs = append(errs, err)
		}
		if err := t.Validate(path); err != nil {
			errs = append(errs, err.(Errors)...)
		}
		f.index[name] = len(f.Tasks)
		f.Tasks = append(f.Tasks, t)
	}
	errs = append(errs, f.checkChains()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// checkChains checks each push's then: the named tasks exist, are pulls of
// the pushed database, and read the store the push writes.
func (f *File) checkChains() Errors {
	var errs Errors
	for _, push := range f.Tasks {
		if len(push.Then) > maxEntries("then") {
			continue // Validate refused it; one message is enough
		}
		for _, name := range push.Then {
			bad := func(reason string) {
				errs = append(errs, &FieldError{Source: f.Path, Task: push.Name, Field: "then", Value: name, Reason: reason})
			}
			pull, ok := f.Task(name)
			switch {
			case !ok:
				bad("no task of that name in this file")
			case pull.Action != ActionPull:
				bad("names a " + pull.Action + " task; then starts pulls")
			case pull.DBMS != push.DBMS || pull.DumpName() != push.Database:
				bad(fmt.Sprintf("restores %s dumps of %s, but this task pushes %s dumps of %s", pull.DBMS, pull.DumpName(), push.DBMS, push.Database))
			case pull.StorageBackend != push.StorageBackend || pull.URL != push.URL || pull.Path != push.Path:
				bad(fmt.Sprintf("reads %s://%s/%s, but this task writes %s://%s/%s", pull.StorageBackend, pull.URL, pull.Path, push.StorageBackend, push.URL, push.Path))
			case pull.Protected:
				bad("its target is protected; chains never pull into protected targets")
			}
		}
	}
	return errs
}

// scalars reads a mapping of scalar values into out. A key given twice is
// refused: yaml.v3 keeps both when decoding into a Node, and out would
// silently keep the last, so `database: small` then `database: big` would
// push big.
func scalars(path, what string, n *yaml.Node, out map[string]string) Errors {
	if n.Kind != yaml.MappingNode {
		return Errors{fmt.Errorf("%s: line %d: %s must be a mapping of key: value", path, n.Line, what)}
	}
	var errs Errors
	lines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if first, ok := lines[k.Value]; ok {
			errs = append(errs, fmt.Errorf("%s: %s: key %s given twice, at lines %d and %d; keep one", path, what, clip(k.Value), first, k.Line))
			continue
		}
		lines[k.Value] = k.Line
		switch v.Kind {
		case yaml.ScalarNode:
			out[k.Value] = v.Value
		case yaml.SequenceNode: // a list of names: then, before, after
			var items []string
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, ",") {
					return append(errs, fmt.Errorf("%s: line %d: %s: %s must be a list of names", path, item.Line, what, clip(k.Value)))
				}
				items = append(items, item.Value)
			}
			out[k.Value] = strings.Join(items, ",")
		default:
			return append(errs, fmt.Errorf("%s: line %d: %s: %s must be a single value or a list", path, v.Line, what, clip(k.Value)))
		}
	}
	return errs
}

// ReadLegacy parses the original script's sourceable configuration file:
// key="value" lines, comments and blank lines. It does not validate, because
// flags given after -f may still fill in or override values.
func ReadLegacy(path string, r io.Reader, t *Task) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		s = strings.TrimPrefix(s, "export ")
		key, value, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%s: line %d: expected key=\"value\", got %q", path, line, s)
		}
		value, err := unquote(value)
		if err != nil {
			return fmt.Errorf("%s: line %d: %s: %w", path, line, key, err)
		}
		if err := t.set(fmt.Sprintf("%s: line %d", path, line), key, value); err != nil {
			return err
		}
	}
	return sc.Err()
}

// unquote accepts the quoting the original files used: "x", 'x' or bare x.
// Shell expansion is deliberately not supported: a value that needs it is
// reported rather than taken literally.
func unquote(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' && strings.ContainsAny(v, "$`") {
			return "", errors.New("shell expansion ($, `) is not supported; write the value out")
		}
		return v, nil
	}
	if strings.ContainsAny(v, "$`\"' ") {
		return "", errors.New("quote the value, and write it out without shell expansion")
	}
	return v, nil
}

// SetKey sets one task key as a flag or file would, with the same checks.
func SetKey(t *Task, source, key, value string) error { return t.set(source, key, value) }

// LoadRules reads the task's sanitise rule set, checks it against the
// task's engine and records its sha256. source names the tasks file or
// command line for messages.
func (t *Task) LoadRules(source string) error {
	if t.SanitiseRules == "" || !strings.HasPrefix(t.SanitiseRules, "/") || len(t.SanitiseRules) > maxLength("sanitise_rules") {
		return nil // Validate reports a relative or over-long path
	}
	r, err := sanitise.Load(t.SanitiseRules)
	if err != nil {
		return &FieldError{Source: source, Task: t.Name, Field: "sanitise_rules", Value: t.SanitiseRules, Reason: err.Error()}
	}
	if eng, ok := engine.Lookup(t.DBMS); ok && r.Kind() != "" && r.Kind() != eng.Rules {
		kind := "SQL"
		if r.Kind() == sanitise.KindDocuments {
			kind = "MongoDB"
		}
		return &FieldError{Source: source, Task: t.Name, Field: "sanitise_rules", Value: t.SanitiseRules,
			Reason: fmt.Sprintf("holds %s rules, which dbms %s cannot run", kind, t.DBMS)}
	}
	t.SanitiseSHA256 = r.SHA256
	return nil
}
