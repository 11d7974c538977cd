package postgres

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv"
)

// newDatabase creates database name on srv and connects to it, closed
// when the test ends.
func newDatabase(t testing.TB, srv *pgserver.Server, name string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	admin, err := srv.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		t.Fatal(err)
	}
	conn, err := srv.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgDump runs srv's pg_dump of db with args and returns what it wrote.
func pgDump(t testing.TB, srv *pgserver.Server, db string, args ...string) []byte {
	t.Helper()
	args = append(args, "-h", srv.Host, "-p", strconv.Itoa(srv.Port), "-U", srv.User, db)
	out, err := exec.Command(filepath.Join(srv.BinDir, "pg_dump"), args...).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return out
}

// loadInto creates database name and runs sql through a loader in writes
// of chunk bytes, returning the loader's verdict.
func loadInto(t *testing.T, srv *pgserver.Server, name string, sql []byte, chunk int) (*pgx.Conn, error) {
	t.Helper()
	conn, _, err := loadCounting(t, srv, name, sql, chunk)
	return conn, err
}

// loadCounting is loadInto, also returning the rows the loader counted.
func loadCounting(t *testing.T, srv *pgserver.Server, name string, sql []byte, chunk int) (*pgx.Conn, map[string]int64, error) {
	t.Helper()
	conn, l, err := loadLanes(t, srv, name, sql, chunk, 1)
	return conn, l.loaded, err
}

// loadLanes is loadInto over up to lanes connections a table, returning
// the loader (its counts, and the lanes each table took).
func loadLanes(t *testing.T, srv *pgserver.Server, name string, sql []byte, chunk, lanes int) (*pgx.Conn, *loader, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := newDatabase(t, srv, name)
	var err error
	l := newLoader(ctx, conn.PgConn()).withLanes(lanes, dialer(ctx, srv, name))
	for p := sql; len(p) > 0 && err == nil; {
		n := min(chunk, len(p))
		if _, err = l.Write(p[:n]); err != nil {
			l.Abort(err)
		}
		p = p[n:]
	}
	if err == nil {
		err = l.Close()
	}
	// A new session: the dump's own settings (an empty search_path) stay
	// with the loader's.
	fresh, cerr := srv.Connect(context.Background(), name)
	if cerr != nil {
		t.Fatal(cerr)
	}
	t.Cleanup(func() { fresh.Close(context.Background()) })
	return fresh, l, err
}

// execAll runs each statement on conn, failing the test at the first
// that fails.
func execAll(t testing.TB, conn *pgx.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// dialer opens the extra lanes of a loader into database name.
func dialer(ctx context.Context, srv *pgserver.Server, name string) func() (*pgconn.PgConn, error) {
	return func() (*pgconn.PgConn, error) {
		c, err := srv.Connect(ctx, name)
		if err != nil {
			return nil, err
		}
		return c.PgConn(), nil
	}
}

// idRows is n rows of COPY text of one integer column, from, from+1, ...
func idRows(n, from int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strconv.Itoa(from+i) + "\n")
	}
	return b.String()
}

// The rows the loader counts from the server's replies to COPY are what a
// count of the copy finds, table by table, under the names the dump's
// counts use: quoted names with spaces and brackets, an empty table, a
// table of another schema.
func TestLoaderCountsTheRowsTheServerTook(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	origin := newDatabase(t, srv, "origin")
	execAll(t, origin,
		`CREATE TABLE plain (id int)`,
		`INSERT INTO plain SELECT generate_series(1, 1500)`,
		`CREATE SCHEMA "My Schema"`,
		`CREATE TABLE "My Schema"."odd (name)" (id int, "a b" text)`,
		`INSERT INTO "My Schema"."odd (name)" SELECT i, 'x' FROM generate_series(1, 37) i`,
		`CREATE TABLE empty (id int)`,
	)
	conn, loaded, err := loadCounting(t, srv, "copy", pgDump(t, srv, "origin"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	counted, err := countTables(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"public.plain": 1500, "My Schema.odd (name)": 37, "public.empty": 0}
	if fmt.Sprint(counted) != fmt.Sprint(want) {
		t.Fatalf("count(*) of the copy: %v, want %v", counted, want)
	}
	if fmt.Sprint(loaded) != fmt.Sprint(want) {
		t.Errorf("the loader counted %v, a count of the copy %v", loaded, want)
	}
}

// The loader restores what pg_dump wrote, in place of psql, however the
// stream is cut: chunks of one, two and three bytes split every COPY end
// marker, and values that hold backslashes, tabs and newlines, an empty
// table, a function body and a sequence come out as they went in.
func TestLoaderRestoresAPlainDump(t *testing.T) {
	srv := testenv.StartPostgres(t)
	origin := newDatabase(t, srv, "origin")
	execAll(t, origin,
		`CREATE TABLE notes (id serial PRIMARY KEY, body text)`,
		`INSERT INTO notes (body) SELECT '\.' || chr(10) || '\.' || chr(9) || i || chr(92) FROM generate_series(1, 2000) i`,
		`INSERT INTO notes (body) VALUES (NULL), (''), ('\.')`,
		`CREATE TABLE empty (id int)`,
		`CREATE FUNCTION twice(i int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RETURN i * 2;
END;
$$`,
		`COMMENT ON TABLE notes IS E'a comment\n\\unrestrict abc'`,
	)
	sql := pgDump(t, srv, "origin")
	want := snapshotOf(t, origin)
	for _, chunk := range []int{1, 2, 3, 7, 4096, len(sql)} {
		if testing.Short() && chunk < 4 {
			continue
		}
		conn, err := loadInto(t, srv, "copy"+strconv.Itoa(chunk), sql, chunk)
		if err != nil {
			t.Fatalf("chunks of %d: %v", chunk, err)
		}
		if got := snapshotOf(t, conn); got != want {
			t.Errorf("chunks of %d: restored\n%s\nwant\n%s", chunk, got, want)
		}
	}
}

// snapshotOf is what a user would compare: the rows, the comment, the
// function and the sequence's next value.
func snapshotOf(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT string_agg(id || ':' || coalesce(body, '<null>'), '|' ORDER BY id) FROM notes`,
		`SELECT count(*)::text FROM empty`,
		`SELECT twice(21)::text`,
		`SELECT obj_description('notes'::regclass)`,
		`SELECT last_value::text FROM notes_id_seq`,
	} {
		var s string
		if err := conn.QueryRow(context.Background(), q).Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		b.WriteString(s + "\n")
	}
	return b.String()
}

// A row the server refuses stops the load with the server's reason, not a
// hang or a broken pipe; a dump cut inside a COPY and a schema statement
// that fails are errors too, a syntax error naming its line.
func TestLoaderStopsAtTheFirstError(t *testing.T) {
	srv := testenv.StartPostgres(t)
	rows := idRows(200000, 0)
	for _, c := range []struct {
		name, sql, want string
	}{
		{"badrow", "CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n1\nnot a number\n" + rows + "\\.\n", "invalid input syntax for type integer"},
		{"badlate", "CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n" + rows + "x\n\\.\nCREATE INDEX ON t (id);\n", "invalid input syntax for type integer"},
		{"cut", "CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n1\n2\n", "ended inside a COPY"},
		{"schema", "CREATE TABLE t (id int);\nCREATE INDEX ON nosuch (id);\n", `relation "nosuch" does not exist`},
		{"syntax", "CREATE TABLE t (id int);\nCREATE TABEL u (id int);\n", "(at: CREATE TABEL u (id int);)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := loadInto(t, srv, c.name, []byte(c.sql), 64<<10)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("got %v, want an error containing %q", err, c.want)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("the loader hung")
			}
		})
	}
}

// A schema of thousands of tables loads: each batch holds a bounded number
// of objects, so its transaction's locks (several for each table with a
// text column and a key) fit the server's lock table, as psql's statement
// at a time did.
func TestLoaderLoadsThousandsOfTables(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	db := newDatabase(t, srv, "many")
	const tables = 8000
	for from := 1; from <= tables; from += 1000 { // one transaction could not lock them all either
		if _, err := db.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN %d..%d LOOP
  EXECUTE format('CREATE TABLE t%%s (id int PRIMARY KEY, note text)', i);
  EXECUTE format('INSERT INTO t%%s VALUES (1, %%L)', i, 'row of ' || i);
END LOOP; END $$`, from, from+999)); err != nil {
			t.Fatal(err)
		}
	}
	sql := pgDump(t, srv, "many")
	conn, err := loadInto(t, srv, "many_copy", sql, 1<<20)
	if err != nil {
		t.Fatalf("loading %d tables: %v", tables, err)
	}
	var n, rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if n != tables || rows != tables {
		t.Errorf("%d tables and %d indexes restored, want %d of each", n, rows, tables)
	}
}
