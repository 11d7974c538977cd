package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
)

// markers are in every original personal value of personalSetup, and in
// nothing else: finding one in a file finds an original value.
var markers = []string{"real-person.example", "Realname"}

// personalSetup is 2,000 subscribers with e-mail addresses, names and
// phones, their subscriptions joined on the address, and e-mails quoting
// the address; the same SQL for PostgreSQL and MariaDB.
func personalSetup() []string {
	return []string{
		"CREATE TABLE subscribers (id INT PRIMARY KEY, email VARCHAR(120), name VARCHAR(60), phone VARCHAR(20), created DATE)",
		"CREATE TABLE subscriptions (id INT PRIMARY KEY, address VARCHAR(120), topic VARCHAR(40))",
		"CREATE TABLE emails (id INT PRIMARY KEY, body TEXT)",
		`INSERT INTO subscribers SELECT i, CONCAT('person', i, '@real-person.example'), CONCAT('Realname', i, ' Surname'),
			CONCAT('07700 9', LPAD(i, 5, '0')), '2024-01-01' FROM %[1]s`,
		"INSERT INTO subscriptions SELECT i, CONCAT('person', i, '@real-person.example'), 'topic' FROM %[1]s",
		"INSERT INTO emails SELECT i, CONCAT('Update for person', i, '@real-person.example: your topic changed') FROM %[1]s",
	}
}

const personalRules = `
tables:
  subscribers:
    id: keep
    email: email
    name: name
    phone: phone
    created: {date_shift: {days: 30}}
  subscriptions:
    id: keep
    address: email
    topic: keep
  emails:
    id: keep
    body: {redact: pseudonyms}
`

// After a sanitised pull into a staging server of its own, and a
// checkpoint, no original value of a transformed column is in any file of
// that server's data directory (its tables, WAL, redo log), nor in the
// worker's temp dir: the rows were transformed before they were written.
// The production server's files do hold them: the search can see them.
// The same holds for the object a before_upload push stores.
func TestNoOriginalValueReachesTheStagingServer(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	e := newEnv(t, false)
	e.mdb = testenv.StartMariaDB(t)
	rules := writeRules(t, personalRules)
	var pgRow string

	t.Run("postgresql", func(t *testing.T) {
		staging, err := pgserver.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(staging.Stop)
		e.exec("postgres", "CREATE DATABASE personal")
		for _, s := range personalSetup() {
			e.exec("personal", strings.ReplaceAll(fill(s, "generate_series(1, 2000) i"), "LPAD(i, 5, '0')", "LPAD(i::text, 5, '0')"))
		}
		e.exec("personal", "CHECKPOINT")
		pull := e.pushThenPull(t, "postgresql", e.pg.Addr(), staging.Addr(), rules)
		prod, stag := pgDataDir(t, e.pg), pgDataDir(t, staging)
		conn, err := staging.Connect(context.Background(), "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "CHECKPOINT"); err != nil {
			t.Fatal(err)
		}
		assertMarkers(t, prod, true)
		assertMarkers(t, stag, false)
		assertMarkers(t, e.worker.TempDir, false)
		pgRow = pseudonyms(t, sqlOpen(t, "pgx", staging.URL(pull.Database)))
		checkPersonal(t, sqlOpen(t, "pgx", staging.URL(pull.Database)))
	})

	t.Run("mysql", func(t *testing.T) {
		prodConn := e.mysql(t, "")
		mustExec(t, prodConn, "CREATE DATABASE personal")
		var stmts []string
		for _, s := range personalSetup() {
			stmts = append(stmts, fill(s, "(SELECT seq AS i FROM seq_1_to_2000) g"))
		}
		mustExec(t, e.mysql(t, "personal"), stmts...)
		staging := testenv.StartMariaDB(t)
		pull := e.pushThenPull(t, "mysql", e.mdb.Addr(), staging.Addr(), rules)
		stagConn, err := staging.Open("")
		if err != nil {
			t.Fatal(err)
		}
		defer stagConn.Close()
		for _, c := range []*sql.DB{prodConn, stagConn} {
			mustExec(t, c, "FLUSH TABLES", "SET GLOBAL innodb_max_dirty_pages_pct = 0")
		}
		assertMarkers(t, mysqlDataDir(t, prodConn), true)
		assertMarkers(t, mysqlDataDir(t, stagConn), false)
		c, err := staging.Open(pull.Database)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		checkPersonal(t, c)
		// Keyed, not random: the same subscriber has the same
		// pseudonyms in both engines (and in every run).
		if got := pseudonyms(t, c); pgRow == "" || got != pgRow {
			t.Errorf("subscriber 17 in MariaDB's staging: %q; in PostgreSQL's: %q", got, pgRow)
		}
	})

	t.Run("before_upload", func(t *testing.T) {
		push := e.task(config.ActionPush, "personal", "file")
		push.Path, push.Sanitise, push.SanitisedPath, push.SanitiseRules = "pg-raw", config.SanitiseBeforeUpload, "pg-clean", rules
		if err := push.LoadRules("test"); err != nil {
			t.Fatal(err)
		}
		out := e.mustRunT(t, starter.Request{Task: push}).Push
		zr, err := dump.NewReader(bytes.NewReader(mustRead(t, filepath.Join(e.fileDir, out.Key))), out.Compression)
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		for _, m := range markers {
			if bytes.Contains(plain, []byte(m)) {
				t.Errorf("the before_upload object holds %q", m)
			}
		}
		if !bytes.Contains(plain, []byte("COPY public.subscribers")) || bytes.Count(plain, []byte("@example.com")) < 6000 {
			t.Errorf("the before_upload object is not the sanitised database (%d bytes)", len(plain))
		}
		if _, err := os.Stat(filepath.Join(e.fileDir, "pg-raw")); !os.IsNotExist(err) {
			t.Error("a raw dump was stored")
		}
	})
}

// fill puts the row generator gen into a statement that takes one.
func fill(stmt, gen string) string {
	if strings.Contains(stmt, "%[1]s") {
		return fmt.Sprintf(stmt, gen)
	}
	return stmt
}

// pushThenPull pushes database personal from the server at prodAddr and
// pulls it through rules into personal_staging on the server at
// stagingAddr.
func (e *env) pushThenPull(t *testing.T, dbms, prodAddr, stagingAddr, rules string) config.Task {
	t.Helper()
	push := e.task(config.ActionPush, "personal", "file")
	push.DBMS, push.DatabaseHostname, push.Path = dbms, prodAddr, dbms
	e.mustRunT(t, starter.Request{Task: push})
	pull := push
	pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_personal", config.ActionPull, "personal_staging", "personal"
	pull.DatabaseHostname, pull.SanitiseRules = stagingAddr, rules
	if err := pull.LoadRules("test"); err != nil {
		t.Fatal(err)
	}
	out := e.mustRunT(t, starter.Request{Task: pull})
	if s := out.Pull.Sanitised; s == nil || tableReport(s, "subscribers").Transformed != 2000 || tableReport(s, "emails").Transformed != 2000 {
		t.Errorf("sanitise report %+v", s)
	}
	return pull
}

// pseudonyms is subscriber 17's sanitised e-mail, name, phone and date.
func pseudonyms(t *testing.T, c *sql.DB) string {
	t.Helper()
	var email, name, phone, created string
	if err := c.QueryRow("SELECT email, name, phone, CAST(created AS CHAR(10)) FROM subscribers WHERE id = 17").Scan(&email, &name, &phone, &created); err != nil {
		t.Fatal(err)
	}
	return strings.Join([]string{email, name, phone, created}, " | ")
}

// checkPersonal asserts what a user of the staging copy notices: every
// subscriber there, pseudonymous, still joined to their subscriptions and
// e-mails by the pseudonymous address.
func checkPersonal(t *testing.T, c *sql.DB) {
	t.Helper()
	var subs, joined, quoted int
	c.QueryRow("SELECT COUNT(*) FROM subscribers WHERE email LIKE 'anonymous-%@example.com'").Scan(&subs)
	c.QueryRow("SELECT COUNT(*) FROM subscribers s JOIN subscriptions x ON x.address = s.email").Scan(&joined)
	c.QueryRow("SELECT COUNT(*) FROM subscribers s JOIN emails m ON m.id = s.id WHERE m.body = CONCAT('Update for ', s.email, ': your topic changed')").Scan(&quoted)
	if subs != 2000 || joined != 2000 || quoted != 2000 {
		t.Errorf("pseudonymous subscribers %d, joined to subscriptions %d, quoted in e-mails %d; want 2000 each", subs, joined, quoted)
	}
}

func sqlOpen(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	c, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func pgDataDir(t *testing.T, s *pgserver.Server) string {
	t.Helper()
	conn, err := s.Connect(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var dir string
	if err := conn.QueryRow(context.Background(), "SHOW data_directory").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mysqlDataDir(t *testing.T, c *sql.DB) string {
	t.Helper()
	var dir string
	if err := c.QueryRow("SELECT @@datadir").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// assertMarkers searches every file under dir for the markers of original
// personal values: want says whether they must be there (the production
// server's files, showing the search sees them) or must not.
func assertMarkers(t *testing.T, dir string, want bool) {
	t.Helper()
	found := map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a socket, a file that went away
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				found[strings.TrimPrefix(p, dir)]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case want && len(found) == 0:
		t.Errorf("no file under %s holds an original value: the search cannot see them", dir)
	case !want && len(found) > 0:
		t.Errorf("original personal values in %d files under %s: %v", len(found), dir, found)
	}
}
