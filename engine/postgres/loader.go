package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/envsync/envsync/engine"
)

// loader runs a plain SQL dump (pg_dump's plain format, or what
// pg_restore -f - writes of a custom archive) in place of psql. It is an
// io.Writer: the SQL between two COPY blocks goes to the server as one
// batch of statements, and each COPY block's rows go straight into COPY
// ... FROM STDIN, a large table's over several connections (lanes.go). It does psql's work without psql's
// process and pipe, which on a two-core host competes with the server's
// COPY and the sanitiser for the second core.
//
// Like psql with ON_ERROR_STOP, it stops at the first error; unlike psql,
// it runs each batch in one implicit transaction, which a dump's
// statements allow (pg_dump emits none that must run outside one). A batch
// holds at most batchEntries objects, so the locks its transaction takes
// (one or more an object) fit the server's lock table whatever the size of
// the schema.
type loader struct {
	ctx  context.Context
	conn *pgconn.PgConn
	// sql holds the statements since the last COPY; line is where its
	// current (perhaps unfinished) line starts.
	sql  []byte
	line int
	// entries counts the objects (pg_dump's "-- Name:" headers) in sql.
	entries int
	copy    *copyIn
	// restrict is the key of the dump's \restrict line.
	restrict string
	// err is the first error the server gave: the restore's failure,
	// as opposed to the stream's.
	err error
	// loaded is the rows the server took per table (schema.table,
	// unquoted), from each COPY's command tag: what the copy holds, known
	// without reading it again.
	loaded map[string]int64

	// lanes is how many connections one table's rows may load over
	// (lanes.go); dial opens those beyond conn. dialErr is why one could
	// not be opened: the restore goes on over fewer.
	lanes   int
	dial    func() (*pgconn.PgConn, error)
	dialErr error
	// spreadTo is the lanes that took rows of each table.
	spreadTo map[string]int
	// settings are the SET statements of the dump's preamble (before its
	// first object), which every lane runs first; entered says the
	// preamble is over.
	settings [][]byte
	entered  bool
	// idle says conn is outside a transaction, so a table it created is
	// there for the other lanes.
	idle bool
}

// batchEntries bounds the objects in one batch: their locks, a few each,
// must fit max_locks_per_transaction (64 by default) times the server's
// connections, shared with everyone else.
const batchEntries = 50

// entryHeads start the comment pg_dump writes before every object.
var entryHeads = [][]byte{[]byte("-- Name: "), []byte("-- Data for Name: ")}

var loCreate = []byte("SELECT pg_catalog.lo_create(")

// loWrite starts the statements pg_restore writes a large object's bytes
// with, one a line.
var loWrite = []byte("SELECT pg_catalog.lowrite(0, ")

// loBatchBytes is the size past which a batch of lowrite statements is
// sent.
const loBatchBytes = 32 << 20

// isLOWrite says line is one whole lowrite statement.
func isLOWrite(line []byte) bool {
	return bytes.HasPrefix(line, loWrite) && bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte(");"))
}

// copyEndLine ends a COPY block's rows; in the text format a data line cannot
// start with a backslash and a dot (a backslash is written \\).
var copyEndLine = []byte("\\.\n")

// restrictLine is the psql meta-command pg_dump 15.14 and later writes
// first in a dump, with a random key; \unrestrict and the same key end it.
// They stop a malicious dump from running psql's commands, mean nothing to
// the server, and the loader runs no meta-commands anyway: both are
// dropped. Only that pair is: a line inside a string literal that merely
// looks like one passes as it is.
var restrictLine = regexp.MustCompile(`^\\restrict ([A-Za-z0-9]+)\r?\n$`)

// newLoader loads over conn; withLanes lets it spread large tables.
func newLoader(ctx context.Context, conn *pgconn.PgConn) *loader {
	return &loader{ctx: ctx, conn: conn, loaded: map[string]int64{}, spreadTo: map[string]int{}, lanes: 1, idle: true}
}

// withLanes lets the loader load one table over up to n connections,
// opening the ones beyond its own with dial when a table first needs them.
func (l *loader) withLanes(n int, dial func() (*pgconn.PgConn, error)) *loader {
	l.lanes, l.dial = max(n, 1), dial
	return l
}

// Write takes the next bytes of the dump, in chunks of any size.
func (l *loader) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n := len(p)
	for len(p) > 0 {
		if l.copy != nil {
			rest, err := l.copyData(p)
			if err != nil {
				return 0, err
			}
			p = rest
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.sql = append(l.sql, p...)
			break
		}
		l.sql = append(l.sql, p[:i+1]...)
		p = p[i+1:]
		if err := l.endLine(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// endLine looks at the SQL line just finished: a COPY header runs the
// statements before it and opens the COPY; psql's own commands are dropped.
func (l *loader) endLine() error {
	line := l.sql[l.line:]
	switch {
	case bytes.HasPrefix(line, []byte("COPY ")) && bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte("FROM stdin;")):
		header := string(line)
		l.sql = l.sql[:l.line]
		if err := l.flush(); err != nil {
			return err
		}
		l.startCopy(header)
	case l.restrict == "" && restrictLine.Match(line) && onlyComments(l.sql[:l.line]):
		l.restrict = string(restrictLine.FindSubmatch(line)[1])
		l.sql = l.sql[:l.line]
	case l.restrict != "" && string(bytes.TrimRight(line, "\r\n")) == `\unrestrict `+l.restrict:
		l.sql = l.sql[:l.line]
	case !l.entered && isSetting(line):
		l.settings = append(l.settings, bytes.Clone(line))
	case bytes.HasPrefix(line, entryHeads[0]) || bytes.HasPrefix(line, entryHeads[1]):
		l.entered = true
		if l.entries >= batchEntries && endsStatement(l.sql[:l.line]) {
			head := append([]byte(nil), line...)
			l.sql = l.sql[:l.line]
			if err := l.flush(); err != nil {
				return err
			}
			l.sql = append(l.sql, head...)
		}
		l.entries++
	case len(l.sql) >= loBatchBytes && isLOWrite(line):
		// A large object's bytes come as one lowrite statement a line,
		// all of them in one object of the dump: sent in batches of
		// about loBatchBytes, not as one string the server would refuse
		// past 1 GB. The dump's own BEGIN holds the object open across
		// them.
		if err := l.flush(); err != nil {
			return err
		}
	case bytes.HasPrefix(line, loCreate):
		// pg_dump 17 puts up to 1000 large objects in one object of its
		// own; each takes a lock, so each counts.
		l.entries++
	}
	l.line = len(l.sql)
	return nil
}

// isSetting says line is one whole SET statement (pg_dump writes its
// session settings one a line: SET name = value; and
// SELECT pg_catalog.set_config(...);).
func isSetting(line []byte) bool {
	line = bytes.TrimRight(line, "\r\n")
	return (bytes.HasPrefix(line, []byte("SET ")) || bytes.HasPrefix(line, []byte("SELECT pg_catalog.set_config("))) &&
		bytes.HasSuffix(line, []byte(";"))
}

// onlyComments says sql holds no statement yet: blank lines and comments.
func onlyComments(sql []byte) bool {
	for _, line := range bytes.Split(sql, []byte("\n")) {
		if l := bytes.TrimSpace(line); len(l) > 0 && !bytes.HasPrefix(l, []byte("--")) {
			return false
		}
	}
	return true
}

// endsStatement says the last line of sql that is neither blank nor a
// comment ends a statement: an object's header there is not inside a
// function body that merely looks like one.
func endsStatement(sql []byte) bool {
	for len(sql) > 0 {
		i := bytes.LastIndexByte(bytes.TrimRight(sql, "\r\n"), '\n')
		line := bytes.TrimSpace(sql[i+1:])
		sql = sql[:i+1]
		if len(line) > 0 && !bytes.HasPrefix(line, []byte("--")) {
			return bytes.HasSuffix(line, []byte(";"))
		}
		if i < 0 {
			return false
		}
	}
	return false
}

// flush runs the statements gathered so far as one batch.
func (l *loader) flush() error {
	sql := l.sql
	l.sql, l.line, l.entries = l.sql[:0], 0, 0
	if len(bytes.TrimSpace(sql)) == 0 {
		return nil
	}
	mrr := l.conn.Exec(l.ctx, string(sql))
	for mrr.NextResult() {
		_, _ = mrr.ResultReader().Close()
	}
	if err := mrr.Close(); err != nil {
		return l.fail(fmt.Errorf("%w%s", err, statementAt(sql, err)))
	}
	l.idle = l.conn.TxStatus() == 'I'
	return nil
}

// statementAt names the line of sql a server error points at, so the
// operator sees which schema statement failed as psql would show it.
func statementAt(sql []byte, err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Position <= 0 || int(pe.Position) > len(sql) {
		return ""
	}
	// Position counts characters; the schema text is nearly always ASCII
	// and the line is a hint, so bytes are near enough.
	at := int(pe.Position) - 1
	start := bytes.LastIndexByte(sql[:at], '\n') + 1
	end := bytes.IndexByte(sql[at:], '\n')
	if end < 0 {
		end = len(sql) - at
	}
	line := strings.TrimSpace(string(sql[start : at+end]))
	if bytes.HasPrefix([]byte(line), loWrite) {
		return " (at: a lowrite of a large object's bytes)" // the bytes are data
	}
	if len(line) > 160 {
		line = line[:160] + "..."
	}
	return " (at: " + engine.Redact(line) + ")"
}

func (l *loader) fail(err error) error {
	if l.err == nil {
		l.err = err
	}
	return l.err
}

// startCopy sends the COPY statement; the rows that follow are handed to
// the server as they arrive.
func (l *loader) startCopy(header string) {
	l.copy = l.newCopy(header)
}

// copyData passes the rows in p to the COPY in progress, up to its end
// marker, and returns what follows the marker.
func (l *loader) copyData(p []byte) ([]byte, error) {
	c := l.copy
	for {
		if c.atStart {
			need := copyEndLine[len(c.pend):]
			switch {
			case bytes.HasPrefix(p, need):
				c.pend = c.pend[:0]
				return p[len(need):], l.endCopy()
			case len(p) < len(need) && bytes.HasPrefix(need, p):
				c.pend = append(c.pend, p...)
				return nil, nil
			}
			if len(c.pend) > 0 {
				if err := l.rows(c.pend); err != nil {
					return nil, err
				}
				c.pend = c.pend[:0]
			}
			c.atStart = false
		}
		if i := bytes.Index(p, []byte("\n\\.\n")); i >= 0 {
			if err := l.rows(p[:i+1]); err != nil {
				return nil, err
			}
			return p[i+4:], l.endCopy()
		}
		j := bytes.LastIndexByte(p, '\n')
		if j < 0 {
			return nil, l.rows(p) // the middle of a row
		}
		if err := l.rows(p[:j+1]); err != nil {
			return nil, err
		}
		p, c.atStart = p[j+1:], true
		if len(p) == 0 {
			return nil, nil
		}
	}
}

func (l *loader) rows(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := l.copy.write(b); err != nil {
		// The server ended the COPY (a bad row): its reason.
		c := l.copy
		l.copy = nil
		c.abort(err)
		return l.fail(c.why)
	}
	return nil
}

// endCopy closes the COPY in progress and waits for the server's verdict
// on every lane.
func (l *loader) endCopy() error {
	c := l.copy
	l.copy = nil
	if err := c.end(); err != nil {
		return l.fail(err)
	}
	l.loaded[c.table] += c.rows
	l.spreadTo[c.table] = max(l.spreadTo[c.table], c.took)
	return nil
}

// copyTable is the table a COPY header ("COPY schema.table (a, b) FROM
// stdin;") names, unquoted, as the counts name it; a quoted name may hold
// spaces and brackets, so it is read as identifiers, not cut at " (".
func copyTable(header string) string {
	return unquoteName(strings.TrimPrefix(header, "COPY "))
}

// Close runs what is left of the dump after its last COPY (the indexes,
// constraints and the like), or fails if the dump ended inside a COPY.
func (l *loader) Close() error {
	if l.err != nil {
		return l.err
	}
	if l.copy != nil {
		l.Abort(errors.New("the dump ended inside a COPY block (truncated?)"))
		return l.err
	}
	return l.flush()
}

// Abort stops a COPY in progress (the server discards its rows) after the
// stream failed for reason.
func (l *loader) Abort(reason error) {
	if c := l.copy; c != nil {
		l.copy = nil
		c.abort(reason)
	}
	l.fail(reason)
}
