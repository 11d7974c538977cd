// Package config reads envsync tasks: the YAML tasks file that replaces the
// govuk_env_sync::tasks hieradata, the original script's sourceable .cfg files,
// and its command-line flags. It validates them before anything runs, so a bad
// value is reported with the file, task, field and value that caused it.
package config

import (
	"cmp"
	"errors"
	"filippo.io/age"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/store"
)

// Task is one sync job: what to dump or restore, where the dump lives and
// which host runs it. It holds nothing secret (passwords and keys are the
// worker's to supply from its own environment), because it travels in
// workflow inputs that everyone with the Temporal UI can read.
type Task struct {
	// Name identifies the task in the tasks file (the hieradata key).
	Name string `json:"name" yaml:"-"`
	// Title is free text used in monitoring; defaults to Name.
	Title string `json:"title,omitempty" yaml:"title"`
	// Ensure is present, disabled or absent (schedules).
	Ensure string `json:"ensure,omitempty" yaml:"ensure"`
	// Hour and Minute of the daily run; nil when unset.
	Hour   *int `json:"hour,omitempty" yaml:"hour"`
	Minute *int `json:"minute,omitempty" yaml:"minute"`
	// Action is push, pull, s3_sync or drill. Required.
	Action string `json:"action" yaml:"action"`
	// DBMS is the database engine. Required.
	DBMS string `json:"dbms" yaml:"dbms"`
	// StorageBackend is where dumps are kept. Required.
	StorageBackend string `json:"storagebackend" yaml:"storagebackend"`
	// Database is the database name on both sides. Required.
	Database string `json:"database" yaml:"database"`
	// SourceDatabase (pull only) is the database whose dumps are restored
	// into Database; empty means the same name, as in the original.
	SourceDatabase string `json:"source_database,omitempty" yaml:"source_database"`
	// SanitiseRules is a rule set file on the worker hosts (YAML rules, or
	// the original's .sql transformation); SanitiseSHA256 is its hash,
	// filled in when the task is loaded, so a worker can refuse a file
	// that differs.
	SanitiseRules  string `json:"sanitise_rules,omitempty" yaml:"sanitise_rules"`
	SanitiseSHA256 string `json:"sanitise_sha256,omitempty" yaml:"-"`
	// Sanitise is on_pull (default; the pull sanitises its staging copy
	// before the swap) or before_upload (the push sanitises a scratch copy
	// and uploads that, under SanitisedPath).
	Sanitise      string `json:"sanitise,omitempty" yaml:"sanitise"`
	SanitisedPath string `json:"sanitised_path,omitempty" yaml:"sanitised_path"`
	// RequireSanitised (pull) refuses dumps not sanitised before upload.
	RequireSanitised bool `json:"require_sanitised,omitempty" yaml:"require_sanitised"`
	// Indices (engines that read an index pattern) is what a push takes;
	// default every non-hidden index.
	Indices string `json:"indices,omitempty" yaml:"indices"`
	// Keep is how many dumps of this database a push keeps in its store:
	// after a push, older complete dumps beyond the newest Keep are pruned
	// (s3, file, rsync). A snapshot repository (es_snapshot) keeps that
	// many snapshots; default 7. 0: no limit.
	Keep int `json:"keep,omitempty" yaml:"keep"`
	// KeepDays (push, s3, file, rsync) prunes dumps older than this many
	// days after a push; with Keep too, a dump goes only when both say
	// so. 0: no limit.
	KeepDays int `json:"keep_days,omitempty" yaml:"keep_days"`
	// ExcludedTables (engines that take it) are left out of dumps.
	ExcludedTables []string `json:"excluded_tables,omitempty" yaml:"excluded_tables"`
	// Directory (dbms files) is the absolute directory archived on push
	// and replaced on pull; Database then only names the dump.
	Directory string `json:"directory,omitempty" yaml:"directory"`
	// DatabaseHostname is host[:port] of the database server; empty means
	// the engine's default on the worker host (e.g. libpq's PGHOST).
	DatabaseHostname string `json:"database_hostname,omitempty" yaml:"database_hostname"`
	// TempPath is the directory on the worker host for the one compressed
	// copy of a dump in flight; empty means the worker's default.
	TempPath string `json:"temppath,omitempty" yaml:"temppath"`
	// URL is the bucket (s3) or base directory (file). Required.
	URL string `json:"url" yaml:"url"`
	// Path is the object prefix (s3) or subdirectory (file).
	Path string `json:"path,omitempty" yaml:"path"`
	// WorkerHost names the host whose worker runs the steps: activities go
	// to task queue "envsync-host-<WorkerHost>".
	WorkerHost string `json:"worker_host" yaml:"worker_host"`

	// Schedule settings (envsync schedules apply).
	// TimeZone is the IANA zone of Hour:Minute; default UTC.
	TimeZone string `json:"timezone,omitempty" yaml:"timezone"`
	// Jitter delays each run by a random amount up to this.
	Jitter time.Duration `json:"jitter,omitempty" yaml:"jitter"`
	// CatchupWindow is how late a missed run may still start (after an
	// outage); default one hour, so a nightly dump never starts at noon.
	CatchupWindow time.Duration `json:"catchup_window,omitempty" yaml:"catchup_window"`

	// TargetURL and TargetPath (action s3_sync) are the bucket and prefix
	// dumps are copied to; Delete removes there what the source no longer
	// has.
	TargetURL  string `json:"target_url,omitempty" yaml:"target_url"`
	TargetPath string `json:"target_path,omitempty" yaml:"target_path"`
	Delete     bool   `json:"delete,omitempty" yaml:"delete"`

	// Then names pull tasks to start, with the pushed dump, when a push
	// succeeds.
	Then []string `json:"then,omitempty" yaml:"then"`
	// Namespace, and TemporalAddress or TemporalProfile, place a chained
	// pull in another namespace or cluster (staging often lives in another
	// account); empty means the pushing run's own. TemporalAddress is a
	// plain-text cluster; TemporalProfile names a profile of the central
	// worker's Temporal client config file (address, TLS, API key), so
	// only the name travels in the task, never a credential.
	Namespace       string `json:"namespace,omitempty" yaml:"namespace"`
	TemporalAddress string `json:"temporal_address,omitempty" yaml:"temporal_address"`
	TemporalProfile string `json:"temporal_profile,omitempty" yaml:"temporal_profile"`

	// Before and After name hooks: executables in the worker host's hooks
	// directory, run before the first data step and after the run
	// whatever its outcome (e.g. pausing traffic replay during a pull).
	// Only names travel in the task, so starting a run cannot make a host
	// execute an arbitrary command.
	Before []string `json:"before,omitempty" yaml:"before"`
	After  []string `json:"after,omitempty" yaml:"after"`
	// Checks (drill only) are SELECTs run in the restored copy; each must
	// return at least one row for the drill to pass.
	Checks []string `json:"checks,omitempty" yaml:"checks"`
	// Protected targets are pulled into only by hand with
	// --allow-protected, never from a schedule.
	Protected bool `json:"protected,omitempty" yaml:"protected"`
	// MonitoringHost is the host the Icinga service belongs to; default
	// WorkerHost.
	MonitoringHost string `json:"monitoring_host,omitempty" yaml:"monitoring_host"`

	// The data path. Compression is zstd (default), gzip or none, at
	// CompressionLevel (0: the default level). Spool is "disk" (default:
	// the compressed stream is also written to the temp dir, so a failed
	// upload is retried without dumping again) or "none" (no temp disk; a
	// failed upload dumps again). RestoreJobs > 1 restores with that many
	// parallel jobs where the engine can (PostgreSQL: pg_restore -j, which
	// needs the archive on the temp disk).
	Compression      string `json:"compression,omitempty" yaml:"compression"`
	CompressionLevel int    `json:"compression_level,omitempty" yaml:"compression_level"`
	Spool            string `json:"spool,omitempty" yaml:"spool"`
	RestoreJobs      int    `json:"restore_jobs,omitempty" yaml:"restore_jobs"`
	// EncryptTo are age recipients (public keys, age1...) a push encrypts
	// its dump to before it leaves the host; a pulling worker decrypts
	// with an identity of its own (envsync worker --age-identity). Public
	// keys only, so they can sit in the tasks file.
	EncryptTo []string `json:"encrypt_to,omitempty" yaml:"encrypt_to"`
	// Verify is "counts" (default: a push records the rows per table its
	// dump's snapshot holds, a pull checks its staging copy holds as many
	// before the swap) or "none".
	Verify string `json:"verify,omitempty" yaml:"verify"`
}

// Actions, engines and stores that tasks may name.
const (
	ActionPush = "push"
	ActionPull = "pull"
	// ActionS3Sync copies dumps, with their manifests, from one bucket and
	// prefix to another (cross-account replication).
	ActionS3Sync = "s3_sync"
	// ActionDrill restores a task's newest dump into a throwaway database,
	// verifies and checks it, drops it and writes the evidence beside the
	// dump.
	ActionDrill = "drill"

	EnsurePresent  = "present"
	EnsureDisabled = "disabled"
	EnsureAbsent   = "absent"
)

var (
	actions = []string{ActionPush, ActionPull, ActionS3Sync, ActionDrill}
	ensures = []string{EnsurePresent, EnsureDisabled, EnsureAbsent}
)

// Engines returns the dbms values tasks may name: every registered engine
// and its aliases (package engine/all lists them).
func Engines() []string { return engine.Names() }

// Backends returns the storage backends dbms can use.
func Backends(dbms string) []string {
	info, _ := engine.Lookup(dbms)
	return slices.Clone(info.Stores)
}

// fieldRule says what a task key only some engines or stores read is for;
// %s becomes the names of those that read it.
var fieldRule = map[string]string{
	"directory":       "only dbms %s archives a directory",
	"indices":         "only %s tasks take an index pattern",
	"excluded_tables": "only %s dumps leave tables out",
	"restore_jobs":    "only %s restores in parallel",
	"keep":            "only tasks on stores %s keep a number of dumps, and it must be positive",
	"keep_days":       "only tasks on stores %s prune dumps by age, and it must be a positive number of days",
}

// TimestampLayout is the -t format of the original script, read as UTC.
const TimestampLayout = "2006-01-02T15:04"

var (
	// Database names end up in object keys, file names and quoted SQL
	// identifiers; this set is safe in all three.
	databaseRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$`)
	// Task queue names are built from host names.
	hostRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$`)
	// host, host:port, [v6]:port
	hostPortRe = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+|/[^\s]*)(:[0-9]{1,5})?$`)
	// Hook names are file names in the hooks directory (NAME_MAX 255).
	hookRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)
)

// What each pattern above accepts, in words, for the messages. "Letters"
// alone would be wrong: the sets are ASCII, and an operator who is refused
// Ü must be able to see why.
const (
	asciiName    = "ASCII letters A-Z a-z, digits 0-9, and _ . -"
	databaseRule = "1-63 characters of " + asciiName + ", not starting with . or -"
	hostRule     = "1-253 characters of " + asciiName + ", starting with a letter or digit"
	hookRule     = "1-255 characters of " + asciiName + ", not starting with . or -"
	hostPortRule = "must be host, host:port, [IPv6 address]:port or an absolute socket directory; a host is " + asciiName
)

// FieldError says which field of which task in which file is wrong and why.
type FieldError struct {
	Source string // file name, or "command line"
	Task   string
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	where := e.Source
	if e.Task != "" {
		where += ": task " + clip(e.Task)
	}
	return fmt.Sprintf("%s: %s %s: %s", where, clip(e.Field), quoteClip(e.Value), e.Reason)
}

// clipAt is how much of a value a message quotes. An over-long value is
// often the very mistake being reported, and echoing megabytes of it back
// helps no one.
const clipAt = 64

// clip shortens s for a message, saying how long it was.
func clip(s string) string {
	if len(s) <= clipAt {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:clipCut(s)], len(s))
}

// quoteClip is clip for a quoted value; the length stays outside the quotes
// so it is not mistaken for part of the value.
func quoteClip(s string) string {
	if len(s) <= clipAt {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:clipCut(s)]), len(s))
}

// clipCut is where to cut s: at most clipAt bytes, on a character boundary.
func clipCut(s string) int {
	n := clipAt
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// Limits on what a task may hold, in bytes and entries. They are far above
// what a real task needs; they exist so that a mistake (a file pasted as a
// title, a generated list gone wrong) is refused with a clear message
// instead of travelling into every schedule and run. Task names become
// part of schedule and workflow IDs, which Temporal caps at 1000 bytes;
// and with every field full, a push chaining the most pulls it may still
// fits Temporal's 2 MB payload limit (TestLargestChainFitsTemporalPayloadLimit).
const (
	maxNameLen  = 200  // task names (then entries too) and titles
	maxPathLen  = 1024 // paths, URLs, index patterns, socket directories
	maxValueLen = 255  // every other value and list entry
	maxTableLen = 64   // excluded_tables entries: table names
	maxListLen  = 10   // entries in then, before, after
	maxExcluded = 500  // entries in excluded_tables
	// MaxFileSize bounds a tasks file: 64 MiB, about 200,000 tasks.
	MaxFileSize = 64 << 20
)

// maxLength is the longest value key (as in the tasks file; "name" for
// the task name) may hold; for a list, the longest entry.
func maxLength(key string) int {
	switch key {
	case "name", "title", "then":
		return maxNameLen
	case "sanitise_rules", "sanitised_path", "directory", "temppath", "url", "path",
		"target_url", "target_path", "database_hostname", "indices":
		return maxPathLen
	case "excluded_tables":
		return maxTableLen
	}
	return maxValueLen
}

// maxEntries is how many entries list key may hold.
func maxEntries(key string) int {
	if key == "excluded_tables" {
		return maxExcluded
	}
	return maxListLen
}

// sizedField is a string or []string field of Task and its key.
type sizedField struct {
	index int
	key   string
	list  bool
}

// sizedFields lists Task's string and list fields, found once by
// reflection so that a field added later is bounded too without anyone
// remembering to.
var sizedFields = sync.OnceValue(func() []sizedField {
	var out []sizedField
	typ := reflect.TypeFor[Task]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Type.Kind() == reflect.String:
			out = append(out, sizedField{i, key, false})
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			out = append(out, sizedField{i, key, true})
		}
	}
	return out
})

// checkStrings bounds every string and list field against maxLength and
// maxEntries, and refuses control characters in any of them: a NUL cannot
// be part of a path (the system call fails much later, far from the tasks
// file), and a newline in a name or title would split the lines of logs
// and check results. It reports whether all were sound.
func (t *Task) checkStrings(bad func(field, value, reason string)) bool {
	ok := true
	long := func(key, v string) {
		if limit := maxLength(key); len(v) > limit {
			bad(key, v, fmt.Sprintf("too long; at most %d bytes", limit))
			ok = false
		} else if i := strings.IndexFunc(v, isControl); i >= 0 {
			bad(key, v, fmt.Sprintf("holds the control character %U at byte %d; names, paths and titles take printable characters only", []rune(v[i:])[0], i))
			ok = false
		}
	}
	v := reflect.ValueOf(t).Elem()
	for _, sf := range sizedFields() {
		f := v.Field(sf.index)
		if !sf.list {
			if sf.key == "title" && f.String() == t.Name {
				continue // defaulted from the name, which is reported instead
			}
			long(sf.key, f.String())
			continue
		}
		if limit := maxEntries(sf.key); f.Len() > limit {
			bad(sf.key, strings.Join(f.Interface().([]string), ","), fmt.Sprintf("%d entries; at most %d", f.Len(), limit))
			ok = false
			continue
		}
		for j := range f.Len() {
			long(sf.key, f.Index(j).String())
		}
	}
	return ok
}

// isControl is a C0 or C1 control character, or DEL.
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// knownZones caches the time zones found valid: time.LoadLocation reads
// and parses the zone file on every call, which dominated loading a file
// of many tasks. The zone database does not change under a running
// process, and only valid names are kept, so the cache stays small.
var knownZones sync.Map

func validZone(name string) bool {
	if _, ok := knownZones.Load(name); ok {
		return true
	}
	if _, err := time.LoadLocation(name); err != nil {
		return false
	}
	knownZones.Store(name, true)
	return true
}

// Errors collects every problem found, so one run of the validator reports
// them all.
type Errors []error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Normalise fills defaults that do not depend on the machine.
func (t *Task) Normalise() {
	if t.Title == "" {
		t.Title = t.Name
	}
	if t.Ensure == "" {
		t.Ensure = EnsurePresent
	}
	if info, ok := store.Lookup(t.StorageBackend); ok {
		t.StorageBackend = info.Name // an alias, such as the original's name
	}
	t.Path = strings.Trim(t.Path, "/")
	t.TargetPath = strings.Trim(t.TargetPath, "/")
	t.SanitisedPath = strings.Trim(t.SanitisedPath, "/")
}

// Validate checks every field and returns all problems found. source names
// the file (or "command line") for the messages.
func (t *Task) Validate(source string) error {
	var errs Errors
	bad := func(field, value, reason string) {
		errs = append(errs, &FieldError{Source: source, Task: t.Name, Field: field, Value: value, Reason: reason})
	}
	oneOf := func(field, value string, allowed []string) bool {
		if value == "" {
			bad(field, value, "required; one of "+strings.Join(allowed, ", "))
			return false
		}
		if !slices.Contains(allowed, value) {
			bad(field, value, "must be one of "+strings.Join(allowed, ", "))
			return false
		}
		return true
	}
	if !t.checkStrings(bad) {
		// The other checks would only repeat the unsound values.
		return errs
	}
	oneOf("action", t.Action, actions)
	if t.Ensure != "" && !slices.Contains(ensures, t.Ensure) {
		bad("ensure", t.Ensure, "must be one of "+strings.Join(ensures, ", "))
	}
	if t.Action == ActionS3Sync {
		t.validateSync(bad)
		t.validateCommon(bad)
		return errs.orNil()
	}
	if t.TargetURL != "" || t.TargetPath != "" || t.Delete {
		bad("target_url", t.TargetURL, "only an s3_sync task copies to a target bucket")
	}
	dbmsOK := oneOf("dbms", t.DBMS, engine.Names())
	backendOK := oneOf("storagebackend", t.StorageBackend, store.Names())
	eng, _ := engine.Lookup(t.DBMS)
	sto, _ := store.Lookup(t.StorageBackend)
	if dbmsOK && backendOK && !slices.Contains(eng.Stores, t.StorageBackend) {
		bad("storagebackend", t.StorageBackend, fmt.Sprintf("cannot be used with dbms %s; legal backends for %s: %s",
			t.DBMS, t.DBMS, strings.Join(eng.Stores, ", ")))
	}
	switch {
	case t.Database == "":
		bad("database", "", "required")
	case !databaseRe.MatchString(t.Database):
		bad("database", t.Database, "must be "+databaseRule)
	}
	if t.SourceDatabase != "" {
		if t.Action != ActionPull {
			bad("source_database", t.SourceDatabase, "only a pull restores another database's dumps")
		} else if !databaseRe.MatchString(t.SourceDatabase) {
			bad("source_database", t.SourceDatabase, "must be "+databaseRule)
		}
	}
	t.validateSanitise(bad, eng, dbmsOK)
	t.validateDrill(bad, sto)
	t.validateDataPath(bad)
	// Keys only some engines or stores read: refused elsewhere, so a
	// value that would be ignored is never mistaken for one that works.
	for _, f := range t.specificFields() {
		key, set := f[0], f[1]
		takers := engine.Taking(key)
		if key == "keep" || key == "keep_days" {
			takers = store.Taking(key)
		}
		if set != "" && dbmsOK && backendOK && !slices.Contains(eng.Fields, key) && !slices.Contains(sto.Fields, key) {
			bad(key, set, fmt.Sprintf(fieldRule[key], strings.Join(takers, ", ")))
		}
	}
	if len(t.EncryptTo) > 0 && backendOK && sto.Native {
		bad("encrypt_to", strings.Join(t.EncryptTo, ","), "storagebackend "+t.StorageBackend+" is kept by the database server itself; envsync cannot encrypt it")
	}
	if t.Keep < 0 {
		bad("keep", fmt.Sprint(t.Keep), fmt.Sprintf(fieldRule["keep"], strings.Join(store.Taking("keep"), ", ")))
	}
	if t.KeepDays < 0 {
		bad("keep_days", fmt.Sprint(t.KeepDays), fmt.Sprintf(fieldRule["keep_days"], strings.Join(store.Taking("keep_days"), ", ")))
	}
	// Retention prunes what a push wrote, after the push: on a pull it
	// would never run, and a person would think it did.
	if t.Action != ActionPush && backendOK && !sto.Native {
		if t.Keep > 0 {
			bad("keep", fmt.Sprint(t.Keep), "only a push prunes the dumps it writes; set keep on the push task that writes to "+t.StorageBackend+"://"+t.URL+"/"+t.Path)
		}
		if t.KeepDays > 0 {
			bad("keep_days", fmt.Sprint(t.KeepDays), "only a push prunes the dumps it writes; set keep_days on the push task that writes to "+t.StorageBackend+"://"+t.URL+"/"+t.Path)
		}
	}
	for _, x := range t.ExcludedTables {
		if !databaseRe.MatchString(x) {
			bad("excluded_tables", x, "not a table name: "+databaseRule)
		}
	}
	if dbmsOK && eng.Check != nil {
		for _, p := range eng.Check(t.Spec()) {
			bad(p.Field, p.Value, p.Reason)
		}
	}
	if t.DatabaseHostname != "" {
		if _, _, err := SplitHostPort(t.DatabaseHostname); err != nil {
			bad("database_hostname", t.DatabaseHostname, err.Error())
		}
	}
	switch {
	case t.URL == "":
		bad("url", "", "required: the bucket (s3) or directory (file) holding dumps")
	case backendOK && sto.Check != nil:
		if field, value, reason := sto.Check(t.URL, t.Path); field != "" {
			bad(field, value, reason)
		}
	}
	if strings.Contains(t.Path, "..") {
		bad("path", t.Path, "must not contain ..")
	}
	if t.TempPath != "" && !strings.HasPrefix(t.TempPath, "/") {
		bad("temppath", t.TempPath, "must be an absolute directory")
	}
	t.validateCommon(bad)
	return errs.orNil()
}

// specificFields are the task's keys that only some engines or stores
// read, with their values ("" when unset), in a fixed order.
func (t *Task) specificFields() [][2]string {
	jobs, keep, days := "", "", ""
	if t.RestoreJobs > 1 {
		jobs = strconv.Itoa(t.RestoreJobs) // 1 is the default everywhere
	}
	if t.Keep > 0 {
		keep = strconv.Itoa(t.Keep)
	}
	if t.KeepDays > 0 {
		days = strconv.Itoa(t.KeepDays)
	}
	return [][2]string{
		{"directory", t.Directory},
		{"indices", t.Indices},
		{"excluded_tables", strings.Join(t.ExcludedTables, ",")},
		{"restore_jobs", jobs},
		{"keep", keep},
		{"keep_days", days},
	}
}

// Spec is what the task's engine is told about it.
func (t *Task) Spec() engine.Spec {
	s := engine.Spec{Target: engine.Target{Database: t.Database}, Directory: t.Directory, Indices: t.Indices, ExcludedTables: t.ExcludedTables,
		Count: t.Verifies()}
	if t.DatabaseHostname != "" {
		s.Host, s.Port, _ = SplitHostPort(t.DatabaseHostname) // Validate refuses a bad one
	}
	return s
}

func deref(p *int) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// MonitoredHost is the Icinga host of the task's check.
func (t *Task) MonitoredHost() string {
	if t.MonitoringHost != "" {
		return t.MonitoringHost
	}
	return t.WorkerHost
}

// DumpName is the database name dumps of this task carry in the store.
func (t *Task) DumpName() string {
	if t.SourceDatabase != "" {
		return t.SourceDatabase
	}
	return t.Database
}

// ParseTimestamp reads a -t value (YYYY-MM-DDTHH:MM, UTC).
func ParseTimestamp(source, value string) (time.Time, error) {
	ts, err := time.Parse(TimestampLayout, value)
	if err != nil {
		return time.Time{}, &FieldError{Source: source, Field: "timestamp", Value: value,
			Reason: "must be YYYY-MM-DDTHH:MM (UTC), e.g. 2026-11-25T23:30"}
	}
	return ts, nil
}

// validateCommon checks what every action shares: host, schedule, hooks.
func (t *Task) validateCommon(bad func(field, value, reason string)) {
	if t.WorkerHost == "" {
		bad("worker_host", "", "required: the host whose envsync worker runs this task's steps")
	} else if !hostRe.MatchString(t.WorkerHost) {
		bad("worker_host", t.WorkerHost, "must be a host name: "+hostRule)
	}
	if t.Hour != nil && (*t.Hour < 0 || *t.Hour > 23) {
		bad("hour", fmt.Sprint(*t.Hour), "must be 0-23")
	}
	if t.Minute != nil && (*t.Minute < 0 || *t.Minute > 59) {
		bad("minute", fmt.Sprint(*t.Minute), "must be 0-59")
	}
	if (t.Hour == nil) != (t.Minute == nil) {
		bad("hour", fmt.Sprint(deref(t.Hour)), "hour and minute go together: set both for a daily schedule, or neither for a task run by hand or by a chain")
	}
	if t.TimeZone != "" {
		if !validZone(t.TimeZone) {
			bad("timezone", t.TimeZone, "not an IANA time zone (e.g. Europe/London, UTC)")
		}
	}
	if t.Jitter < 0 {
		bad("jitter", t.Jitter.String(), "must not be negative")
	}
	if t.CatchupWindow < 0 {
		bad("catchup_window", t.CatchupWindow.String(), "must not be negative")
	}
	if len(t.Then) > 0 && t.Action != ActionPush {
		bad("then", strings.Join(t.Then, ","), "only a push starts pulls when it succeeds")
	}
	for _, h := range append(append([]string{}, t.Before...), t.After...) {
		if !hookRe.MatchString(h) {
			bad("before/after", h, "a hook is the name of an executable in the worker's hooks directory: "+hookRule)
		}
	}
	if t.MonitoringHost != "" && !hostRe.MatchString(t.MonitoringHost) {
		bad("monitoring_host", t.MonitoringHost, "must be a host name: "+hostRule)
	}
	t.validateTemporal(bad)
}

// profileRe is a client config profile name, as a TOML bare key: short, so
// that an API key or a certificate pasted here is refused (and not echoed).
var profileRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateTemporal checks where a chained pull goes.
func (t *Task) validateTemporal(bad func(field, value, reason string)) {
	if t.TemporalProfile != "" && t.Action != ActionPull {
		bad("temporal_profile", t.TemporalProfile, "only a pull started by a push's then runs in another cluster")
	}
	if t.TemporalAddress != "" && t.TemporalProfile != "" {
		bad("temporal_profile", t.TemporalProfile, "give temporal_address (a plain-text cluster) or temporal_profile (a profile with address, TLS and API key), not both; the profile's address is the cluster's")
	}
	if t.TemporalProfile != "" && !profileRe.MatchString(t.TemporalProfile) {
		// Never echoed: a value this long or odd is more likely a pasted
		// credential than a profile name.
		bad("temporal_profile", "…", "must be the name of a profile of the central worker's Temporal config file (letters, digits, _ and -, at most 64): the profile holds the address, TLS settings and API key, the task only its name")
	}
}

// Sanitise modes.
const (
	SanitiseOnPull       = sanitise.OnPull
	SanitiseBeforeUpload = sanitise.BeforeUpload
)

// RulesLoaded checks that a task with a rule set carries the set's sha256,
// which loading the task fills in; a run without it could not tell the
// worker which file to trust.
func (t *Task) RulesLoaded() error {
	if t.SanitiseRules != "" && len(t.SanitiseSHA256) != 64 {
		return &FieldError{Task: t.Name, Field: "sanitise_sha256", Value: t.SanitiseSHA256,
			Reason: "the rule set's sha256 is missing; start runs from a tasks file or envsync's command line, which fill it in"}
	}
	return nil
}

// sanitisers returns the engines that support sanitise mode.
func sanitisers(mode string) string {
	var out []string
	for _, e := range engine.All() {
		if slices.Contains(e.Sanitise, mode) {
			out = append(out, e.Name)
		}
	}
	return strings.Join(out, ", ")
}

func (t *Task) validateSanitise(bad func(field, value, reason string), eng engine.Info, dbmsOK bool) {
	mode := t.Sanitise
	switch {
	case t.SanitiseRules == "" && (mode != "" || t.SanitisedPath != ""):
		bad("sanitise", mode, "needs sanitise_rules: the rule set to apply")
		return
	case t.SanitiseRules == "":
	case !strings.HasPrefix(t.SanitiseRules, "/"):
		bad("sanitise_rules", t.SanitiseRules, "must be an absolute path on the worker hosts")
	case !dbmsOK:
	case len(eng.Sanitise) == 0:
		bad("sanitise_rules", t.SanitiseRules, "dbms "+t.DBMS+" cannot be sanitised; only "+sanitisers(SanitiseOnPull))
	case eng.Native != "" && t.StorageBackend == eng.Native:
		bad("sanitise_rules", t.SanitiseRules, "a "+t.StorageBackend+" snapshot is restored by the cluster itself and never passes through envsync, so it cannot be sanitised: use the s3, file or rsync store for a sanitised pull")
	case mode != "" && mode != SanitiseOnPull && mode != SanitiseBeforeUpload:
		bad("sanitise", mode, "must be on_pull or before_upload")
	case t.Action == ActionPush && mode != SanitiseBeforeUpload:
		bad("sanitise", mode, "a push sanitises only with sanitise: before_upload (and a sanitised_path)")
	case t.Action == ActionPull && mode == SanitiseBeforeUpload:
		bad("sanitise", mode, "before_upload is for the push; a pull sanitises its staging copy (on_pull)")
	case mode == SanitiseBeforeUpload && !slices.Contains(eng.Sanitise, mode):
		bad("sanitise", mode, "before_upload runs on "+sanitisers(mode)+"; sanitise "+t.DBMS+" on the pull")
	case mode == SanitiseBeforeUpload && (t.SanitisedPath == "" || strings.Trim(t.SanitisedPath, "/") == t.Path):
		bad("sanitised_path", t.SanitisedPath, "required for before_upload, and different from path, so sanitised and raw dumps never mix")
	}
	if t.RequireSanitised && t.Action != ActionPull {
		bad("require_sanitised", "true", "only a pull requires sanitised dumps")
	}
	if t.SanitiseRules != "" && t.Action == ActionPull && t.RestoreJobs > 1 {
		bad("restore_jobs", fmt.Sprint(t.RestoreJobs), "a parallel restore needs the raw archive on the staging host's temp disk, and a sanitised pull never writes raw data there: remove restore_jobs (the rows are sanitised as they stream in)")
	}
}

// drillEngines are the engines a drill restores and checks: their copies
// are databases on a server, and checks are SQL.
var drillEngines = []string{"postgresql", "mysql"}

// validateDrill checks a drill task's checks, and what a drill refuses.
func (t *Task) validateDrill(bad func(field, value, reason string), sto store.Info) {
	if t.Action != ActionDrill {
		if len(t.Checks) > 0 {
			bad("checks", t.Checks[0], "only a drill task runs checks")
		}
		return
	}
	if eng, ok := engine.Lookup(t.DBMS); ok && !slices.Contains(drillEngines, eng.Name) {
		bad("action", t.Action, "a restore drill runs on "+strings.Join(drillEngines, " and ")+" so far; prove "+t.DBMS+" dumps with a pull into a scratch target")
	}
	if sto.Native {
		bad("storagebackend", t.StorageBackend, "a drill restores dumps envsync stores (s3, file, rsync); a snapshot repository is the cluster's own")
	}
	if t.SanitiseRules != "" {
		bad("sanitise_rules", t.SanitiseRules, "a drill restores the dump as it is into a throwaway database and drops it; point it at a server where that data may be, or at the sanitised_path of a before_upload push")
	}
	if t.RestoreJobs > 1 {
		bad("restore_jobs", fmt.Sprint(t.RestoreJobs), "a drill restores the dump as a pull streams it, in one job")
	}
	for i, c := range t.Checks {
		q := strings.ToUpper(strings.TrimSpace(c))
		if !strings.HasPrefix(q, "SELECT") && !strings.HasPrefix(q, "WITH") && !strings.HasPrefix(q, "TABLE") {
			bad(fmt.Sprintf("checks[%d]", i), c, "must be a SELECT (or WITH ... SELECT) that returns at least one row when the data is sound")
		}
	}
}

// validateSync checks an s3_sync task: source and target buckets, an
// optional database filter.
func (t *Task) validateSync(bad func(field, value, reason string)) {
	if t.StorageBackend != "s3" {
		bad("storagebackend", t.StorageBackend, "s3_sync copies between S3 buckets: must be s3")
	}
	s3, ok := store.Lookup("s3")
	for _, f := range [][2]string{{"url", t.URL}, {"target_url", t.TargetURL}} {
		if f[1] == "" {
			bad(f[0], f[1], "required: an S3 bucket name")
		} else if !ok || s3.Check == nil {
			bad(f[0], f[1], "this envsync has no s3 store")
		} else if _, _, reason := s3.Check(f[1], ""); reason != "" {
			bad(f[0], f[1], reason)
		}
	}
	if t.URL == t.TargetURL && t.Path == t.TargetPath {
		bad("target_path", t.TargetPath, "source and target are the same place")
	}
	if t.Database != "" && !databaseRe.MatchString(t.Database) {
		bad("database", t.Database, "must be "+databaseRule)
	}
}

// SplitHostPort splits database_hostname (host, host:port, [v6]:port, or a
// Unix socket directory) into host and port; port is 0 when not given.
func SplitHostPort(v string) (string, int, error) {
	if !hostPortRe.MatchString(v) {
		return "", 0, errors.New(hostPortRule)
	}
	if strings.HasPrefix(v, "/") {
		return v, 0, nil
	}
	i := strings.LastIndex(v, ":")
	if i < 0 || strings.HasSuffix(v, "]") {
		return strings.Trim(v, "[]"), 0, nil
	}
	port, err := strconv.Atoi(v[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, errors.New("port must be 1-65535")
	}
	return strings.Trim(v[:i], "[]"), port, nil
}

// Verify modes.
const (
	VerifyCounts = "counts"
	VerifyNone   = "none"
)

// Verifies says whether the task counts rows: a push into its manifest, a
// pull in its staging copy.
func (t *Task) Verifies() bool { return t.Verify != VerifyNone }

// Spool modes.
const (
	SpoolDisk = "disk"
	SpoolNone = "none"
)

func (t *Task) validateDataPath(bad func(field, value, reason string)) {
	if t.Compression != "" && !slices.Contains(dump.Compressions, t.Compression) {
		bad("compression", t.Compression, "must be one of "+strings.Join(dump.Compressions, ", "))
	}
	if l := t.CompressionLevel; l != 0 {
		c := cmp.Or(t.Compression, dump.Compressions[0])
		lo, hi := dump.LevelRange(c)
		switch {
		case hi == 0:
			bad("compression_level", strconv.Itoa(l), "compression "+c+" has no levels")
		case l < lo || l > hi:
			bad("compression_level", strconv.Itoa(l), fmt.Sprintf("%s takes levels %d-%d", c, lo, hi))
		}
	}
	if t.Spool != "" && t.Spool != SpoolDisk && t.Spool != SpoolNone {
		bad("spool", t.Spool, "must be disk (default) or none")
	}
	if t.Verify != "" && t.Verify != VerifyCounts && t.Verify != VerifyNone {
		bad("verify", t.Verify, "must be counts (default) or none")
	}
	for _, r := range t.EncryptTo {
		if strings.HasPrefix(strings.ToUpper(r), "AGE-SECRET-KEY-") {
			// Never echoed: a message is no place for a secret key.
			bad("encrypt_to", "AGE-SECRET-KEY-…", "this is a secret key: give its public key (age-keygen -y FILE), keep the secret key on the pulling worker only, and consider it exposed")
			continue
		}
		if _, err := age.ParseX25519Recipient(r); err != nil {
			bad("encrypt_to", r, "not an age recipient (a public key, age1...): "+err.Error())
		}
	}
	if len(t.EncryptTo) > 0 && t.Action != ActionPush {
		bad("encrypt_to", strings.Join(t.EncryptTo, ","), "only a push encrypts; a pull decrypts with its worker's --age-identity")
	}
	if t.RestoreJobs < 0 || t.RestoreJobs > 64 {
		bad("restore_jobs", strconv.Itoa(t.RestoreJobs), "must be 1-64")
	}
}
