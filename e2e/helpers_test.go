// Package e2e drives envsync end to end against real servers on loopback:
// Temporal (temporaltest), PostgreSQL 15 (Debian's binaries), versitygw (S3)
// and the built envsync binary.
package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/internal/testenv/esdouble"
	"github.com/envsync/envsync/internal/testenv/mysqlserver"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
	"github.com/envsync/envsync/workflows"
)

const bucket = "envsync-dumps"

// env is one test's servers.
type env struct {
	t        *testing.T
	temporal *testenv.Temporal
	pg       *pgserver.Server
	mdb      *mysqlserver.Server
	sshd     *testenv.SSHD
	mongo    *testenv.Mongo
	es       map[string][2]*esdouble.Double // backend -> source, target cluster
	esWant   map[string]map[string]string   // backend -> documents pushed
	s3       *testenv.S3
	worker   activities.Config
	fileDir  string
}

func newEnv(t *testing.T, withS3 bool) *env {
	t.Helper()
	return newEnvWith(t, withS3, worker.Options{})
}

// newEnvWith starts the servers and a worker with o's monitoring, hooks
// and chaining settings.
func newEnvWith(t *testing.T, withS3 bool, o worker.Options) *env {
	t.Helper()
	e := &env{t: t, temporal: testenv.StartTemporal(t), pg: testenv.StartPostgres(t), fileDir: t.TempDir()}
	if withS3 {
		e.s3 = testenv.StartS3(t, bucket)
		o.Activities.S3Endpoint = e.s3.Endpoint
	}
	e.worker = e.temporal.StartWorkerWith(t, o)
	return e
}

// task builds a task against this env's PostgreSQL and the given backend.
func (e *env) task(action, database, backend string) config.Task {
	t := config.Task{Name: action + "_" + database, Action: action, DBMS: "postgresql", StorageBackend: backend,
		Database: database, DatabaseHostname: e.pg.Addr(), Path: "postgresql", WorkerHost: testenv.Host}
	switch backend {
	case "s3":
		t.URL = bucket
	case "rsync":
		t.URL, t.Path = e.sshd.Target, strings.TrimPrefix(e.sshd.Root, "/")+"/"+t.Path
	default:
		t.URL = e.fileDir
	}
	return t
}

func (e *env) run(r starter.Request) (starter.Outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if r.Timeouts == (workflows.Timeouts{}) {
		r.Timeouts = workflows.Timeouts{HostWait: 30 * time.Second}
	}
	return starter.Run(ctx, e.temporal.Client, r)
}

func (e *env) mustRun(r starter.Request) starter.Outcome {
	e.t.Helper()
	return e.mustRunT(e.t, r)
}

// mustRunT is mustRun inside a subtest, which must fail itself, not its
// parent.
func (e *env) mustRunT(t *testing.T, r starter.Request) starter.Outcome {
	t.Helper()
	out, err := e.run(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Task.Action, r.Task.Database, err)
	}
	return out
}

func (e *env) conn(db string) *pgx.Conn {
	e.t.Helper()
	c, err := e.pg.Connect(context.Background(), db)
	if err != nil {
		e.t.Fatalf("connect %s: %v", db, err)
	}
	e.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (e *env) exec(db string, sql ...string) {
	e.t.Helper()
	c := e.conn(db)
	for _, s := range sql {
		if _, err := c.Exec(context.Background(), s); err != nil {
			e.t.Fatalf("%s: %s: %v", db, s, err)
		}
	}
}

// richSchema is a database that exercises what a restore must carry:
// schemas, an owner role, jsonb, bytea, arrays, sequences, views,
// functions, triggers and an extension from Debian's contrib (citext).
var richSchema = []string{
	`CREATE EXTENSION citext`,
	`CREATE SCHEMA sales AUTHORIZATION shop_owner`,
	`CREATE TABLE customers (id bigserial PRIMARY KEY, email citext UNIQUE NOT NULL, name text,
		prefs jsonb NOT NULL DEFAULT '{}', avatar bytea, tags text[], created_at timestamptz DEFAULT now())`,
	`CREATE SEQUENCE sales.invoice_no START 1000`,
	`CREATE TABLE sales.orders (id serial PRIMARY KEY, customer_id bigint REFERENCES customers(id),
		invoice int DEFAULT nextval('sales.invoice_no'), lines jsonb, total numeric(12,2), quantities int[], updated_at timestamptz)`,
	`CREATE FUNCTION sales.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated_at := '2026-01-01'; RETURN NEW; END$$`,
	`CREATE TRIGGER orders_touch BEFORE UPDATE ON sales.orders FOR EACH ROW EXECUTE FUNCTION sales.touch()`,
	`CREATE VIEW sales.customer_totals AS SELECT c.email, sum(o.total) AS total FROM customers c JOIN sales.orders o ON o.customer_id = c.id GROUP BY c.email`,
	`CREATE FUNCTION order_count(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM sales.orders WHERE customer_id = $1'`,
	`ALTER TABLE customers OWNER TO shop_owner`,
	`ALTER TABLE sales.orders OWNER TO shop_owner`,
	`ALTER SEQUENCE sales.invoice_no OWNER TO shop_owner`,
	`ALTER VIEW sales.customer_totals OWNER TO shop_owner`,
	`ALTER FUNCTION sales.touch() OWNER TO shop_owner`,
	`INSERT INTO customers (email, name, prefs, avatar, tags)
		SELECT 'User' || i || '@Example.org', 'Name ' || i, jsonb_build_object('lang', 'en', 'n', i, 'nested', jsonb_build_object('a', ARRAY[i, i+1])),
		       decode(md5(i::text), 'hex') || '\x00ff'::bytea, ARRAY['t' || (i % 5), 'x"y,z']
		FROM generate_series(1, 500) i`,
	`INSERT INTO sales.orders (customer_id, lines, total, quantities)
		SELECT 1 + i % 500, jsonb_build_array(jsonb_build_object('sku', 'S' || i, 'q', i % 9)), (i * 1.37)::numeric(12,2), ARRAY[i % 3, i % 7]
		FROM generate_series(1, 2000) i`,
	`UPDATE sales.orders SET total = total + 1 WHERE id % 10 = 0`,
}

func (e *env) createShop(db string) {
	e.t.Helper()
	admin := e.conn("postgres")
	ctx := context.Background()
	var exists bool
	_ = admin.QueryRow(ctx, `SELECT true FROM pg_roles WHERE rolname = 'shop_owner'`).Scan(&exists)
	if !exists {
		e.exec("postgres", `CREATE ROLE shop_owner`)
	}
	e.exec("postgres", "CREATE DATABASE "+db)
	e.exec(db, richSchema...)
}

// schema is pg_dump --schema-only, less comments and the random
// \restrict lines newer pg_dump versions print.
func (e *env) schema(db string) string {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(e.pg.BinDir, "pg_dump"), "--schema-only", "--no-password", "-h", e.pg.Host,
		"-p", fmt.Sprint(e.pg.Port), "-U", e.pg.User, "-d", db)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("pg_dump --schema-only %s: %v: %s", db, err, out)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "--") || strings.HasPrefix(l, `\restrict`) || strings.HasPrefix(l, `\unrestrict`) || l == "" {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// rows digests every user table's rows and every sequence's position.
func (e *env) rows(db string) map[string]string {
	e.t.Helper()
	c := e.conn(db)
	ctx := context.Background()
	out := map[string]string{}
	rs, err := c.Query(ctx, `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	for _, tbl := range tables {
		var n int64
		var digest string
		if err := c.QueryRow(ctx, `SELECT count(*), coalesce(md5(string_agg(x::text, E'\n' ORDER BY x::text)), '') FROM `+tbl+` x`).Scan(&n, &digest); err != nil {
			e.t.Fatal(err)
		}
		out[tbl] = fmt.Sprintf("%d rows %s", n, digest)
	}
	rs, err = c.Query(ctx, `SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) FROM pg_sequences ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	for rs.Next() {
		var name string
		var v int64
		if err := rs.Scan(&name, &v); err != nil {
			e.t.Fatal(err)
		}
		out["sequence "+name] = fmt.Sprint(v)
	}
	return out
}

// snapshot is everything a "left untouched" check compares: the database's
// identity (its OID changes on a swap), its schema and its rows.
func (e *env) snapshot(db string) string {
	e.t.Helper()
	var oid uint32
	if err := e.conn("postgres").QueryRow(context.Background(), `SELECT oid FROM pg_database WHERE datname = $1`, db).Scan(&oid); err != nil {
		e.t.Fatalf("database %s: %v", db, err)
	}
	return fmt.Sprintf("oid %d\n%s\n%v", oid, e.schema(db), e.rows(db))
}

func (e *env) stagingLeft() []string {
	e.t.Helper()
	rs, err := e.conn("postgres").Query(context.Background(), `SELECT datname FROM pg_database WHERE datname LIKE '%\_envsync\_%'`)
	if err != nil {
		e.t.Fatal(err)
	}
	names, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return names
}

func sameRows(t *testing.T, want, got map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("source has no tables: the comparison would prove nothing")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: source %s, copy %s", k, v, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: only in the copy", k)
		}
	}
}

func sleep() { time.Sleep(100 * time.Millisecond) }
