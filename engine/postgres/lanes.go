package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// One table's rows over several connections.
//
// The server parses a COPY on one core. pg_restore loads each table over
// one connection, so restoring a database whose data is mostly one table
// keeps one core busy while the others wait: on the benchmark's table
// (jsonb documents) the COPY is 12 of pg_restore's 16 s, on two cores of
// which one is nearly idle. The loader instead hands a large table's rows,
// in chunks that end where a row ends, to as many COPYs of the same table
// as it has lanes (connections), each taking the next chunk when it is
// ready for one. COPY into one table from several sessions is what the
// server allows anyway (each takes a ROW EXCLUSIVE lock); the rows land in
// the heap in another order than the dump's, which SQL never promised.
// A table smaller than spreadAfter stays on one lane, in the dump's order.

// Sizes of the chunks lanes take, and how much of one table goes over the
// first lane alone before the others join.
const (
	chunkSize   = 1 << 20
	spreadAfter = 16 << 20
)

// chunk is rows for one lane; cut says it ends inside a row, whose rest
// follows on copyIn.rest for the same lane.
type chunk struct {
	b   []byte
	cut bool
}

// chunkPool keeps chunks' buffers for the next: a restore passes
// gigabytes through a handful of them.
var chunkPool = make(chan []byte, 16)

func getChunk() []byte {
	select {
	case b := <-chunkPool:
		return b[:0]
	default:
		return make([]byte, 0, chunkSize+64<<10)
	}
}

func putChunk(b []byte) {
	if cap(b) == 0 || cap(b) > 4*chunkSize {
		return // none, or grown around one long row: let it go
	}
	select {
	case chunkPool <- b:
	default:
	}
}

// copyIn is a COPY ... FROM STDIN in progress, over one lane or several.
type copyIn struct {
	l      *loader
	table  string
	header string
	// chunks carry the rows, in the order they came, to whichever lane
	// takes them first; rest carries the rest of a cut row.
	chunks chan chunk
	rest   chan chunk
	// quit closes on the first failure (why): a lane's COPY refused by
	// the server, or the stream aborted. Every lane still in its COPY
	// then stops, and the server discards its rows; a lane that had
	// already finished keeps them, in a table of a restore that fails
	// (its staging database is dropped).
	quit    chan struct{}
	stop    sync.Once
	why     error
	results chan laneResult
	lanes   int  // COPYs started
	took    int  // of them, those that took rows
	spread  bool // the other lanes have been asked to join
	// conns are the connections opened for this table's other lanes,
	// closed when its COPY ends: a connection left idle between two
	// large tables could be ended by the server meanwhile.
	conns []*pgconn.PgConn
	// buf gathers rows until a chunk's worth ends at a row's end;
	// cutting says a chunk ending inside a row went out, and buf holds
	// more of that row.
	buf     []byte
	cutting bool
	sent    int64
	rows    int64 // the COPYs' command tags, summed, once done
	// atStart says the next byte begins a line; pend holds the start of
	// a line that may be the end marker, split across writes.
	atStart bool
	pend    []byte
}

type laneResult struct {
	rows int64
	took bool
	err  error
}

// errLaneStopped is what a lane's COPY is failed with when another lane or
// the stream failed: the first failure is reported, never repeated into
// the server's log.
var errLaneStopped = errors.New("envsync stopped this COPY: another part of the restore failed")

func (l *loader) newCopy(header string) *copyIn {
	c := &copyIn{l: l, table: copyTable(header), header: header, chunks: make(chan chunk, 2), rest: make(chan chunk),
		quit: make(chan struct{}), results: make(chan laneResult, max(l.lanes, 1)), buf: getChunk(), atStart: true}
	c.start(l.conn)
	return c
}

// start runs one more COPY of the table, on conn.
func (c *copyIn) start(conn *pgconn.PgConn) {
	c.lanes++
	go func() {
		r := &laneReader{c: c}
		tag, err := conn.CopyFrom(c.l.ctx, r, c.header)
		if err != nil {
			c.fail(err)
		}
		c.results <- laneResult{rows: tag.RowsAffected(), took: r.took, err: err}
	}()
}

// fail records the first failure and stops every lane.
func (c *copyIn) fail(err error) {
	c.stop.Do(func() {
		c.why = err
		close(c.quit)
	})
}

// write takes the next rows of the COPY (any cut, as they come).
func (c *copyIn) write(b []byte) error {
	c.buf = append(c.buf, b...)
	for {
		if c.cutting {
			i := bytes.IndexByte(c.buf, '\n')
			if i < 0 {
				if len(c.buf) < chunkSize {
					return nil
				}
				return c.pass(len(c.buf), true, true)
			}
			if err := c.pass(i+1, false, true); err != nil {
				return err
			}
			c.cutting = false
			continue
		}
		if len(c.buf) < chunkSize {
			return nil
		}
		// In COPY's text format a newline byte always ends a row (one in
		// a value is written \n), so a chunk up to the last one holds
		// whole rows.
		j := bytes.LastIndexByte(c.buf, '\n')
		if j < 0 {
			// One row longer than a chunk: its start goes now, its rest
			// follows to the lane that took it, so memory stays bounded.
			c.cutting = true
			return c.pass(len(c.buf), true, false)
		}
		if err := c.pass(j+1, false, false); err != nil {
			return err
		}
	}
}

// pass sends buf's first n bytes as a chunk, on rest when they continue a
// cut row, and keeps the bytes after them for the next.
func (c *copyIn) pass(n int, cut, cont bool) error {
	out := c.buf[:n]
	c.buf = append(getChunk(), c.buf[n:]...)
	c.sent += int64(n)
	if !c.spread && c.sent >= spreadAfter {
		c.spread = true
		c.l.join(c)
	}
	to := c.chunks
	if cont {
		to = c.rest
	}
	select {
	case to <- chunk{b: out, cut: cut}:
		return nil
	case <-c.quit:
		putChunk(out)
		return c.why
	}
}

// end sends what is left, lets every lane finish its COPY and returns the
// first failure.
func (c *copyIn) end() error {
	var err error
	if len(c.buf) > 0 {
		err = c.pass(len(c.buf), false, c.cutting)
	}
	close(c.chunks)
	for range c.lanes {
		r := <-c.results
		c.rows += r.rows
		if r.took {
			c.took++
		}
	}
	c.closeConns()
	if c.why != nil {
		return c.why
	}
	return err
}

// abort stops every lane (the server discards their rows) and waits for
// them.
func (c *copyIn) abort(reason error) {
	c.fail(reason)
	for range c.lanes {
		<-c.results
	}
	c.closeConns()
}

// closeConns closes this table's extra lanes and gives back its buffer.
func (c *copyIn) closeConns() {
	putChunk(c.buf)
	c.buf = nil
	for _, conn := range c.conns {
		conn.Close(context.WithoutCancel(c.l.ctx))
	}
	c.conns = nil
}

// laneReader is one lane's COPY input: the chunks it takes.
type laneReader struct {
	c     *copyIn
	cur   []byte // what is left of the chunk taken
	buf   []byte // that chunk's buffer, back to the pool once read
	inRow bool
	took  bool
}

func (r *laneReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.buf != nil {
			putChunk(r.buf)
			r.buf = nil
		}
		from := r.c.chunks
		if r.inRow {
			from = r.c.rest
		}
		select {
		case ch, ok := <-from:
			if !ok {
				return 0, io.EOF
			}
			r.buf, r.cur, r.inRow, r.took = ch.b, ch.b, ch.cut, true
		case <-r.c.quit:
			return 0, errLaneStopped
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// join starts c's COPY on the loader's other lanes, each on a connection
// of its own. A lane whose connection cannot be opened is left out, with
// a note, and no more are tried: the table still loads, on fewer.
func (l *loader) join(c *copyIn) {
	if !l.idle {
		// The dump opened a transaction of its own (BEGIN): the table
		// may not exist for any other session yet.
		return
	}
	for c.lanes < l.lanes && l.dial != nil && l.dialErr == nil {
		conn, err := l.dial()
		if err == nil && len(l.settings) > 0 {
			// The dump's own session settings (client_encoding,
			// xmloption, row_security...) decide how COPY reads the rows:
			// every lane runs under them.
			if err = conn.Exec(l.ctx, string(bytes.Join(l.settings, nil))).Close(); err != nil {
				conn.Close(l.ctx)
			}
		}
		if err != nil {
			l.dialErr = err
			return
		}
		c.conns = append(c.conns, conn)
		c.start(conn)
	}
}

// laneNote says, for the run's notes, which tables loaded over more than
// one connection, and why fewer than asked if a lane could not be opened.
func (l *loader) laneNote() string {
	var spread []string
	most := 1
	for t, n := range l.spreadTo {
		if n > 1 {
			spread = append(spread, t)
			most = max(most, n)
		}
	}
	var b strings.Builder
	if len(spread) > 0 {
		slices.Sort(spread)
		if len(spread) > 3 {
			spread = append(spread[:3], fmt.Sprintf("and %d more", len(spread)-3))
		}
		fmt.Fprintf(&b, "the rows of %s loaded over up to %d connections at once (--pg-copy-lanes), so in another physical order than the source's", strings.Join(spread, ", "), most)
	}
	if l.dialErr != nil {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "large tables loaded over fewer connections than the %d --pg-copy-lanes allows: opening another failed: %v", l.lanes, l.dialErr)
	}
	return b.String()
}
