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

// sanitise init on MariaDB: every base table and column (not views, not
// excluded tables), personal data found under misleading names, a foreign
// key given its target's transformer; the rule set it writes restores.
func TestSurveyWritesARuleSetThatRestores(t *testing.T) {
	s := testenv.StartMariaDB(t)
	ctx := context.Background()
	exec(t, open(t, s, ""), "CREATE DATABASE crm")
	exec(t, open(t, s, "crm"),
		"CREATE TABLE people (id INT PRIMARY KEY, contact VARCHAR(100) UNIQUE, notes VARCHAR(40), joined DATE)",
		"CREATE TABLE letters (id INT PRIMARY KEY, sent_to VARCHAR(100), FOREIGN KEY (sent_to) REFERENCES people(contact))",
		"CREATE TABLE cache (k INT)",
		"CREATE VIEW v AS SELECT id FROM people",
		`INSERT INTO people SELECT seq, CONCAT('person', seq, '@real.example'), ELT(1 + seq % 3, 'Olivia Jones', 'Jack Smith', 'Amelia Brown'), '2024-01-01' FROM seq_1_to_60`,
		"INSERT INTO letters SELECT seq, CONCAT('person', seq, '@real.example') FROM seq_1_to_60")
	src := mysql.New(engine.Target{Database: "crm", Host: s.Host, Port: s.Port}, []string{"cache"}, mysql.Options{})
	samples, err := src.Survey(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	y := string(sanitise.Suggest(samples, false, time.Now()).YAML(""))
	for _, want := range []string{"  letters:\n    id: keep\n    sent_to: email", "  people:\n    id: keep\n    contact: email  # sampled values were e-mail addresses (50 of 50)\n    notes: name", "    joined: keep"} {
		if !strings.Contains(y, want) {
			t.Errorf("rule set lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "cache") || strings.Contains(y, "  v:") || strings.Contains(y, "real.example") {
		t.Errorf("rule set names an excluded table, a view or a value:\n%s", y)
	}
	p := plan(t, y)
	var data bytes.Buffer
	if _, err := src.Dump(ctx, &data); err != nil {
		t.Fatal(err)
	}
	dst := mysql.New(engine.Target{Database: "dst", Host: s.Host, Port: s.Port}, nil, mysql.Options{})
	if _, err := dst.RestorePlan(ctx, &data, "dst_envsync_1", dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	var joined int
	open(t, s, "dst_envsync_1").QueryRow("SELECT COUNT(*) FROM letters l JOIN people p ON p.contact = l.sent_to WHERE p.contact LIKE 'anonymous-%'").Scan(&joined)
	if joined != 60 {
		t.Errorf("%d letters joined to their pseudonymous person; want 60", joined)
	}
}
