package mysql_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/mysql"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/internal/testenv"
)

func plan(t *testing.T, rules string) *sanitise.Plan {
	t.Helper()
	r, err := sanitise.Parse("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sanitise.NewPlan(r, "a-test-key-of-some-length", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mysqldump's rows pass through the plan: values with quotes, backslashes
// and newlines decoded and encoded again, e-mail addresses the same
// pseudonym in two tables, filtered rows and emptied tables left out, a
// varchar never overflowed; a column no rule names fails naming it, and a
// personal value kept as it is fails naming its kind.
func TestRestoreThroughAPlan(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE src")
	exec(t, open(t, s, "src"),
		"CREATE TABLE people (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(14), note TEXT, status VARCHAR(10), created DATETIME)",
		"CREATE TABLE subs (id INT PRIMARY KEY, address VARCHAR(100), topic VARCHAR(20))",
		"CREATE TABLE sessions (id INT PRIMARY KEY, token VARCHAR(64))",
		`INSERT INTO people SELECT seq, CONCAT('Person', seq, '@real.example'), CONCAT('Jane O''Doe ', seq),
			CONCAT('it''s "quoted"\\ and\nnew line for person', seq, '@real.example'), IF(seq % 10 = 0, 'deleted', 'active'),
			'2024-05-01 10:00:00' FROM seq_1_to_100`,
		"INSERT INTO subs SELECT seq, CONCAT('person', seq, '@real.example'), 'news' FROM seq_1_to_100",
		"INSERT INTO sessions VALUES (1, 'secret-token')")
	var data bytes.Buffer
	if _, err := mysql.New(engine.Target{Database: "src", Host: s.Host, Port: s.Port}, nil, mysql.Options{}).Dump(ctx, &data); err != nil {
		t.Fatal(err)
	}
	e := mysql.New(engine.Target{Database: "dst", Host: s.Host, Port: s.Port}, nil, mysql.Options{})
	const rules = `
tables:
  people:
    id: keep
    email: email
    name: name
    note: {redact: pseudonyms}
    status: keep
    created: {date_shift: {days: 5}}
    delete_where: status = 'deleted'
  subs:
    id: keep
    address: email
    topic: keep
  sessions: empty
`
	p := plan(t, rules)
	if _, err := e.RestorePlan(ctx, bytes.NewReader(data.Bytes()), "dst_envsync_1", dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	c := open(t, s, "dst_envsync_1")
	var n, joined, sessions, long int
	var note string
	c.QueryRow("SELECT COUNT(*) FROM people WHERE email LIKE 'anonymous-%@example.com' AND note LIKE CONCAT('%for ', email) AND " +
		"INSTR(note, CONCAT('it''s \"quoted\"', CHAR(92), ' and', CHAR(10), 'new line')) = 1").Scan(&n)
	c.QueryRow("SELECT COUNT(*) FROM people p JOIN subs s ON s.address = p.email").Scan(&joined)
	c.QueryRow("SELECT COUNT(*) FROM sessions").Scan(&sessions)
	c.QueryRow("SELECT COUNT(*) FROM people WHERE CHAR_LENGTH(name) > 14 OR name LIKE '%Doe%' OR created = '2024-05-01 10:00:00'").Scan(&long)
	c.QueryRow("SELECT note FROM people ORDER BY id LIMIT 1").Scan(&note)
	if n != 90 || joined != 90 || sessions != 0 || long != 0 {
		t.Errorf("people sanitised %d (want 90: 10 deleted), joined %d (want 90), sessions %d (want 0), names too long or kept or dates kept %d; a note: %q",
			n, joined, sessions, long, note)
	}
	if rep := p.Report().Tables["people"]; rep == nil || rep.Rows != 100 || rep.Filtered != 10 || rep.Transformed != 90 {
		t.Errorf("report %+v", rep)
	}

	for name, tc := range map[string]struct{ rules, want string }{
		"unlisted": {"tables:\n  people:\n    id: keep\n    email: email\n", "does not name people.name, people.note, people.status, people.created, sessions (the whole table), subs (the whole table)"},
		"kept":     {strings.Replace(rules, "address: email", "address: keep", 1), "subs.address: email in 100 values"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.RestorePlan(ctx, bytes.NewReader(data.Bytes()), "dst_envsync_2", dump.Origin{}, plan(t, tc.rules))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "real.example") {
				t.Fatalf("error %v; want it to name %q and no value", err, tc.want)
			}
			var left int
			open(t, s, "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'dst_envsync_2'").Scan(&left)
			if left != 0 {
				t.Error("the failed restore left its staging schema")
			}
		})
	}
}
