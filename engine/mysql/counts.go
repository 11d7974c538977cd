package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

var _ engine.Counter = (*Engine)(nil)

// lockWait bounds how long counting waits for the global read lock: behind
// a long query it would hold every writer up, so it gives up instead and
// counts outside mysqldump's snapshot (the counts are then marked inexact).
const lockWait = 10 // seconds

// counting is a session whose consistent snapshot is mysqldump's: it takes
// the global read lock, starts its transaction, and releases the lock only
// once mysqldump has started its own, so no write lands between the two
// (what mysqldump --master-data does for a replica's position).
type counting struct {
	db     *sql.DB
	conn   *sql.Conn
	schema string
	skip   []string
	// exact is false when the lock could not be had; why says why.
	exact    bool
	unlock   sync.Once
	released chan struct{}
}

func (e *Engine) beginCounting(ctx context.Context) (*counting, error) {
	db, err := e.connect(ctx, e.t.Database)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: open the counting session: %w", err)
	}
	c := &counting{db: db, conn: conn, schema: e.t.Database, skip: e.excluded, exact: true, released: make(chan struct{})}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", lockWait)); err == nil {
		_, err = conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK")
		if err != nil {
			c.exact = false
			e.opts.Logger.Warn("could not take the global read lock to count rows within mysqldump's snapshot; counting beside it (grant RELOAD, or look for long queries)", "database", e.t.Database, "error", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); err != nil {
		c.close()
		return nil, fmt.Errorf("mysql: start the counting transaction: %w", err)
	}
	return c, nil
}

// release lets writers go on: mysqldump has its snapshot.
func (c *counting) release() {
	c.unlock.Do(func() {
		if c.exact {
			// Not LOCK TABLES, so this does not end the transaction.
			c.conn.ExecContext(context.Background(), "UNLOCK TABLES")
		}
		close(c.released)
	})
}

// count counts once the lock is released (counting under it would hold
// writers up), in the background; the result arrives on the channel.
func (c *counting) count(ctx context.Context) <-chan countResult {
	out := make(chan countResult, 1)
	go func() {
		select {
		case <-c.released:
		case <-ctx.Done():
			out <- countResult{err: ctx.Err()}
			return
		}
		tables, err := countTables(ctx, c.conn, c.schema, c.skip)
		out <- countResult{&dump.Counts{Of: "table", Exact: c.exact, Tables: tables}, err}
	}()
	return out
}

type countResult struct {
	counts *dump.Counts
	err    error
}

func (c *counting) close() {
	c.release()
	c.conn.Close() // rolls the read-only transaction back
	c.db.Close()
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// countTables counts the rows of schema's base tables (not views), less
// skip: the tables a dump leaves out.
func countTables(ctx context.Context, q querier, schema string, skip []string) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, schema)
	if err != nil {
		return nil, fmt.Errorf("mysql: list the tables of %s to count: %w", schema, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		if !slices.Contains(skip, n) {
			names = append(names, n)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql: list the tables of %s to count: %w", schema, err)
	}
	out := make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ident(schema)+"."+ident(n)).Scan(&c); err != nil {
			return nil, fmt.Errorf("mysql: count the rows of %s.%s: %w", schema, n, err)
		}
		out[n] = c
	}
	return out, nil
}

// Count counts the rows of every table of schema (a restored staging copy).
func (e *Engine) Count(ctx context.Context, schema string) (map[string]int64, error) {
	db, err := e.connect(ctx, schema)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return countTables(ctx, db, schema, nil)
}

// begun are lines mysqldump writes only after it started its transaction:
// the first table, view, routine or event of the schema.
var begun = [][]byte{
	[]byte("-- Table structure for table "),
	[]byte("-- Temporary table structure for view "),
	[]byte("-- Dumping routines for database "),
	[]byte("-- Dumping events for database "),
}

// watch passes writes through to w and calls found once one of begun
// has gone by (a line split across writes included).
type watch struct {
	w     io.Writer
	tail  []byte
	found func()
	done  bool
}

func (m *watch) Write(p []byte) (int, error) {
	if !m.done {
		buf := append(m.tail, p...)
		for _, b := range begun {
			if bytes.Contains(buf, b) {
				m.done = true
				m.found()
				break
			}
		}
		if keep := 64; len(buf) > keep {
			buf = buf[len(buf)-keep:]
		}
		m.tail = append(m.tail[:0], buf...)
	}
	return m.w.Write(p)
}
