package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/notify"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// captured keeps the check results a worker sends.
type captured struct {
	mu  sync.Mutex
	got []notify.Result
}

func (c *captured) Send(_ context.Context, r notify.Result) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, r)
	return nil
}

func (c *captured) last() notify.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		return notify.Result{}
	}
	return c.got[len(c.got)-1]
}

// misledSetup is personal data under names that do not say so: e-mail
// addresses in contact, names in notes, phone numbers inside remarks,
// dates of birth in born; orders joined on the address.
var misledSetup = []string{
	"CREATE TABLE people (id INT PRIMARY KEY, contact VARCHAR(120), notes VARCHAR(60), born DATE, remark TEXT, score INT)",
	"CREATE TABLE orders (id INT PRIMARY KEY, buyer VARCHAR(120), total INT)",
	`INSERT INTO people SELECT i, 'person' || i || '@real-person.example',
		(ARRAY['Olivia','Jack','Amelia','Harry'])[1 + i % 4] || ' Realname',
		DATE '1950-01-01' + i, CASE WHEN i % 5 = 0 THEN 'asked us to call 07700 9' || lpad(i::text, 5, '0') ELSE 'fine' END, i % 7
		FROM generate_series(1, 500) i`,
	"INSERT INTO orders SELECT i, 'person' || (1 + i % 500) || '@real-person.example', i * 3 FROM generate_series(1, 800) i",
}

// `envsync sanitise init` reads the production database on its worker and
// prints a rule set naming every table and column, finding the personal
// ones by content; used as written, it leaves no original value in
// staging. --update keeps every line of a rule set and adds what the
// database gained; until it is added, the push warns (output, result,
// check result state 1) that the pull's rule set misses it, and the pull
// fails naming it with staging untouched.
func TestSanitiseInitAndThePushThatWarns(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	checks := &captured{}
	e := newEnvWith(t, false, worker.Options{Notify: &notify.Activities{Sender: checks}})
	e.exec("postgres", "CREATE DATABASE misled")
	e.exec("misled", misledSetup...)
	dir := t.TempDir()
	tasks := func(rules string) string {
		body := fmt.Sprintf(`defaults:
  dbms: postgresql
  storagebackend: file
  url: %s
  path: misled
  worker_host: %s
  database_hostname: %s
tasks:
  push_misled:
    action: push
    database: misled
  pull_misled:
    action: pull
    database: misled_staging
    source_database: misled
`, e.fileDir, testenv.Host, e.pg.Addr())
		if rules != "" {
			body += "    sanitise_rules: " + rules + "\n"
		}
		return writeFile(t, dir, "tasks.yaml", body)
	}

	r := e.envsync(t, "sanitise", "init", "--tasks", tasks(""), "--task", "pull_misled")
	if r.code != 0 {
		t.Fatalf("sanitise init: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"  orders:\n    id: keep\n    buyer: email  # sampled values were e-mail addresses",
		"    contact: email  # sampled values were e-mail addresses (200 of 200)",
		"    notes: name  # sampled values were people's names",
		"    born: {date_shift: {days: 365}}  # sampled values looked like dates of birth",
		"    remark: {redact: pseudonyms}  # free text containing phone numbers",
		"    score: keep\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rule set lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, m := range markers {
		if strings.Contains(r.stdout+r.stderr, m) {
			t.Errorf("sanitise init printed a sampled value (%s)", m)
		}
	}
	if !strings.Contains(r.stderr, "2 tables: 5 columns transformed, 4 kept") {
		t.Errorf("summary: %s", r.stderr)
	}
	rules := writeFile(t, dir, "rules.yaml", r.stdout)

	// Used as written: no original value in the staging copy.
	f, err := config.LoadFile(tasks(rules))
	if err != nil {
		t.Fatal(err)
	}
	push, _ := f.Task("push_misled")
	pull, _ := f.Task("pull_misled")
	out := e.mustRunT(t, starter.Request{Task: push, PullRules: f.PullsFedBy(push)})
	if out.Push.Warning != "" || checks.last().Status != notify.OK {
		t.Errorf("a complete rule set warned: %q, state %d", out.Push.Warning, checks.last().Status)
	}
	e.mustRunT(t, starter.Request{Task: pull})
	for _, table := range []string{"people", "orders"} {
		var all string
		if err := e.conn("misled_staging").QueryRow(context.Background(), "SELECT string_agg(x::text, E'\\n') FROM "+table+" x").Scan(&all); err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if strings.Contains(all, m) {
				t.Errorf("an original value (%s) is in staging's %s", m, table)
			}
		}
	}
	var joined int64
	if err := e.conn("misled_staging").QueryRow(context.Background(),
		"SELECT count(*) FROM orders o JOIN people p ON p.contact = o.buyer").Scan(&joined); err != nil || joined != 800 {
		t.Errorf("orders joined to people after sanitising: %d, %v; want 800", joined, err)
	}

	// Production gains a column of NI numbers. The push says the pull's
	// rules miss it; the pull fails naming it, staging as it was.
	e.exec("misled", "ALTER TABLE people ADD COLUMN ni_number TEXT", "UPDATE people SET ni_number = 'AB' || lpad(id::text, 6, '0') || 'C'")
	r = e.envsync(t, "push", "--tasks", tasks(rules), "--task", "push_misled")
	want := "WARNING   rule set " + rules + " of pull pull_misled does not name people.ni_number"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("push: exit %d, want %q:\n%s\n%s", r.code, want, r.stdout, r.stderr)
	}
	if c := checks.last(); c.Status != notify.Warning || !strings.Contains(c.Output, "WARNING: push postgresql misled") || !strings.Contains(c.Output, "people.ni_number") {
		t.Errorf("check result: state %d, %q; want 1 naming people.ni_number", c.Status, c.Output)
	}
	before := e.snapshot("misled_staging")
	if _, err := e.run(starter.Request{Task: pull}); err == nil || !strings.Contains(err.Error(), "does not name people.ni_number") {
		t.Errorf("pull with the old rules: %v", err)
	}
	e.assertUntouched(t, "misled_staging", before)

	// --update keeps every line, adds the column; then all is well.
	edited := "# reviewed by the data protection officer\n" + strings.Replace(string(mustRead(t, rules)), "    score: keep\n", "    score: keep   # a number, checked\n", 1)
	if err := os.WriteFile(rules, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.envsync(t, "sanitise", "init", "--tasks", tasks(rules), "--task", "push_misled", "--update", rules)
	if r.code != 0 || !strings.Contains(r.stderr, "added 1 to "+rules+": people.ni_number") {
		t.Fatalf("--update: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(edited, "\n") {
		if !strings.Contains(r.stdout, l+"\n") && l != "" {
			t.Errorf("--update lost the line %q", l)
		}
	}
	if !strings.Contains(r.stdout, "    ni_number: digits  # the name says National Insurance number; sampled values were National Insurance numbers (200 of 200)") {
		t.Errorf("--update did not add ni_number:\n%s", r.stdout)
	}
	if err := os.WriteFile(rules, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.envsync(t, "push", "--tasks", tasks(rules), "--task", "push_misled")
	if r.code != 0 || strings.Contains(r.stdout, "WARNING") || !strings.Contains(r.stdout, "of pull pull_misled names every table and column") {
		t.Errorf("push after --update: exit %d\n%s", r.code, r.stdout)
	}
	if f, err = config.LoadFile(tasks(rules)); err != nil {
		t.Fatal(err)
	}
	pull, _ = f.Task("pull_misled")
	e.mustRunT(t, starter.Request{Task: pull})
	var ni string
	if err := e.conn("misled_staging").QueryRow(context.Background(), "SELECT ni_number FROM people WHERE id = 7").Scan(&ni); err != nil || ni == "AB000007C" || len(ni) != 9 {
		t.Errorf("ni_number in staging: %q, %v; want nine characters, not the original", ni, err)
	}

	// A task no push feeds, or that is not there, is bad input.
	r = e.envsync(t, "sanitise", "init", "--tasks", tasks(rules), "--task", "nope")
	if r.code != 2 || !strings.Contains(r.stderr, `no task named "nope"`) {
		t.Errorf("unknown task: exit %d, %s", r.code, r.stderr)
	}
}
