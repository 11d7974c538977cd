package config

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const good = `
defaults:
  worker_host: db1
  storagebackend: s3
  url: govuk-production-database-backups
tasks:
  push_ckan_production_daily:
    title: ckan push
    ensure: present
    hour: "23"
    minute: 30
    action: push
    dbms: postgresql
    database: ckan_production
    database_hostname: postgresql-primary:5432
    temppath: /tmp/ckan_production
    path: postgresql-backend
  pull_ckan_production_daily:
    action: pull
    dbms: postgresql
    database: ckan_production
    storagebackend: file
    url: /srv/dumps
    worker_host: db2
`

func TestLoadTasksFile(t *testing.T) {
	f, err := ParseFile("tasks.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 2 || f.Tasks[0].Name != "push_ckan_production_daily" {
		t.Fatalf("tasks %+v", f.Tasks)
	}
	push := f.Tasks[0]
	if push.Title != "ckan push" || *push.Hour != 23 || *push.Minute != 30 || push.WorkerHost != "db1" || push.URL != "govuk-production-database-backups" {
		t.Errorf("push task %+v", push)
	}
	pull, _ := f.Task("pull_ckan_production_daily")
	if pull.Title != "pull_ckan_production_daily" || pull.Ensure != EnsurePresent || pull.StorageBackend != "file" || pull.WorkerHost != "db2" {
		t.Errorf("pull task: defaults and overrides wrong: %+v", pull)
	}
}

func TestTasksFileErrorsNameFileTaskFieldAndValue(t *testing.T) {
	cases := map[string]struct {
		task string
		want []string
	}{
		"unknown key":        {"action: push\n    dbms: postgresql\n    colour: blue", []string{"tasks.yaml: task t1: colour \"blue\": unknown key"}},
		"bad enum":           {"action: pusj", []string{`action "pusj": must be one of push, pull`}},
		"missing required":   {"action: push", []string{`dbms "": required`, `database "": required`}},
		"incompatible pair":  {"action: push\n    dbms: postgresql\n    storagebackend: es_snapshot", []string{`storagebackend "es_snapshot": cannot be used with dbms postgresql; legal backends for postgresql: s3, file`}},
		"illegal pair":       {"action: push\n    dbms: mongo\n    storagebackend: es_snapshot", []string{`storagebackend "es_snapshot": cannot be used with dbms mongo; legal backends for mongo: s3, file, rsync`}},
		"hour range":         {"action: push\n    hour: 24", []string{`hour "24": must be 0-23`}},
		"minute range":       {"action: push\n    minute: 60", []string{`minute "60": must be 0-59`}},
		"hour not a number":  {"action: push\n    hour: noon", []string{`hour "noon": must be a whole number`}},
		"bad bucket":         {"action: push\n    url: Not_A_Bucket", []string{`url "Not_A_Bucket": not a valid S3 bucket name`}},
		"bad host":           {"action: push\n    database_hostname: db1:99999", []string{`database_hostname "db1:99999": port must be 1-65535`}},
		"bad database":       {"action: push\n    database: 'a;drop'", []string{`database "a;drop"`}},
		"pre-dump sql":       {"action: push\n    pre_dump_transformation_sql_file: /x.sql", []string{`pre_dump_transformation_sql_file "/x.sql": sanitising before the dump needs a separate prefix`}},
		"excluded not mysql": {"action: push\n    excluded_tables: a,b", []string{`excluded_tables "a,b": only mysql dumps leave tables out`}},
		"not a recipient":    {"action: push\n    encrypt_to: [age1nope]", []string{`encrypt_to "age1nope": not an age recipient (a public key, age1...)`}},
		"verify":             {"action: push\n    verify: rows", []string{`verify "rows": must be counts (default) or none`}},
		"zstd ultra level":   {"action: push\n    compression_level: 20", []string{`compression_level "20": zstd takes levels 1-19`}},
		"gzip level":         {"action: push\n    compression: gzip\n    compression_level: 10", []string{`compression_level "10": gzip takes levels 1-9`}},
		"secret key":         {"action: push\n    encrypt_to: [AGE-SECRET-KEY-1QQQ]", []string{`encrypt_to "AGE-SECRET-KEY-…": this is a secret key`}},
		"profile and address": {"action: pull\n    temporal_profile: staging\n    temporal_address: staging:7233",
			[]string{`temporal_profile "staging": give temporal_address (a plain-text cluster) or temporal_profile`}},
		"profile on a push": {"action: push\n    temporal_profile: staging", []string{`temporal_profile "staging": only a pull`}},
		"credential as profile": {"action: pull\n    temporal_profile: eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LWFwaS1rZXktdGhhdC1tdXN0LW5vdC1iZS1lY2hvZWQ",
			[]string{`temporal_profile "…": must be the name of a profile`}},
		"pull encrypts":      {"action: pull\n    encrypt_to: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]", []string{`encrypt_to "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p": only a push encrypts`}},
		"keep negative":      {"action: push\n    keep: -1", []string{`keep "-1": only tasks on stores`, "and it must be positive"}},
		"keep_days negative": {"action: push\n    keep_days: -2", []string{`keep_days "-2": only tasks on stores`}},
		"keep_days snapshot": {"action: push\n    dbms: elasticsearch\n    storagebackend: es_snapshot\n    url: repo\n    keep_days: 3", []string{`keep_days "3": only tasks on stores file, rsync, s3 prune dumps by age`}},
		"keep on a pull":     {"action: pull\n    keep: 3", []string{`keep "3": only a push prunes the dumps it writes; set keep on the push task that writes to s3://dumps/`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			doc := "defaults:\n  worker_host: db1\n  storagebackend: s3\n  url: dumps\n  database: orders\n  dbms: postgresql\ntasks:\n  t1:\n    " + tc.task + "\n"
			if name == "missing required" {
				doc = "tasks:\n  t1:\n    " + tc.task + "\n"
			}
			_, err := ParseFile("tasks.yaml", []byte(doc))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Errorf("error echoes what may be a credential:\n%v", err)
			}
		})
	}
}

func TestLegacyConfig(t *testing.T) {
	var task Task
	err := ReadLegacy("x.cfg", strings.NewReader(`# comment
action="pull"
dbms='postgresql'
storagebackend=s3

database="content_data_admin_production"
url="govuk-integration-database-backups"
path="postgresql-backend"
`), &task)
	if err != nil {
		t.Fatal(err)
	}
	if task.Action != "pull" || task.DBMS != "postgresql" || task.StorageBackend != "s3" || task.Database != "content_data_admin_production" {
		t.Errorf("%+v", task)
	}
	for body, want := range map[string]string{
		"database=\"$DB\"\n":  "shell expansion",
		"just words\n":        `expected key="value"`,
		"dbms=\"x\"\nfoo=1\n": `x.cfg: line 2: foo "1": unknown key`,
	} {
		var t2 Task
		if err := ReadLegacy("x.cfg", strings.NewReader(body), &t2); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	if ts, err := ParseTimestamp("flags", "2026-11-25T23:30"); err != nil || ts.Hour() != 23 {
		t.Errorf("%v %v", ts, err)
	}
	for _, bad := range []string{"2026-11-25", "2026-11-25 23:30", "25/11/2026T23:30", "2026-11-25T23:30:00"} {
		if _, err := ParseTimestamp("flags", bad); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DDTHH:MM") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]string{"db1": "db1:0", "db1:5433": "db1:5433", "[::1]:5432": "::1:5432", "/var/run/postgresql": "/var/run/postgresql:0"} {
		h, p, err := SplitHostPort(in)
		if err != nil || h+":"+strconv.Itoa(p) != want {
			t.Errorf("%s: %s %d %v", in, h, p, err)
		}
	}
}

// The example shipped for docker-compose must stay valid.
func TestExampleTasksFileIsValid(t *testing.T) {
	f, err := LoadFile("../deploy/tasks.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 2 {
		t.Errorf("%d tasks", len(f.Tasks))
	}
}

// The tasks file page's example must stay valid.
func TestDocsTasksExampleIsValid(t *testing.T) {
	page, err := os.ReadFile("../docs/tasks.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(page), "## The file")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("no yaml block under ## The file")
	}
	f, err := ParseFile("docs/tasks.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks) != 2 || len(f.Tasks[0].Then) != 1 {
		t.Errorf("tasks %+v", f.Tasks)
	}
}

func TestS3SyncValidation(t *testing.T) {
	ok := Task{Name: "sync", Action: ActionS3Sync, StorageBackend: "s3", URL: "prod-dumps", TargetURL: "staging-dumps", WorkerHost: "db1"}
	if err := ok.Validate("x"); err != nil {
		t.Errorf("valid sync refused: %v", err)
	}
	for _, tc := range []struct {
		mutate func(*Task)
		want   string
	}{
		{func(t *Task) { t.TargetURL = "" }, `target_url "": required`},
		{func(t *Task) { t.StorageBackend = "file" }, `storagebackend "file": s3_sync copies between S3 buckets`},
		{func(t *Task) { t.TargetURL = t.URL }, `target_path "": source and target are the same place`},
		{func(t *Task) { t.Action = ActionPush; t.DBMS = "postgresql"; t.Database = "x" }, `target_url "staging-dumps": only an s3_sync task`},
	} {
		bad := ok
		tc.mutate(&bad)
		if err := bad.Validate("x"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// Rule sets are read and checked when the tasks file loads: a bad rule is
// refused naming the file, task, rule and reason, and a rule set for the
// wrong engine is refused.
func TestSanitiseRulesCheckedAtLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := dir + "/" + name
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	good := write("good.yaml", "tables:\n  users:\n    email: email\n")
	mongoRules := write("mongo.yaml", "collections:\n  users:\n    profile.email: email\n")
	badKind := write("bad.yaml", "tables:\n  users:\n    email: scramble\n")
	legacy := write("transform.sql", "UPDATE users SET email = 'x';\n")
	withVerify := write("verify.yaml", "tables:\n  users:\n    email: email\nverify:\n  - SELECT id FROM users WHERE email LIKE '%@real.example'\n")
	doc := func(extra string) string {
		return "defaults:\n  worker_host: db1\n  storagebackend: file\n  url: /srv\n  database: orders\n  dbms: postgresql\ntasks:\n  t1:\n" + extra
	}
	f, err := ParseFile("tasks.yaml", []byte(doc("    action: pull\n    sanitise_rules: "+good+"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tasks[0].SanitiseSHA256) != 64 || f.Tasks[0].RulesLoaded() != nil {
		t.Errorf("rule set hash not recorded: %+v", f.Tasks[0])
	}
	if _, err := ParseFile("tasks.yaml", []byte(doc("    action: pull\n    sanitise_rules: "+legacy+"\n"))); err != nil {
		t.Errorf("the original's transformation SQL refused: %v", err)
	}
	for extra, want := range map[string]string{
		"    action: pull\n    sanitise_rules: " + badKind + "\n":                                                            `task t1: sanitise_rules "` + badKind + `": ` + badKind + `: rule users.email: unknown transformer "scramble"`,
		"    action: pull\n    sanitise_rules: " + mongoRules + "\n":                                                         "holds MongoDB rules, which dbms postgresql cannot run",
		"    action: push\n    sanitise_rules: " + good + "\n":                                                               `sanitise "": a push sanitises only with sanitise: before_upload`,
		"    action: push\n    sanitise_rules: " + good + "\n    sanitise: before_upload\n":                                  `sanitised_path "": required for before_upload`,
		"    action: pull\n    sanitise_rules: relative.yaml\n":                                                              `must be an absolute path`,
		"    action: push\n    require_sanitised: true\n":                                                                    `require_sanitised "true": only a pull`,
		"    action: push\n    sanitise_rules: " + withVerify + "\n    sanitise: before_upload\n    sanitised_path: clean\n": "before_upload sanitises the dump as it is taken, with no database to run SQL on",
		"    action: pull\n    sanitise_rules: " + good + "\n    restore_jobs: 4\n":                                          `restore_jobs "4": a parallel restore needs the raw archive on the staging host's temp disk`,
	} {
		if _, err := ParseFile("tasks.yaml", []byte(doc(extra))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", extra, err, want)
		}
	}
	loaded := Task{Name: "x", SanitiseRules: good}
	if err := loaded.RulesLoaded(); err == nil {
		t.Error("a task whose rule set hash is missing was accepted for a run")
	}
}

// yaml.v3 keeps both copies of a key repeated in a mapping when decoding
// into a Node, and the loader used to let the last one win silently: an
// operator who wrote database twice pushed the database they did not look
// at. Every repetition is refused, naming file, task, key and both lines.
// The files are otherwise valid, so the repetition alone is refused.
func TestDuplicateKeysRefused(t *testing.T) {
	const defaults = "defaults:\n  worker_host: db1\n  storagebackend: file\n  url: /srv\n  dbms: postgresql\n"
	for name, tc := range map[string]struct{ doc, want string }{
		"task key": {
			defaults + "tasks:\n  t1:\n    action: push\n    database: small\n    database: big\n",
			`tasks.yaml: task t1: key database given twice, at lines 9 and 10`,
		},
		"hour": {
			defaults + "tasks:\n  t1:\n    action: push\n    database: orders\n    hour: 23\n    minute: 30\n    hour: 1\n",
			`tasks.yaml: task t1: key hour given twice, at lines 10 and 12`,
		},
		"list key": {
			defaults + "tasks:\n  t1:\n    action: push\n    database: orders\n    before: [a]\n    before:\n      - b\n",
			`tasks.yaml: task t1: key before given twice, at lines 10 and 11`,
		},
		"defaults key": {
			defaults + "  worker_host: db2\ntasks:\n  t1:\n    action: push\n    database: orders\n",
			`tasks.yaml: defaults: key worker_host given twice, at lines 2 and 6`,
		},
		"top-level key": {
			defaults + "tasks:\n  t1:\n    action: push\n    database: orders\ntasks:\n  t2:\n    action: push\n    database: other\n",
			`tasks.yaml: top-level key tasks given twice, at lines 6 and 10`,
		},
		"task name": {
			defaults + "tasks:\n  t1:\n    action: push\n    database: orders\n  t1:\n    action: push\n    database: other\n",
			`tasks.yaml: task t1 defined twice, at lines 7 and 10`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFile("tasks.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Names are refused outside a small ASCII set (they become object keys,
// file names, quoted identifiers and task queue names); the message must
// name that set exactly, not say "letters" and then refuse Ü.
func TestNameRulesNameTheASCIISet(t *testing.T) {
	const set = "ASCII letters A-Z a-z, digits 0-9, and _ . -"
	base := Task{Name: "t1", Action: ActionPush, DBMS: "mysql", StorageBackend: "file", URL: "/srv", Database: "orders", WorkerHost: "db1"}
	for _, tc := range []struct {
		mutate func(*Task)
		want   string
	}{
		{func(t *Task) { t.Database = "Ünïcödé" }, `database "Ünïcödé": must be 1-63 characters of ` + set},
		{func(t *Task) { t.Action = ActionPull; t.SourceDatabase = "Ünïcödé" }, `source_database "Ünïcödé": must be 1-63 characters of ` + set},
		{func(t *Task) { t.ExcludedTables = []string{"Ünïcödé"} }, `excluded_tables "Ünïcödé": not a table name: 1-63 characters of ` + set},
		{func(t *Task) { t.WorkerHost = "Ünïcödé" }, `worker_host "Ünïcödé": must be a host name: 1-253 characters of ` + set},
		{func(t *Task) { t.MonitoringHost = "Ünïcödé" }, `monitoring_host "Ünïcödé": must be a host name: 1-253 characters of ` + set},
		{func(t *Task) { t.Before = []string{"Ünïcödé"} }, `before/after "Ünïcödé": a hook is the name of an executable in the worker's hooks directory: 1-255 characters of ` + set},
		{func(t *Task) { t.DatabaseHostname = "Ünïcödé" }, `database_hostname "Ünïcödé": must be host, host:port, [IPv6 address]:port or an absolute socket directory; a host is ` + set},
		{func(t *Task) { t.StorageBackend = "rsync"; t.Path = "x"; t.URL = "Ünïcödé" }, `url "Ünïcödé": must be [user@]host[:port] of the file server, user and host of ` + set},
		{func(t *Task) { t.StorageBackend = "s3"; t.URL = "Ünïcödé" }, `url "Ünïcödé": not a valid S3 bucket name: 3-63 characters of lower-case ASCII letters a-z, digits 0-9, . and -`},
		{func(t *Task) { t.DBMS = "elasticsearch"; t.StorageBackend = "es_snapshot"; t.URL = "Ünïcödé" }, `url "Ünïcödé": must be the snapshot repository's name: lower-case ASCII letters a-z, digits 0-9, _ and -`},
	} {
		task := base
		tc.mutate(&task)
		if err := task.Validate("tasks.yaml"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v\nwant %q", err, tc.want)
		}
	}
	if err := base.Validate("tasks.yaml"); err != nil {
		t.Errorf("the base task is refused, so the cases above prove nothing: %v", err)
	}
}

// A pasted file as a title, or a generated list gone wrong, is refused
// naming the field and the limit, and the message quotes only the start of
// the value: echoing 10 MB back to the terminal helps no one.
func TestOversizedValuesRefusedWithShortMessages(t *testing.T) {
	const defaults = "defaults:\n  worker_host: db1\n  storagebackend: file\n  url: /srv\n  dbms: postgresql\n  action: pull\n  database: orders\n"
	huge := strings.Repeat("x", 10<<20)
	names := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "      - pull%d\n", i)
		}
		return b.String()
	}
	for name, tc := range map[string]struct{ task, want string }{
		"title":        {"  t1:\n    title: " + huge + "\n", `task t1: title "xxxxxxxxxx`},
		"path":         {"  t1:\n    path: /" + strings.Repeat("p", 1025) + "\n", `path "ppppp`},
		"name":         {"  " + strings.Repeat("n", 201) + ":\n    title: x\n", `: name "nnnnn`},
		"hook entry":   {"  t1:\n    before: [" + strings.Repeat("h", 300) + "]\n", `before "hhhhh`},
		"then entries": {"  t1:\n    action: push\n    then:\n" + names(11), `then "pull0,pull1,`},
		"unknown key":  {"  t1:\n    colour: " + huge + "\n", `colour "xxxxxxxxxx`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFile("tasks.yaml", []byte(defaults+"tasks:\n"+tc.task))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %.500v, want %q", err, tc.want)
			}
			if len(err.Error()) > 2000 {
				t.Errorf("message is %d bytes: %.300s…", len(err.Error()), err)
			}
		})
	}
	_, err := ParseFile("tasks.yaml", []byte(defaults+"tasks:\n  t1:\n    title: "+huge+"\n"))
	for _, w := range []string{`"… (10485760 bytes): too long; at most 200 bytes`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %.500v, want %q", err, w)
		}
	}
	_, err = ParseFile("tasks.yaml", []byte(defaults+"tasks:\n  t1:\n    action: push\n    then:\n"+names(11)))
	if err == nil || !strings.Contains(err.Error(), `11 entries; at most 10`) {
		t.Errorf("error %.500v, want the count and the limit", err)
	}
}

// A tasks file over the size limit is refused before it is parsed.
func TestOversizedTasksFileRefused(t *testing.T) {
	path := t.TempDir() + "/tasks.yaml"
	if err := os.WriteFile(path, []byte("#"+strings.Repeat(" ", MaxFileSize)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if want := path + ": larger than 64 MiB"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// With every field at its limit, a push chaining the most pulls it may
// still fits Temporal's default 2 MB payload limit, so a task the loader
// accepts can always be scheduled and started.
func TestLargestChainFitsTemporalPayloadLimit(t *testing.T) {
	// Free text is filled with the character JSON escapes at greatest
	// length (\u0001); list entries other than then's task names are
	// checked against ASCII name patterns, so they never need escaping.
	full := func() Task {
		var task Task
		v := reflect.ValueOf(&task).Elem()
		for i := range v.NumField() {
			key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			switch v.Field(i).Kind() {
			case reflect.String:
				v.Field(i).SetString(strings.Repeat("\x01", maxLength(key)))
			case reflect.Slice:
				entry := strings.Repeat("x", maxLength(key))
				if key == "then" {
					entry = strings.Repeat("\x01", maxLength(key))
				}
				v.Field(i).Set(reflect.ValueOf(slices.Repeat([]string{entry}, maxEntries(key))))
			}
		}
		return task
	}
	chain := slices.Repeat([]Task{full()}, 1+maxEntries("then"))
	b, err := json.Marshal(chain)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 2<<20 {
		t.Errorf("the largest chain is %d bytes of JSON; Temporal refuses payloads over 2 MiB", len(b))
	}
	t.Logf("largest chain: %d bytes of JSON", len(b))
}

// A control character in a name, path or title is refused where the task
// is read, naming the field: a NUL in temppath used to pass and fail the
// run much later with `mkdir /tmp/a b: invalid argument`.
func TestControlCharactersRefused(t *testing.T) {
	const defaults = "defaults:\n  worker_host: db1\n  storagebackend: file\n  url: /srv\n  dbms: postgresql\n  action: push\n  database: orders\n"
	for name, tc := range map[string]struct{ task, want string }{
		"NUL in temppath":  {`    temppath: "/tmp/a\0b"`, `temppath "/tmp/a\x00b": holds the control character U+0000 at byte 6`},
		"newline in title": {`    title: "nightly\nrun"`, `title "nightly\nrun": holds the control character U+000A`},
		"tab in url":       {`    url: "/srv/\tdumps"`, `url "/srv/\tdumps": holds the control character U+0009`},
		"DEL in path":      {`    path: "a\x7fb"`, `path "a\x7fb": holds the control character U+007F`},
		"C1 in a hook":     {`    before: ["pause\u0085"]`, `before "pause\u0085": holds the control character U+0085`},
		"escape in name":   {``, `name "t\x1b1": holds the control character U+001B`},
	} {
		t.Run(name, func(t *testing.T) {
			key := "t1"
			if tc.task == "" {
				key = `"t\e1"`
			}
			_, err := ParseFile("tasks.yaml", []byte(defaults+"tasks:\n  "+key+":\n"+cmp.Or(tc.task, "    title: x")+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseFile("tasks.yaml", []byte(defaults+"tasks:\n  t1:\n    title: \"Zürich – nightly\"\n")); err != nil {
		t.Errorf("a printable non-ASCII title is refused: %v", err)
	}
}

func TestDrillValidation(t *testing.T) {
	ok := Task{Name: "drill", Action: ActionDrill, DBMS: "postgresql", StorageBackend: "s3", URL: "prod-dumps", Path: "pg",
		Database: "orders", WorkerHost: "db1", Checks: []string{"SELECT 1 FROM orders LIMIT 1", " with x as (select 1) select * from x"}}
	if err := ok.Validate("x"); err != nil {
		t.Errorf("valid drill refused: %v", err)
	}
	for _, tc := range []struct {
		mutate func(*Task)
		want   string
	}{
		{func(t *Task) { t.Checks = []string{"DROP TABLE orders"} }, `checks[0] "DROP TABLE orders": must be a SELECT`},
		{func(t *Task) { t.DBMS = "mongo" }, `action "drill": a restore drill runs on postgresql and mysql so far`},
		{func(t *Task) { t.SanitiseRules = "/etc/rules.yaml" }, `sanitise_rules "/etc/rules.yaml": a drill restores the dump as it is`},
		{func(t *Task) { t.Keep = 3 }, `keep "3": only a push prunes`},
		{func(t *Task) { t.RestoreJobs = 4 }, `restore_jobs "4"`},
		{func(t *Task) { t.Action = ActionPull }, `checks "SELECT 1 FROM orders LIMIT 1": only a drill task runs checks`},
	} {
		bad := ok
		tc.mutate(&bad)
		if err := bad.Validate("x"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// A drill restores raw dumps, so it is refused on a server that a pull
// restores into through rules (whose files must never hold raw rows), and
// accepted on another.
func TestDrillRefusedOnASanitisedPullsServer(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte("unlisted: keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := func(drillServer string) string {
		return `defaults: {dbms: postgresql, storagebackend: s3, url: dumps, path: pg, worker_host: db2}
tasks:
  pull_orders: {action: pull, database: orders, database_hostname: staging-db:5432, sanitise_rules: ` + rules + `}
  drill_orders: {action: drill, database: orders, database_hostname: ` + drillServer + `}
`
	}
	_, err := ParseFile("tasks.yaml", []byte(doc("staging-db:5432")))
	if err == nil || !strings.Contains(err.Error(), `database_hostname "staging-db:5432": pull pull_orders restores into this server through rules`) {
		t.Errorf("a drill on the sanitised pull's server: %v", err)
	}
	if _, err := ParseFile("tasks.yaml", []byte(doc("restore-db:5432"))); err != nil {
		t.Errorf("a drill on another server refused: %v", err)
	}
}
