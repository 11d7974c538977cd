package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

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
	// locked says the session holds the global read lock; exact that the
	// counts will be mysqldump's (the lock was had and released only once
	// mysqldump began). note says why not.
	locked, exact bool
	note          string
	unlock        sync.Once
	released      chan struct{}
	timer         *time.Timer
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
	c := &counting{db: db, conn: conn, schema: e.t.Database, skip: e.excluded, released: make(chan struct{})}
	_, err = conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", lockWait))
	if err == nil {
		_, err = conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK")
	}
	if err == nil {
		c.locked, c.exact = true, true
		// Writers wait while the lock is held: it goes when mysqldump
		// shows it has begun, or after lockWait whatever happens (the
		// counts are then not mysqldump's).
		c.timer = time.AfterFunc(lockWait*time.Second, func() { c.releaseAs(false, "mysqldump had not begun within the lock's time") })
	} else {
		c.note = "counted beside mysqldump, not in its snapshot: the global read lock could not be had (" + err.Error() + ")"
		e.opts.Logger.Warn("could not take the global read lock to count rows within mysqldump's snapshot; counting beside it (grant RELOAD, or look for long queries)", "database", e.t.Database, "error", err)
	}
	// The counts wait for locks as mysqldump's reads do.
	_, err = conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = @@GLOBAL.lock_wait_timeout")
	if err == nil {
		_, err = conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("mysql: start the counting transaction (verify: none skips counting): %w", err)
	}
	return c, nil
}

// release lets writers go on: mysqldump has its snapshot.
func (c *counting) release() { c.releaseAs(true, "") }

// releaseAs releases the lock once; in time says mysqldump had begun by
// then, else note says why the counts are not its.
func (c *counting) releaseAs(inTime bool, note string) {
	c.unlock.Do(func() {
		if c.timer != nil {
			c.timer.Stop()
		}
		if c.locked {
			// Not LOCK TABLES, so this does not end the transaction.
			c.conn.ExecContext(context.Background(), "UNLOCK TABLES")
		}
		if !inTime && c.exact {
			c.exact, c.note = false, "counted beside mysqldump, not in its snapshot: "+note
		}
		close(c.released)
	})
}

// count counts once the lock is released (counting under it would hold
// writers up), in the background, then ends the transaction at once: it
// holds a metadata lock on every table it counted, which would keep an
// ALTER (and everything queued behind it) waiting until the dump ends.
// The result arrives on the channel.
func (c *counting) count(ctx context.Context) <-chan countResult {
	out := make(chan countResult, 1)
	go func() {
		select {
		case <-c.released:
		case <-ctx.Done():
			out <- countResult{err: ctx.Err()}
			return
		}
		tables, other, err := countTables(ctx, c.conn, c.schema, c.skip)
		c.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		counts := &dump.Counts{Of: "table", Exact: c.exact, Note: c.note, Tables: tables}
		if len(other) > 0 && counts.Exact {
			counts.Exact = false
			counts.Note = fmt.Sprintf("tables %s are not InnoDB, so in no snapshot: a write during the dump can change their counts", strings.Join(other, ", "))
		}
		out <- countResult{counts, err}
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
// other lists the counted tables of engines without transactions (MyISAM),
// which no snapshot covers.
func countTables(ctx context.Context, q querier, schema string, skip []string) (counts map[string]int64, other []string, err error) {
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME, COALESCE(ENGINE, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'`, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql: list the tables of %s to count (verify: none skips counting): %w", schema, err)
	}
	var names []string
	for rows.Next() {
		var n, eng string
		if err := rows.Scan(&n, &eng); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if slices.Contains(skip, n) {
			continue
		}
		names = append(names, n)
		if !strings.EqualFold(eng, "InnoDB") {
			other = append(other, n)
		}
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("mysql: list the tables of %s to count: %w", schema, err)
	}
	counts = make(map[string]int64, len(names))
	for _, n := range names {
		var c int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+ident(schema)+"."+ident(n)).Scan(&c); err != nil {
			return nil, nil, fmt.Errorf("mysql: count the rows of %s.%s (verify: none skips counting): %w", schema, n, err)
		}
		counts[n] = c
	}
	slices.Sort(other)
	return counts, other, nil
}

// Count counts the rows of every table of schema (a restored staging copy).
func (e *Engine) Count(ctx context.Context, schema string) (map[string]int64, error) {
	db, err := e.connect(ctx, schema)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	counts, _, err := countTables(ctx, db, schema, nil)
	return counts, err
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
