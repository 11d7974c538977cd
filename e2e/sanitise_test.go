package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/sanitise"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// people is personal data as a team would have it: users with e-mails,
// names and phones; orders joined to users on a reference that gets hashed;
// access-limited documents to delete; backend URLs to re-point.
type people struct {
	emails, names, phones []string
}

func newPeople() people {
	var p people
	for i := 1; i <= 40; i++ {
		p.emails = append(p.emails, fmt.Sprintf("person%02d.real@gmail.example", i))
		p.names = append(p.names, fmt.Sprintf("Firstname%02d Surname%02d", i, i))
		p.phones = append(p.phones, fmt.Sprintf("07700 9%05d", i))
	}
	return p
}

// sqlSetup creates the tables (PostgreSQL and MySQL share the SQL).
func (p people) sqlSetup() []string {
	stmts := []string{
		"CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(100), name VARCHAR(100), phone VARCHAR(30), ref VARCHAR(80), bio TEXT)",
		"CREATE TABLE orders (id INT PRIMARY KEY, user_ref VARCHAR(80), total DECIMAL(10,2))",
		"CREATE TABLE documents (id INT PRIMARY KEY, title VARCHAR(100), access_limited BOOLEAN)",
		"CREATE TABLE backends (id INT PRIMARY KEY, url VARCHAR(200))",
	}
	for i := range p.emails {
		ref := fmt.Sprintf("REF-%04d", i+1)
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO users VALUES (%d, '%s', '%s', '%s', '%s', 'Call me on %s or write to %s')", i+1, p.emails[i], p.names[i], p.phones[i], ref, p.phones[i], p.emails[i]),
			fmt.Sprintf("INSERT INTO orders VALUES (%d, '%s', %d.50), (%d, '%s', 1.00)", 2*i+1, ref, i, 2*i+2, ref),
			fmt.Sprintf("INSERT INTO documents VALUES (%d, 'Document %d', %v)", i+1, i+1, i%4 == 0))
	}
	stmts = append(stmts, "INSERT INTO backends VALUES (1, 'https://www.gov.uk/api'), (2, 'https://assets.publishing.service.gov.uk/x')")
	return stmts
}

const sqlRules = `
tables:
  users:
    id: keep
    email: email
    name: lorem
    phone: null
    ref: hash
    bio: {redact: '[^ ]+@[^ ]+|07700 9[0-9]+'}
  orders:
    id: keep
    user_ref: hash
    total: keep
  documents:
    id: keep
    title: keep
    access_limited: keep
    delete_where: access_limited = true
  backends:
    id: keep
    url: {rewrite: {from: "https://www.gov.uk", to: "https://www.staging.publishing.service.gov.uk"}}
verify:
  - SELECT id FROM users WHERE email NOT LIKE 'anonymous-%@example.com'
  - SELECT id FROM users WHERE phone IS NOT NULL
`

// beforeUploadRules is sqlRules without what needs a database (verify
// queries): a before_upload push sanitises the dump as it is taken.
var beforeUploadRules = sqlRules[:strings.Index(sqlRules, "verify:")]

// tableReport is a stream report's counts for table, however the engine
// names it (public.users, users).
func tableReport(s *activities.SanitiseResult, table string) sanitise.TableReport {
	if s != nil {
		for name, r := range s.Tables {
			if name == table || strings.HasSuffix(name, "."+table) {
				return *r
			}
		}
	}
	return sanitise.TableReport{}
}

func writeRules(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// secrets are every original personal value.
func (p people) secrets() []string {
	return append(append(append([]string{}, p.emails...), p.names...), p.phones...)
}

// scanSQL reads every column of every row of db as text and reports any
// original personal value (or a fragment of one) found.
func scanSQL(t *testing.T, conn *sql.DB, tables []string, secrets []string) {
	t.Helper()
	for _, tbl := range tables {
		rows, err := conn.Query("SELECT * FROM " + tbl)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			for _, v := range vals {
				for _, s := range secrets {
					if strings.Contains(v.String, s) || strings.Contains(v.String, strings.Split(s, " ")[0]) {
						t.Errorf("%s still holds %q", tbl, s)
					}
				}
			}
		}
		rows.Close()
	}
}

// checkSanitised asserts what a user of the staging copy would notice.
func checkSanitised(t *testing.T, conn *sql.DB, p people, sourceJoin int) {
	t.Helper()
	scanSQL(t, conn, []string{"users", "orders", "documents", "backends"}, p.secrets())
	var join, docs, distinct int
	var url string
	conn.QueryRow("SELECT COUNT(*) FROM users u JOIN orders o ON o.user_ref = u.ref").Scan(&join)
	conn.QueryRow("SELECT COUNT(*) FROM documents").Scan(&docs)
	conn.QueryRow("SELECT COUNT(DISTINCT email) FROM users").Scan(&distinct)
	conn.QueryRow("SELECT url FROM backends WHERE id = 1").Scan(&url)
	if join != sourceJoin || docs != 30 || distinct != 40 || url != "https://www.staging.publishing.service.gov.uk/api" {
		t.Errorf("join %d (source %d), documents %d (want 30), distinct emails %d (want 40), url %q", join, sourceJoin, docs, distinct, url)
	}
}

func TestSanitisePullPostgresAndMariaDB(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	e := newEnv(t, false)
	e.mdb = testenv.StartMariaDB(t)
	p := newPeople()
	rules := writeRules(t, sqlRules)

	for _, dbms := range []string{"postgresql", "mysql"} {
		t.Run(dbms, func(t *testing.T) {
			var conn func(db string) *sql.DB
			host := e.pg.Addr()
			if dbms == "postgresql" {
				conn = func(db string) *sql.DB {
					c, err := sql.Open("pgx", e.pg.URL(db))
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close() })
					return c
				}
				e.exec("postgres", "CREATE DATABASE people", "CREATE DATABASE people_staging")
				e.exec("people", p.sqlSetup()...)
			} else {
				host = e.mdb.Addr()
				conn = func(db string) *sql.DB { return e.mysql(t, db) }
				mustExec(t, e.mysql(t, ""), "CREATE DATABASE people", "CREATE DATABASE people_staging")
				mustExec(t, e.mysql(t, "people"), p.sqlSetup()...)
			}
			var sourceJoin int
			conn("people").QueryRow("SELECT COUNT(*) FROM users u JOIN orders o ON o.user_ref = u.ref").Scan(&sourceJoin)

			push := e.task(config.ActionPush, "people", "file")
			push.DBMS, push.DatabaseHostname, push.Path = dbms, host, dbms
			e.mustRunT(t, starter.Request{Task: push})

			pull := push
			pull.Name, pull.Action, pull.Database, pull.SourceDatabase, pull.SanitiseRules = "pull_people", config.ActionPull, "people_staging", "people", rules
			if err := pull.LoadRules("test"); err != nil {
				t.Fatal(err)
			}
			out := e.mustRunT(t, starter.Request{Task: pull})
			s := out.Pull.Sanitised
			if s == nil || s.Verified != 2 || tableReport(s, "documents").Filtered != 10 || tableReport(s, "users").Transformed != 40 ||
				tableReport(s, "documents").Scanned != 90 {
				t.Errorf("sanitise report %+v, users %+v, documents %+v", s, tableReport(s, "users"), tableReport(s, "documents"))
			}
			if v := out.Pull.Verified; v == nil || v.Filtered != 10 {
				t.Errorf("verify %+v; want the 10 filtered rows accounted for", v)
			} else if v.AsLoaded != (dbms == "postgresql") {
				// PostgreSQL's loader counts the rows the server took, so
				// the copy is not read again; MySQL's copy is counted.
				t.Errorf("verify %+v: as loaded %v, want %v for %s", v, v.AsLoaded, dbms == "postgresql", dbms)
			}
			checkSanitised(t, conn("people_staging"), p, sourceJoin)

			// A rule for a missing column, and a verify that finds a row:
			// the run fails naming the rule; the live target stays as it was.
			before := fmt.Sprint(countRows(t, conn("people_staging")))
			for body, want := range map[string]string{
				"unlisted: keep\ntables:\n  users:\n    shoe_size: null\n":                         "users.shoe_size: no such column",
				"unlisted: keep\nverify:\n  - SELECT id FROM backends WHERE url LIKE '%gov.uk%'\n": "verify[0] found 2 rows",
				"tables:\n  users:\n    email: email\n":                                            "does not name",
			} {
				bad := pull
				bad.SanitiseRules = writeRules(t, body)
				if err := bad.LoadRules("test"); err != nil {
					t.Fatal(err)
				}
				_, err := e.run(starter.Request{Task: bad})
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "untouched") {
					t.Errorf("error = %v; want %q", err, want)
				}
				if after := fmt.Sprint(countRows(t, conn("people_staging"))); after != before {
					t.Errorf("live target changed by a failed sanitise: %s -> %s", before, after)
				}
			}
			if dbms == "postgresql" {
				if left := e.stagingLeft(); len(left) != 0 {
					t.Errorf("staging copies left: %v", left)
				}
			}
		})
	}
}

// countRows digests every row of the four tables, in id order: a changed,
// added or removed value changes it.
func countRows(t *testing.T, c *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tbl := range []string{"users", "orders", "documents", "backends"} {
		rows, err := c.Query("SELECT * FROM " + tbl + " ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var b strings.Builder
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			fmt.Fprintln(&b, vals)
		}
		rows.Close()
		out[tbl] = b.String()
	}
	return out
}

// before_upload: only the sanitised dump leaves the production host, under
// its own prefix, and its manifest names the rule set; a pull that
// requires sanitised dumps takes it and refuses a raw one.
func TestSanitiseBeforeUpload(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	e := newEnvWith(t, false, worker.Options{Activities: activities.Config{}})
	p := newPeople()
	e.exec("postgres", "CREATE DATABASE people", "CREATE DATABASE people_staging")
	e.exec("people", p.sqlSetup()...)
	before := e.snapshot("people")

	push := e.task(config.ActionPush, "people", "file")
	push.SanitiseRules, push.Sanitise, push.SanitisedPath = writeRules(t, beforeUploadRules), config.SanitiseBeforeUpload, "postgresql-sanitised"
	if err := push.LoadRules("test"); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun(starter.Request{Task: push}).Push
	if !strings.HasPrefix(out.Key, "postgresql-sanitised/") || out.Sanitised == nil || out.Sanitised.RulesSHA256 != push.SanitiseSHA256 {
		t.Fatalf("push result %+v", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.fileDir, "postgresql")); len(entries) != 0 {
		t.Errorf("raw dumps uploaded: %v", entries)
	}
	raw, _ := os.ReadFile(filepath.Join(e.fileDir, out.Key))
	zr, err := dump.NewReader(bytes.NewReader(raw), out.Compression)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	for _, s := range p.secrets() {
		if bytes.Contains(plain, []byte(s)) {
			t.Errorf("the uploaded dump holds %q", s)
		}
	}
	m, err := dump.UnmarshalManifest(dump.ManifestKey(out.Key), mustRead(t, filepath.Join(e.fileDir, dump.ManifestKey(out.Key))))
	if err != nil || m.Sanitised == nil || !m.Sanitised.Verified || m.Sanitised.RulesSHA256 != push.SanitiseSHA256 {
		t.Errorf("manifest %+v %v", m.Sanitised, err)
	}
	if after := e.snapshot("people"); after != before {
		t.Error("production changed by a before_upload push")
	}
	if left := e.stagingLeft(); len(left) != 0 {
		t.Errorf("scratch copies left: %v", left)
	}

	pull := e.task(config.ActionPull, "people_staging", "file")
	pull.SourceDatabase, pull.Path, pull.RequireSanitised = "people", "postgresql-sanitised", true
	e.mustRun(starter.Request{Task: pull})
	var n int
	e.conn("people_staging").QueryRow(context.Background(), "SELECT count(*) FROM users WHERE email LIKE 'anonymous-%@example.com'").Scan(&n)
	if n != 40 {
		t.Errorf("staging has %d anonymised users, want 40", n)
	}
	rawPush := e.task(config.ActionPush, "people", "file")
	e.mustRun(starter.Request{Task: rawPush})
	pull.Path = "postgresql"
	if _, err := e.run(starter.Request{Task: pull}); err == nil || !strings.Contains(err.Error(), "was not sanitised before upload") {
		t.Errorf("require_sanitised took a raw dump: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MongoDB: the same for documents with nested fields, a delete filter, an
// update operation and a verify filter.
func TestSanitisePullMongo(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	e := newEnv(t, false)
	e.mongo = testenv.StartMongo(t)
	ctx := context.Background()
	c := e.mongoClient(t)
	p := newPeople()
	var users, orders []any
	for i := range p.emails {
		ref := fmt.Sprintf("REF-%04d", i+1)
		users = append(users, bson.D{{Key: "_id", Value: i + 1}, {Key: "ref", Value: ref}, {Key: "limited", Value: i%4 == 0},
			{Key: "profile", Value: bson.D{{Key: "email", Value: p.emails[i]}, {Key: "name", Value: p.names[i]}, {Key: "phone", Value: p.phones[i]}}},
			{Key: "homepage", Value: "https://www.gov.uk/people/" + ref}})
		orders = append(orders, bson.D{{Key: "_id", Value: i + 1}, {Key: "user_ref", Value: ref}})
	}
	c.Database("crm").Collection("users").InsertMany(ctx, users)
	c.Database("crm").Collection("orders").InsertMany(ctx, orders)
	rules := writeRules(t, `
collections:
  users:
    _id: keep
    limited: keep
    profile.email: email
    profile.name: lorem
    profile.phone: null
    ref: hash
    homepage: {rewrite: {from: "https://www.gov.uk", to: "https://www.staging.gov.uk"}}
    delete_where: {limited: true}
  orders:
    _id: keep
    user_ref: hash
mongo_updates:
  - {collection: users, filter: {}, update: {$set: {reviewed: false}}}
verify:
  - {collection: users, filter: {profile.phone: {$ne: null}}}
`)
	push := e.task(config.ActionPush, "crm", "file")
	push.DBMS, push.DatabaseHostname, push.Path = "mongo", e.mongo.Addr, "mongo"
	e.mustRun(starter.Request{Task: push})
	pull := push
	pull.Name, pull.Action, pull.Database, pull.SourceDatabase, pull.SanitiseRules = "pull_crm", config.ActionPull, "crm_staging", "crm", rules
	if err := pull.LoadRules("test"); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun(starter.Request{Task: pull})
	if s := out.Pull.Sanitised; s == nil || s.Rows["users.delete_where"] != 10 || s.Verified != 1 || tableReport(s, "users").Transformed != 40 {
		t.Errorf("report %+v", s)
	}
	staging := c.Database("crm_staging")
	for _, coll := range []string{"users", "orders"} {
		cur, err := staging.Collection(coll).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			doc := cur.Current.String()
			for _, s := range p.secrets() {
				if strings.Contains(doc, s) {
					t.Errorf("%s still holds %q", coll, s)
				}
			}
		}
		cur.Close(ctx)
	}
	n, _ := staging.Collection("users").CountDocuments(ctx, bson.D{})
	var u struct {
		Ref      string `bson:"ref"`
		Homepage string `bson:"homepage"`
		Reviewed *bool  `bson:"reviewed"`
		Profile  struct {
			Email string `bson:"email"`
		} `bson:"profile"`
	}
	staging.Collection("users").FindOne(ctx, bson.D{{Key: "_id", Value: 2}}).Decode(&u)
	joined, _ := staging.Collection("orders").CountDocuments(ctx, bson.D{{Key: "user_ref", Value: u.Ref}})
	if n != 30 || joined != 1 || !strings.HasPrefix(u.Homepage, "https://www.staging.gov.uk/") || !strings.HasPrefix(u.Profile.Email, "anonymous-") ||
		u.Reviewed == nil {
		t.Errorf("users %d, join %d, user %+v", n, joined, u)
	}
}

// before_upload on MariaDB: the scratch schema is sanitised and dumped, and
// only that dump is uploaded.
func TestSanitiseBeforeUploadMariaDB(t *testing.T) {
	t.Setenv("ENVSYNC_HASH_KEY", "a-test-key-of-some-length")
	e := newEnv(t, false)
	e.mdb = testenv.StartMariaDB(t)
	p := newPeople()
	mustExec(t, e.mysql(t, ""), "CREATE DATABASE people")
	mustExec(t, e.mysql(t, "people"), p.sqlSetup()...)
	before := fmt.Sprint(countRows(t, e.mysql(t, "people")))

	push := e.task(config.ActionPush, "people", "file")
	push.DBMS, push.DatabaseHostname, push.Path = "mysql", e.mdb.Addr(), "mysql"
	push.SanitiseRules, push.Sanitise, push.SanitisedPath = writeRules(t, beforeUploadRules), config.SanitiseBeforeUpload, "mysql-sanitised"
	if err := push.LoadRules("test"); err != nil {
		t.Fatal(err)
	}
	out := e.mustRun(starter.Request{Task: push}).Push
	if !strings.HasPrefix(out.Key, "mysql-sanitised/") || out.Sanitised == nil {
		t.Fatalf("push result %+v", out)
	}
	zr, err := dump.NewReader(bytes.NewReader(mustRead(t, filepath.Join(e.fileDir, out.Key))), out.Compression)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if bytes.Count(plain, []byte("@example.com")) < 40 {
		t.Error("the uploaded dump does not hold the sanitised users")
	}
	for _, s := range p.secrets() {
		if bytes.Contains(plain, []byte(s)) {
			t.Errorf("the uploaded dump holds %q", s)
		}
	}
	if after := fmt.Sprint(countRows(t, e.mysql(t, "people"))); after != before {
		t.Error("production changed by a before_upload push")
	}
	var left int
	e.mysql(t, "").QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_envsync\\_%'").Scan(&left)
	if left != 0 {
		t.Errorf("%d scratch schemas left", left)
	}
}
