package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// kind is how a Task field's value is read: from a string (a .cfg or a
// flag) by set, from a YAML value by decode.
type kind int

const (
	kindString kind = iota
	kindInt
	kindIntPtr // unset is nil, not 0
	kindBool
	kindDuration
	kindList
)

// field is one key a task may carry and the Task field it sets.
type field struct {
	index int
	kind  kind
}

// fields maps each key, in the tasks file and in a legacy .cfg, to its
// field. It is read from Task's yaml tags, so a field added there is a key
// of both formats, spelled once.
var fields = sync.OnceValue(func() map[string]field {
	kinds := map[reflect.Type]kind{
		reflect.TypeFor[string]():        kindString,
		reflect.TypeFor[int]():           kindInt,
		reflect.TypeFor[*int]():          kindIntPtr,
		reflect.TypeFor[bool]():          kindBool,
		reflect.TypeFor[time.Duration](): kindDuration,
		reflect.TypeFor[[]string]():      kindList,
	}
	out := map[string]field{}
	typ := reflect.TypeFor[Task]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" || key == "" {
			continue
		}
		k, ok := kinds[f.Type]
		if !ok {
			panic(fmt.Sprintf("config: Task.%s is a %s, which set and decode cannot read", f.Name, f.Type))
		}
		out[key] = field{i, k}
	}
	return out
})

// knownKeys lists the keys for the unknown-key message.
var knownKeys = sync.OnceValue(func() string {
	return strings.Join(slices.Sorted(maps.Keys(fields())), ", ")
})

// The original script's names: aliases for a key, and keys refused with
// the reason.
var (
	aliases = map[string]string{"transformation_sql_file": "sanitise_rules"}
	refused = map[string]string{
		"pre_dump_transformation_sql_file": "sanitising before the dump needs a separate prefix for sanitised dumps, which a .cfg cannot say; use a tasks file with sanitise_rules, sanitise: before_upload and sanitised_path",
	}
)

// lookup finds key's field, or says why there is none.
func lookup(key string) (field, string) {
	if why, ok := refused[key]; ok {
		return field{}, why
	}
	if canonical, ok := aliases[key]; ok {
		key = canonical
	}
	f, ok := fields()[key]
	if !ok {
		return field{}, "unknown key; known keys: " + knownKeys()
	}
	return f, ""
}

// want says what a value of the field must be, for messages.
func (f field) want() string {
	switch f.kind {
	case kindInt, kindIntPtr:
		return "must be a whole number"
	case kindBool:
		return "must be true or false"
	case kindDuration:
		return "must be a duration such as 90s, 5m or 1h"
	case kindList:
		return "must be a list of names such as [a, b], or a single name"
	}
	return "must be a single value, not a list or mapping"
}

// set sets the field of t from a string, as a .cfg or a flag gives it.
func (f field) set(t *Task, v string) error {
	dst := reflect.ValueOf(t).Elem().Field(f.index)
	var err error
	switch f.kind {
	case kindString:
		dst.SetString(v)
	case kindInt, kindIntPtr:
		var n int
		if n, err = strconv.Atoi(strings.TrimSpace(v)); err == nil {
			if f.kind == kindIntPtr {
				dst.Set(reflect.ValueOf(&n))
			} else {
				dst.SetInt(int64(n))
			}
		}
	case kindBool:
		var b bool
		if b, err = strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			dst.SetBool(b)
		}
	case kindDuration:
		var d time.Duration
		if d, err = time.ParseDuration(strings.TrimSpace(v)); err == nil {
			dst.SetInt(int64(d))
		}
	case kindList:
		dst.Set(reflect.ValueOf(list(v)))
	}
	if err != nil {
		return errors.New(f.want())
	}
	return nil
}

// decode sets the field of t from a tasks file value. yaml.v3 decodes it
// into the field; what is checked first is where yaml.v3 would read a
// value differently from a .cfg.
func (f field) decode(t *Task, n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	dst := reflect.ValueOf(t).Elem().Field(f.index)
	if n.Kind == yaml.ScalarNode {
		switch f.kind {
		case kindList:
			// A comma-separated value, as a .cfg writes a list.
			if n.ShortTag() != "!!null" {
				dst.Set(reflect.ValueOf(list(n.Value)))
				return nil
			}
		case kindBool, kindInt, kindIntPtr:
			// strconv's reading, as tasks files have always had and .cfg
			// files have: hour: "23" is 23, minute: 08 is 8 (not an
			// invalid octal), 1.5 and 0x3 are refused; booleans are true,
			// false, 1, 0, t, f, not YAML 1.1's yes/no/on/off.
			if n.ShortTag() != "!!null" {
				return f.set(t, n.Value)
			}
		case kindDuration:
			// yaml.v3 refuses a bare number, which would be nanoseconds;
			// 0 needs no unit, as time.ParseDuration (and a .cfg) agree.
			if n.Value == "0" {
				dst.SetInt(0)
				return nil
			}
		}
	}
	// Decoded into a new value and set only whole, so a list that fails
	// half way leaves nothing behind.
	v := reflect.New(dst.Type())
	if err := n.Decode(v.Interface()); err != nil {
		return errors.New(f.want())
	}
	dst.Set(v.Elem())
	return nil
}

// list reads a comma-separated value. Its capacity is its length, so tasks
// that share it (from defaults) never append into one another's.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return slices.Clip(out)
}

// set applies one key of a task from a string, reporting unknown keys and
// bad values.
func (t *Task) set(source, key, value string) error {
	f, why := lookup(key)
	if why == "" {
		if err := f.set(t, value); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		return &FieldError{Source: source, Task: t.Name, Field: key, Value: value, Reason: why}
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
	// fed indexes pulls with rule sets by what they restore (PullsFedBy).
	fed map[string][]int
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
		defaults *yaml.Node
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
			defaults = v
		default:
			errs = append(errs, fmt.Errorf("%s: line %d: unknown top-level key %s; expected tasks and optionally defaults", path, k.Line, quoteClip(k.Value)))
		}
	}
	// Every task starts as a copy of the defaults, so its own values
	// override them.
	var base Task
	lines := map[string]int{} // reused for each mapping's keys
	validate := true
	if defaults != nil {
		es, decoded := decodeTask(path, "defaults", defaults, &base, lines)
		errs = append(errs, es...)
		// Without their defaults, tasks would only be refused for lacking them.
		validate = decoded
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
		t := base
		t.Name = name
		es, decoded := decodeTask(path, "task "+clip(name), tasks.Content[i+1], &t, lines)
		errs = append(errs, es...)
		if !decoded || !validate {
			continue // what the task says is unclear; validating it would guess
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
	errs = append(errs, f.checkDrills()...)
	if len(errs) > 0 {
		return nil, errs
	}
	return f, nil
}

// PullsFedBy lists the pulls of this file that restore what push stores
// and have a rule set: those it chains into, and any pull of its database
// from the same store. A push checks their rule sets against its database
// while it runs. Pulls in another namespace or cluster are left out: their
// workers cannot be reached from the push's.
func (f *File) PullsFedBy(push Task) []Task {
	path := push.Path
	if push.Sanitise == SanitiseBeforeUpload {
		path = push.SanitisedPath
	}
	if f.fed == nil {
		// Indexed once, so scheduling a file of many thousand pushes
		// does not compare every push with every task.
		f.fed = map[string][]int{}
		for i, t := range f.Tasks {
			if t.Action == ActionPull && t.SanitiseRules != "" {
				k := feedKey(t.DBMS, t.DumpName(), t.StorageBackend, t.URL, t.Path)
				f.fed[k] = append(f.fed[k], i)
			}
		}
	}
	var out []Task
	near := func(pull Task) bool {
		return pull.Namespace == push.Namespace && pull.TemporalAddress == push.TemporalAddress && pull.TemporalProfile == push.TemporalProfile
	}
	for _, i := range f.fed[feedKey(push.DBMS, push.Database, push.StorageBackend, push.URL, path)] {
		if near(f.Tasks[i]) {
			out = append(out, f.Tasks[i])
		}
	}
	for _, name := range push.Then {
		if pull, ok := f.Task(name); ok && pull.SanitiseRules != "" && near(pull) &&
			!slices.ContainsFunc(out, func(t Task) bool { return t.Name == name }) {
			out = append(out, pull)
		}
	}
	return out
}

func feedKey(parts ...string) string { return strings.Join(parts, "\x00") }

// PushFeeding finds the push task whose dumps pull restores: the one that
// chains into it, or else one pushing its database to the same store.
// `envsync sanitise init` on a pull reads that push's database, whose data
// the pull's rule set will see.
func (f *File) PushFeeding(pull Task) (Task, bool) {
	var same *Task
	for i, push := range f.Tasks {
		if push.Action != ActionPush {
			continue
		}
		if slices.Contains(push.Then, pull.Name) {
			return push, true
		}
		path := push.Path
		if push.Sanitise == SanitiseBeforeUpload {
			path = push.SanitisedPath
		}
		if same == nil && feedKey(push.DBMS, push.Database, push.StorageBackend, push.URL, path) == feedKey(pull.DBMS, pull.DumpName(), pull.StorageBackend, pull.URL, pull.Path) {
			same = &f.Tasks[i]
		}
	}
	if same == nil {
		return Task{}, false
	}
	return *same, true
}

// checkDrills refuses a drill that would restore raw dumps on a server
// that pulls restore into through rules: the drill drops its copy, but
// the server's table files and WAL would have held the raw rows, which
// is what sanitising in the stream keeps from ever happening there.
func (f *File) checkDrills() Errors {
	var errs Errors
	for _, d := range f.Tasks {
		if d.Action != ActionDrill {
			continue
		}
		for _, p := range f.Tasks {
			if p.Action == ActionPull && p.SanitiseRules != "" && p.WorkerHost == d.WorkerHost && p.DatabaseHostname == d.DatabaseHostname && p.DBMS == d.DBMS {
				errs = append(errs, &FieldError{Source: f.Path, Task: d.Name, Field: "database_hostname", Value: d.DatabaseHostname,
					Reason: fmt.Sprintf("pull %s restores into this server through rules, so it must never hold raw rows; drill on a server where the raw data may be, or drill the sanitised_path of a before_upload push", p.Name)})
				break
			}
		}
	}
	return errs
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

// decodeTask decodes a mapping of key: value (a task, or the defaults)
// into t, over what t already holds. A key given twice is refused, naming
// both lines: yaml.v3 keeps both in a Node, and decoding would keep the
// last, so `database: small` then `database: big` would push big. Unknown
// keys and values of the wrong type are FieldErrors naming file, task (or
// defaults), key and value. decoded is false when the mapping is too
// malformed (not a mapping, a key twice) to decode at all. what names the
// mapping ("task x" or "defaults"); lines is scratch space, cleared here.
func decodeTask(path, what string, n *yaml.Node, t *Task, lines map[string]int) (errs Errors, decoded bool) {
	if n.Kind != yaml.MappingNode {
		return Errors{fmt.Errorf("%s: line %d: %s must be a mapping of key: value", path, n.Line, what)}, false
	}
	source := path
	if what == "defaults" {
		source += ": defaults"
	}
	clear(lines)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if first, ok := lines[k.Value]; ok {
			errs = append(errs, fmt.Errorf("%s: %s: key %s given twice, at lines %d and %d; keep one", path, what, clip(k.Value), first, k.Line))
			continue
		}
		lines[k.Value] = k.Line
	}
	if errs != nil {
		return errs, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, why := lookup(k.Value)
		if why == "" {
			if err := f.decode(t, v); err != nil {
				why = err.Error()
			}
		}
		if why != "" {
			errs = append(errs, &FieldError{Source: source, Task: t.Name, Field: k.Value, Value: text(v), Reason: why})
		}
	}
	return errs, true
}

// text is a value as a message quotes it: a scalar as written, a list or
// mapping in flow style.
func text(n *yaml.Node) string {
	var items []string
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.AliasNode:
		return text(n.Alias)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			items = append(items, text(c))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			items = append(items, text(n.Content[i])+": "+text(n.Content[i+1]))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	return ""
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
	if res := r.Residual(); t.Sanitise == SanitiseBeforeUpload && r.Kind() == sanitise.KindSQL && (res.SQL != "" || len(res.Verify) > 0 || len(res.Tables) > 0) {
		return &FieldError{Source: source, Task: t.Name, Field: "sanitise_rules", Value: t.SanitiseRules,
			Reason: "before_upload sanitises the dump as it is taken, with no database to run SQL on: an sql block, verify queries and delete_where conditions outside the stream's language (column = 'value', is null, in, older than, and/or) belong in the pull's rule set"}
	}
	t.SanitiseSHA256 = r.SHA256
	return nil
}
