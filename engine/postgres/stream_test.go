package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/engine/sanitise/sanitisetest"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
)

const testKey = "a-test-key-of-some-length"

// plan parses rules and starts a plan over them.
func plan(t *testing.T, rules string) *sanitise.Plan {
	t.Helper()
	r, err := sanitise.Parse("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sanitise.NewPlan(r, testKey, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dumpOf dumps database db of srv.
func dumpOf(t *testing.T, srv *pgserver.Server, db string) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := postgres.New(engine.Target{Database: db, Host: srv.Host, Port: srv.Port}, postgres.Options{}).Dump(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func rowsOf(t *testing.T, conn *pgx.Conn, q string) [][]*string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]*string, error) {
		vals := make([]*string, len(r.FieldDescriptions()))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, r.Scan(ptrs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noStaging fails the test if a failed restore left its staging database.
func noStaging(t *testing.T, srv *pgserver.Server, staging string) {
	t.Helper()
	var n int
	_ = adminConn(t, srv).QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", staging).Scan(&n)
	if n != 0 {
		t.Error("the failed restore left its staging database")
	}
}

const peopleRules = `
tables:
  people:
    id: keep
    email: email
    name: {name: full}
    phone: phone
    postcode: postcode
    short: email
    notes: {redact: pseudonyms}
    joined: {date_shift: {days: 10}}
    delete_where: joined older than 20y
  subscriptions:
    id: keep
    address: email
    topic: keep
`

// A pull through a plan writes only transformed values: e-mail addresses,
// names, phones and postcodes in their own formats, the same pseudonym
// for the same address in two tables (so the join still matches), free
// text quoting an address rewritten with that address's pseudonym, dates
// shifted, rows older than the filter left out, a varchar(16) never
// overflowed, and the counts of what happened.
func TestRestoreThroughAPlan(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "people_src")
	if _, err := src.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS citext`); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(ctx, `
		CREATE TABLE people (id int PRIMARY KEY, email text, name text, phone varchar(20), postcode text, short varchar(16),
			notes text, joined date);
		CREATE TABLE subscriptions (id int PRIMARY KEY, address citext, topic text);
		INSERT INTO people SELECT i, 'Person' || i || '@Real.example', 'Jane Doe ' || i, '07700 900' || lpad(i::text, 3, '0'),
			'SW1A ' || (i % 9) || 'AA', 'p' || i || '@x.ex', E'write to person' || i || E'@real.example please\ttab', DATE '2020-01-01' + i
			FROM generate_series(1, 200) i;
		INSERT INTO people VALUES (201, 'old@real.example', 'Old Timer', NULL, NULL, NULL, NULL, DATE '1990-01-01');
		INSERT INTO subscriptions SELECT i, 'person' || i || '@real.example', 'topic ' || i FROM generate_series(1, 200) i;`); err != nil {
		t.Fatal(err)
	}
	data := dumpOf(t, srv, "people_src")
	p := plan(t, peopleRules)
	const staging = "people" + engine.StagingMarker + "1"
	e := postgres.New(engine.Target{Database: "people", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	if _, err := e.RestorePlan(ctx, bytes.NewReader(data), staging, dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	got := rowsOf(t, conn, "SELECT id, email, name, phone, postcode, short, notes, joined::text FROM people ORDER BY id")
	if len(got) != 200 {
		t.Fatalf("%d people restored, want 200 (the one joined before 2006 filtered out)", len(got))
	}
	for _, r := range got {
		id, email, name, phone, postcode, short, notes, joined := *r[0], *r[1], *r[2], *r[3], *r[4], *r[5], *r[6], *r[7]
		if strings.Contains(strings.ToLower(email), "real.example") || !strings.HasPrefix(email, "anonymous-") || !strings.HasSuffix(email, "@example.com") {
			t.Fatalf("row %s: email %q", id, email)
		}
		if strings.Contains(name, "Doe") || !strings.Contains(name, " ") {
			t.Errorf("row %s: name %q", id, name)
		}
		if len(phone) != len("07700 900001") || !strings.HasPrefix(phone, "0") || phone[5] != ' ' || strings.HasPrefix(phone, "07700 900") {
			t.Errorf("row %s: phone %q", id, phone)
		}
		if len(postcode) != 7 || postcode[3] != ' ' || strings.HasPrefix(postcode, "SW1A") {
			t.Errorf("row %s: postcode %q", id, postcode)
		}
		if len(short) > 16 || !strings.HasSuffix(short, "@example.com") {
			t.Errorf("row %s: %q overflows varchar(16) or is no address", id, short)
		}
		if strings.Contains(notes, "real.example") || !strings.Contains(notes, "\ttab") || !strings.Contains(notes, "please") {
			t.Errorf("row %s: notes %q", id, notes)
		}
		if joined == "" || strings.HasPrefix(joined, "1990") {
			t.Errorf("row %s: joined %q", id, joined)
		}
	}
	var joinedUp int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM people p JOIN subscriptions s ON lower(p.email) = lower(s.address::text)").Scan(&joinedUp); err != nil || joinedUp != 200 {
		t.Errorf("%d people join their subscriptions by pseudonymous address (%v), want 200", joinedUp, err)
	}
	var quoted int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM people p WHERE p.notes LIKE '%' || p.email || '%'").Scan(&quoted); err != nil || quoted != 200 {
		t.Errorf("%d notes quote their person's pseudonymous address (%v), want 200", quoted, err)
	}
	rep := p.Report().Tables["public.people"]
	if rep == nil || rep.Rows != 201 || rep.Filtered != 1 || rep.Transformed != 200 || rep.Scanned != 200 {
		t.Errorf("report %+v; want 201 rows, 1 filtered, 200 transformed, 200 scanned", rep)
	}

	// The same rules over the same dump give the same values (another run).
	p2 := plan(t, peopleRules)
	const again = "people" + engine.StagingMarker + "2"
	if _, err := e.RestorePlan(ctx, bytes.NewReader(data), again, dump.Origin{}, p2); err != nil {
		t.Fatal(err)
	}
	conn2, err := srv.Connect(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(ctx)
	if a, b := texts(got), texts(rowsOf(t, conn2, "SELECT id, email, name, phone, postcode, short, notes, joined::text FROM people ORDER BY id")); a != b {
		t.Error("a second run gave other values")
	}
}

// A column or table the rule set does not name fails the restore before a
// row is written, naming every one of them; unlisted: keep lets them
// through. A personal value in a kept column fails naming table, column,
// kind and count, unless its rule allows the kind.
func TestPlanFailsClosed(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "closed_src")
	if _, err := src.Exec(ctx, `
		CREATE TABLE people (id int PRIMARY KEY, email text, ni_number text, contact text);
		CREATE TABLE extra (id int);
		INSERT INTO people SELECT i, 'p' || i || '@real.example', 'QQ1234' || lpad(i::text, 2, '0') || 'C', 'support@service.example' FROM generate_series(1, 30) i;`); err != nil {
		t.Fatal(err)
	}
	data := dumpOf(t, srv, "closed_src")
	e := postgres.New(engine.Target{Database: "closed", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	const staging = "closed" + engine.StagingMarker + "1"
	for name, tc := range map[string]struct{ rules, want string }{
		"unlisted": {"tables:\n  people:\n    id: keep\n    email: email\n",
			"does not name extra (the whole table), people.ni_number, people.contact"},
		"personal data kept": {"tables:\n  people:\n    id: keep\n    email: keep\n    ni_number: digits\n    contact: keep\n  extra: empty\n",
			"public.people.contact: email in 30 values; public.people.email: email in 30 values"},
		"no such column": {"unlisted: keep\ntables:\n  people:\n    shoe_size: null\n", "public.people.shoe_size: no such column in the dump"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.RestorePlan(ctx, bytes.NewReader(data), staging, dump.Origin{}, plan(t, tc.rules))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want it to name %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "real.example") || strings.Contains(err.Error(), "QQ1234") {
				t.Errorf("a value in the error: %v", err)
			}
			noStaging(t, srv, staging)
		})
	}
	// Allowed: the public address; and with unlisted: keep, the rest.
	ok := "unlisted: keep\ntables:\n  people:\n    email: email\n    ni_number: digits\n    contact: {keep: {allow: [email]}}\n"
	if _, err := e.RestorePlan(ctx, bytes.NewReader(data), staging, dump.Origin{}, plan(t, ok)); err != nil {
		t.Fatalf("allowed kind and unlisted: keep: %v", err)
	}
}

// A database with a large object (whose bytes no rule can name) fails a
// pull through rules before anything is swapped in, naming large objects;
// unlisted: keep lets it through as it is.
func TestPlanRefusesLargeObjects(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "lo_src")
	if _, err := src.Exec(ctx, `
		CREATE TABLE people (id int PRIMARY KEY, email text);
		INSERT INTO people VALUES (1, 'jo@real.example');
		SELECT lo_from_bytea(0, convert_to('jo@real.example, 07700 900123', 'UTF8'));`); err != nil {
		t.Fatal(err)
	}
	data := dumpOf(t, srv, "lo_src")
	e := postgres.New(engine.Target{Database: "lo", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	const staging = "lo" + engine.StagingMarker + "1"
	rules := "tables:\n  people:\n    id: keep\n    email: email\n"
	_, err := e.RestorePlan(ctx, bytes.NewReader(data), staging, dump.Origin{}, plan(t, rules))
	if err == nil || !strings.Contains(err.Error(), "large objects (pg_largeobject)") || strings.Contains(err.Error(), "real.example") {
		t.Fatalf("error %v; want it to name the large objects and no value", err)
	}
	noStaging(t, srv, staging)
	if _, err := e.RestorePlan(ctx, bytes.NewReader(data), staging, dump.Origin{}, plan(t, "unlisted: keep\n"+rules)); err != nil {
		t.Fatalf("with unlisted: keep: %v", err)
	}
	conn, err := srv.Connect(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_largeobject_metadata").Scan(&n); err != nil || n != 1 {
		t.Fatalf("large objects in the copy kept through unlisted: keep: %d, %v", n, err)
	}
}

// Fixed, rewrite and redact values that read like SQL, quotes, $1,
// backslashes or LIKE wildcards reach the staging copy byte for byte when
// applied in the stream too.
func TestPlanWritesValuesVerbatim(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "awk_src")
	cols := sanitisetest.Columns()
	if _, err := src.Exec(ctx, "CREATE TABLE "+sanitisetest.Table+" (id int PRIMARY KEY, "+strings.Join(cols, " text, ")+" text)"); err != nil {
		t.Fatal(err)
	}
	for i, row := range sanitisetest.Before() {
		args := []any{i}
		params := []string{"$1"}
		for j, v := range row {
			args = append(args, v)
			params = append(params, fmt.Sprintf("$%d", j+2))
		}
		if _, err := src.Exec(ctx, "INSERT INTO "+sanitisetest.Table+" VALUES ("+strings.Join(params, ", ")+")", args...); err != nil {
			t.Fatal(err)
		}
	}
	rules := sanitisetest.Rules(t, "tables")
	rules.Unlisted = sanitise.UnlistedKeep // id
	p, err := sanitise.NewPlan(rules, testKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const staging = "awk" + engine.StagingMarker + "1"
	e := postgres.New(engine.Target{Database: "awk", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	if _, err := e.RestorePlan(ctx, bytes.NewReader(dumpOf(t, srv, "awk_src")), staging, dump.Origin{}, p); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var got [][]string
	for _, r := range rowsOf(t, conn, "SELECT "+strings.Join(cols, ", ")+" FROM "+sanitisetest.Table+" ORDER BY id") {
		var row []string
		for _, v := range r {
			row = append(row, *v)
		}
		got = append(got, row)
	}
	sanitisetest.Compare(t, got)
}

// texts is rows as one string, NULLs shown.
func texts(rows [][]*string) string {
	var b strings.Builder
	for _, r := range rows {
		for _, v := range r {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				b.WriteString(*v + "|")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// A before_upload dump is plain SQL, sanitised as it was taken; a pull of
// it with restore_jobs (from a file, as a parallel restore would) loads it
// with psql and says that restore_jobs did not apply.
func TestSanitisedPlainDumpRestoresFromAFile(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "plain_src")
	if _, err := src.Exec(ctx, `CREATE TABLE people (id int PRIMARY KEY, email text);
		INSERT INTO people SELECT i, 'person' || i || '@real.example' FROM generate_series(1, 50) i`); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	e := postgres.New(engine.Target{Database: "plain_src", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	if _, err := e.DumpPlan(ctx, &b, plan(t, "tables:\n  people:\n    id: keep\n    email: email\n")); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/dump.sql"
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := postgres.New(engine.Target{Database: "plain_dst", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	notes, err := dst.RestoreFile(ctx, path, "plain_dst_envsync_1", dump.Origin{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "restore_jobs does not apply") {
		t.Errorf("notes %v: want it said that restore_jobs did not apply", notes)
	}
	conn, err := srv.Connect(ctx, "plain_dst_envsync_1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if got := texts(rowsOf(t, conn, "SELECT count(*) FROM people WHERE email LIKE 'anonymous-%@example.com'")); got != "50|\n" {
		t.Errorf("pseudonymous rows: %s; want 50", got)
	}
}
