package config

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// decodeBase is a valid push but for what a case adds under task t1.
const decodeBase = "defaults:\n  worker_host: db1\n  storagebackend: s3\n  url: dumps\n  database: orders\n  dbms: postgresql\ntasks:\n  t1:\n    action: push\n"

// A value of the wrong type is refused naming file, task, key and value,
// with a reason that says what the key takes.
func TestWrongTypesRefused(t *testing.T) {
	for _, tc := range []struct{ task, want string }{
		{"hour: abc\n    minute: 0", `tasks.yaml: task t1: hour "abc": must be a whole number`},
		{"hour: 1.5\n    minute: 0", `tasks.yaml: task t1: hour "1.5": must be a whole number`},
		{"hour: [1, 2]\n    minute: 0", `tasks.yaml: task t1: hour "[1, 2]": must be a whole number`},
		{"keep: 0x3", `tasks.yaml: task t1: keep "0x3": must be a whole number`},
		{"keep: many", `tasks.yaml: task t1: keep "many": must be a whole number`},
		{"jitter: soon", `tasks.yaml: task t1: jitter "soon": must be a duration such as 90s, 5m or 1h`},
		{"jitter: 90", `tasks.yaml: task t1: jitter "90": must be a duration such as 90s, 5m or 1h`},
		{"catchup_window: [1h]", `tasks.yaml: task t1: catchup_window "[1h]": must be a duration such as 90s, 5m or 1h`},
		{"protected: maybe", `tasks.yaml: task t1: protected "maybe": must be true or false`},
		{"protected: yes", `tasks.yaml: task t1: protected "yes": must be true or false`},
		{"delete: {a: b}", `tasks.yaml: task t1: delete "{a: b}": must be true or false`},
		{"database: [a, b]", `tasks.yaml: task t1: database "[a, b]": must be a single value, not a list or mapping`},
		{"title: {a: b}", `tasks.yaml: task t1: title "{a: b}": must be a single value, not a list or mapping`},
		{"then: {a: b}", `tasks.yaml: task t1: then "{a: b}": must be a list of names such as [a, b]`},
		{"before: [a, [b]]", `tasks.yaml: task t1: before "[a, [b]]": must be a list of names such as [a, b]`},
	} {
		_, err := ParseFile("tasks.yaml", []byte(decodeBase+"    "+tc.task+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v\nwant %q", tc.task, err, tc.want)
		}
	}
}

// Values yaml.v3 would read otherwise than a .cfg are read as before:
// quoted numbers and booleans, a bare 0 duration, a comma-separated list.
func TestValuesReadAsBefore(t *testing.T) {
	f, err := ParseFile("tasks.yaml", []byte(decodeBase+`    hour: "23"
    minute: '5'
    restore_jobs: 08
    protected: "true"
    require_sanitised: 0
    jitter: 0
    catchup_window: 90s
    before: a, b
`))
	if err != nil {
		t.Fatal(err)
	}
	task := f.Tasks[0]
	if *task.Hour != 23 || *task.Minute != 5 || !task.Protected || task.RequireSanitised || task.RestoreJobs != 8 || task.Jitter != 0 || task.CatchupWindow != 90*time.Second || !slices.Equal(task.Before, []string{"a", "b"}) {
		t.Errorf("%+v", task)
	}
}

// An unknown key is refused naming it and listing the known keys, in a
// task and in the defaults.
func TestUnknownKeyRefused(t *testing.T) {
	for doc, want := range map[string]string{
		decodeBase + "    colour: blue\n":                                              `tasks.yaml: task t1: colour "blue": unknown key; known keys: action, after, before, catchup_window,`,
		strings.Replace(decodeBase, "defaults:\n", "defaults:\n  colour: [blue]\n", 1): `tasks.yaml: defaults: colour "[blue]": unknown key; known keys: action, after,`,
	} {
		_, err := ParseFile("tasks.yaml", []byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant %q", err, want)
		}
		if err != nil && strings.Count(err.Error(), "unknown key") != 1 {
			t.Errorf("reported more than once:\n%v", err)
		}
	}
}

// Defaults apply under each task's own values: a task overrides a
// default, lists included, and an empty value unsets it.
func TestDefaultsUnderTaskValues(t *testing.T) {
	f, err := ParseFile("tasks.yaml", []byte(`defaults:
  worker_host: db1
  storagebackend: s3
  url: dumps
  dbms: postgresql
  action: push
  hour: 23
  minute: 30
  jitter: 5m
  before: [pause]
tasks:
  inherits:
    database: a
  overrides:
    database: b
    worker_host: db2
    hour: 1
    jitter: 1m
    before: [stop, drain]
  unsets:
    database: c
    hour:
    minute: ~
`))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := f.Task("inherits")
	if in.WorkerHost != "db1" || *in.Hour != 23 || *in.Minute != 30 || in.Jitter != 5*time.Minute || !slices.Equal(in.Before, []string{"pause"}) {
		t.Errorf("inherits: %+v", in)
	}
	over, _ := f.Task("overrides")
	if over.WorkerHost != "db2" || *over.Hour != 1 || *over.Minute != 30 || over.Jitter != time.Minute || !slices.Equal(over.Before, []string{"stop", "drain"}) {
		t.Errorf("overrides: %+v", over)
	}
	if un, _ := f.Task("unsets"); un.Hour != nil || un.Minute != nil {
		t.Errorf("unsets: hour %v, minute %v", deref(un.Hour), deref(un.Minute))
	}
}

// A key given twice is refused before anything is decoded, so the
// repetition is the one message, whatever the values.
func TestDuplicateKeyRefusedBeforeDecoding(t *testing.T) {
	_, err := ParseFile("tasks.yaml", []byte(decodeBase+"    hour: 1\n    minute: 0\n    hour: soon\n"))
	want := "tasks.yaml: task t1: key hour given twice, at lines 10 and 12; keep one"
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %q alone", err, want)
	}
}

// then, before and after take block and flow sequences.
func TestListsAsSequences(t *testing.T) {
	f, err := ParseFile("tasks.yaml", []byte(`defaults:
  worker_host: db1
  storagebackend: s3
  url: dumps
  dbms: postgresql
  database: orders
tasks:
  push:
    action: push
    then:
      - pull_a
      - pull_b
    before: [pause, drain]
    after:
      - resume
  pull_a:
    action: pull
  pull_b:
    action: pull
`))
	if err != nil {
		t.Fatal(err)
	}
	push := f.Tasks[0]
	if !slices.Equal(push.Then, []string{"pull_a", "pull_b"}) || !slices.Equal(push.Before, []string{"pause", "drain"}) || !slices.Equal(push.After, []string{"resume"}) {
		t.Errorf("%+v", push)
	}
}

// The original's key names keep working in tasks files as in .cfg files.
func TestOriginalKeyNames(t *testing.T) {
	rules := t.TempDir() + "/transform.sql"
	if err := os.WriteFile(rules, []byte("UPDATE users SET email = 'x';\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(decodeBase, "action: push", "action: pull", 1) + "    transformation_sql_file: " + rules + "\n"
	f, err := ParseFile("tasks.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Tasks[0].SanitiseRules != rules || len(f.Tasks[0].SanitiseSHA256) != 64 {
		t.Errorf("%+v", f.Tasks[0])
	}
	var task Task
	if err := SetKey(&task, "command line", "transformation_sql_file", rules); err != nil || task.SanitiseRules != rules {
		t.Errorf("%v %+v", err, task)
	}
}

// Flags and .cfg lines set every kind of key from a string.
func TestSetKeyKinds(t *testing.T) {
	var task Task
	for key, value := range map[string]string{
		"database": "orders", "hour": " 23", "keep": "3", "protected": "1",
		"jitter": "90s", "then": "a, b,", "title": " spaced ",
	} {
		if err := SetKey(&task, "command line", key, value); err != nil {
			t.Errorf("%s=%q: %v", key, value, err)
		}
	}
	if task.Database != "orders" || *task.Hour != 23 || task.Keep != 3 || !task.Protected ||
		task.Jitter != 90*time.Second || !slices.Equal(task.Then, []string{"a", "b"}) || task.Title != " spaced " {
		t.Errorf("%+v", task)
	}
	for _, tc := range []struct{ key, value, want string }{
		{"minute", "half", `command line: minute "half": must be a whole number`},
		{"delete", "maybe", `command line: delete "maybe": must be true or false`},
		{"catchup_window", "90", `command line: catchup_window "90": must be a duration such as 90s, 5m or 1h`},
		{"colour", "blue", `command line: colour "blue": unknown key; known keys: action,`},
		{"pre_dump_transformation_sql_file", "/x.sql", `sanitising before the dump needs a separate prefix`},
	} {
		if err := SetKey(&task, "command line", tc.key, tc.value); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want %q", tc.key, tc.value, err, tc.want)
		}
	}
}
