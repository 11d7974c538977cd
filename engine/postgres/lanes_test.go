package postgres

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/internal/testenv"
)

// A table larger than spreadAfter loads over every lane, whole: the same
// rows, a row longer than a chunk among them, the rows each lane took
// summed in the counts, its index built after; the next large table gets
// lanes of its own; a small table stays on one.
func TestLoaderSpreadsALargeTable(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	origin := newDatabase(t, srv, "origin")
	execAll(t, origin,
		`CREATE TABLE big (id int PRIMARY KEY, v text)`,
		`INSERT INTO big SELECT i, repeat(md5(i::text), 2) || E'\t\\x' FROM generate_series(1, 300000) i`,
		`INSERT INTO big VALUES (0, repeat('long row ', 400000))`, // 3.6 MB, past the spread
		`INSERT INTO big SELECT i, md5(i::text) FROM generate_series(300001, 400000) i`,
		`CREATE TABLE big2 AS SELECT i AS id, md5(i::text) AS v FROM generate_series(1, 500000) i`,
		`CREATE TABLE small (id int)`,
		`INSERT INTO small SELECT generate_series(1, 50)`,
	)
	const digest = `SELECT count(*) || ':' || sum(id) || ':' || md5(string_agg(v, ',' ORDER BY id)) FROM big`
	var want string
	if err := origin.QueryRow(ctx, digest).Scan(&want); err != nil {
		t.Fatal(err)
	}
	sql := pgDump(t, srv, "origin")
	for _, chunk := range []int{64 << 10, 1<<20 + 7} {
		name := "copy" + strconv.Itoa(chunk)
		conn, l, err := loadLanes(t, srv, name, sql, chunk, 3)
		if err != nil {
			t.Fatalf("writes of %d: %v", chunk, err)
		}
		// Which lanes take the chunks after the spread is the
		// scheduler's choice: more than one, not necessarily all three.
		if l.spreadTo["public.big"] < 2 || l.spreadTo["public.big2"] < 2 || l.spreadTo["public.small"] != 1 {
			t.Errorf("writes of %d: lanes taken %v, want big and big2 over 2 or 3 and small over 1", chunk, l.spreadTo)
		}
		if l.loaded["public.big"] != 400001 || l.loaded["public.big2"] != 500000 || l.loaded["public.small"] != 50 {
			t.Errorf("writes of %d: counted %v", chunk, l.loaded)
		}
		var got string
		if err := conn.QueryRow(ctx, digest).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writes of %d: restored %s, want %s", chunk, got, want)
		}
		var pkey bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_indexes WHERE indexname = 'big_pkey')`).Scan(&pkey); err != nil || !pkey {
			t.Errorf("writes of %d: the primary key was not built after the rows (%v)", chunk, err)
		}
		if note := l.laneNote(); !strings.Contains(note, "public.big, public.big2 loaded over up to ") {
			t.Errorf("note %q does not say the table was spread", note)
		}
	}
}

// Every lane reads its rows under the dump's own session settings: a
// LATIN1 dump loads into a UTF-8 database, the bytes of every lane
// converted (without its SET client_encoding a lane would refuse them).
func TestLanesRunTheDumpsSettings(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	admin, err := srv.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`); err != nil {
		t.Fatal(err)
	}
	// é as chr(233): the character in either database's encoding,
	// whatever the client's.
	const word = `'caf' || chr(233) || ' ' || id || repeat(chr(233), 50)`
	origin, err := srv.Connect(ctx, "latin")
	if err != nil {
		t.Fatal(err)
	}
	defer origin.Close(ctx)
	if _, err := origin.Exec(ctx, `CREATE TABLE words AS SELECT id, `+word+` AS w FROM generate_series(1, 350000) AS s(id)`); err != nil {
		t.Fatal(err)
	}
	sql := pgDump(t, srv, "latin")
	if !bytes.Contains(sql, []byte("SET client_encoding = 'LATIN1';")) {
		t.Fatal("pg_dump did not write the dump in LATIN1")
	}
	conn, l, err := loadLanes(t, srv, "utf8copy", sql, 64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if l.spreadTo["public.words"] < 2 {
		t.Fatalf("lanes taken %v, want 2 or 3", l.spreadTo)
	}
	var right int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM words WHERE w = `+word).Scan(&right); err != nil {
		t.Fatal(err)
	}
	if right != 350000 {
		t.Errorf("%d of 350000 rows restored as they were", right)
	}
}

// A row the server refuses on any lane stops every lane and the load
// with the server's reason; a stream that breaks while several lanes load
// stops them too. Neither hangs.
func TestLanesStopTogether(t *testing.T) {
	srv := testenv.StartPostgres(t)
	rows := idRows(2500000, 10000000) // 20 MB: past the spread
	head := "CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n"
	within := func(t *testing.T, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			return err
		case <-time.After(2 * time.Minute):
			t.Fatal("the loader hung")
			return nil
		}
	}
	t.Run("badrow", func(t *testing.T) {
		sql := head + rows + "not a number\n" + rows + "\\.\n"
		err := within(t, func() error {
			_, _, err := loadLanes(t, srv, "badrow", []byte(sql), 64<<10, 3)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "invalid input syntax for type integer") {
			t.Fatalf("got %v, want the server's refusal of the row", err)
		}
	})
	t.Run("broken", func(t *testing.T) {
		broke := errors.New("the download broke off")
		err := within(t, func() error {
			ctx := context.Background()
			conn := newDatabase(t, srv, "broken")
			l := newLoader(ctx, conn.PgConn()).withLanes(3, dialer(ctx, srv, "broken"))
			if _, err := l.Write([]byte(head + rows)); err != nil {
				return err
			}
			if c := l.copy; c == nil || c.lanes != 3 {
				t.Error("the COPY was not on 3 lanes when the stream broke")
			}
			l.Abort(broke)
			return l.Close()
		})
		if !errors.Is(err, broke) {
			t.Fatalf("got %v, want the stream's error", err)
		}
	})
}

// A dump that opens a transaction of its own keeps its tables on one lane:
// no other session could see a table created inside it.
func TestLanesWaitOutADumpsTransaction(t *testing.T) {
	srv := testenv.StartPostgres(t)
	rows := idRows(2500000, 0)
	sql := "BEGIN;\nCREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n" + rows + "\\.\nCOMMIT;\n"
	conn, l, err := loadLanes(t, srv, "intx", []byte(sql), 64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	if l.spreadTo["public.t"] != 1 {
		t.Errorf("lanes taken %v, want 1", l.spreadTo)
	}
	var n int64
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2500000 {
		t.Errorf("count %d (%v), want 2500000", n, err)
	}
}

// A lane that cannot be opened (the server's max_connections, say) leaves
// the table to the lanes there are, and the note says why.
func TestLanesThatCannotOpenLeaveTheTableToFewer(t *testing.T) {
	srv := testenv.StartPostgres(t)
	rows := idRows(2500000, 0)
	sql := "CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n" + rows + "\\.\n"
	ctx := context.Background()
	conn := newDatabase(t, srv, "nolanes")
	refused := errors.New("FATAL: sorry, too many clients already")
	l := newLoader(ctx, conn.PgConn()).withLanes(3, func() (*pgconn.PgConn, error) { return nil, refused })
	if _, err := l.Write([]byte(sql)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2500000 || l.loaded["public.t"] != 2500000 {
		t.Errorf("count %d (%v), loaded %v; want 2500000", n, err, l.loaded)
	}
	if note := l.laneNote(); !strings.Contains(note, "fewer connections than the 3 --pg-copy-lanes allows") || !strings.Contains(note, "too many clients") {
		t.Errorf("note %q does not say why the table loaded on fewer connections", note)
	}
}

// A restore stopped (its context cancelled) while a table loads over
// several lanes stops every lane and returns, with an error.
func TestLanesStopWithTheirContext(t *testing.T) {
	srv := testenv.StartPostgres(t)
	rows := idRows(2500000, 0)
	conn := newDatabase(t, srv, "cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLoader(ctx, conn.PgConn()).withLanes(3, dialer(ctx, srv, "cancelled"))
	if _, err := l.Write([]byte("CREATE TABLE t (id int);\nCOPY public.t (id) FROM stdin;\n" + rows)); err != nil {
		t.Fatal(err)
	}
	if c := l.copy; c == nil || c.lanes != 3 {
		t.Fatal("the COPY was not on 3 lanes")
	}
	done := make(chan error, 1)
	go func() {
		cancel()
		var err error
		for i := 0; i < 100 && err == nil; i++ { // the lanes notice within a few chunks
			_, err = l.Write([]byte(rows))
		}
		if err == nil {
			err = l.Close()
		} else {
			l.Abort(err)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled load succeeded")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the loader hung after its context was cancelled")
	}
}
