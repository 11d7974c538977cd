package postgres

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// sanitiser applies a sanitise plan to a plain SQL dump (pg_dump's plain
// format, or what pg_restore -f - makes of a custom archive) on its way to
// psql: schema statements pass as they are; the rows of each COPY block
// are decoded, transformed or filtered by the plan, and encoded again.
// Before the first COPY, the tables and columns the CREATE TABLE
// statements define are checked against the rule set, so a column no rule
// names stops the restore before any row is written.
//
// The rows are the work (the keyed digest of every transformed value, the
// scan of every kept one), and one goroutine doing it all was the slowest
// stage of a sanitised push or pull, with the second core partly idle. So
// the reading goroutine only follows the dump's structure and cuts it
// into batches of whole lines; the rows of a batch are sanitised by one of
// several workers (each with its own fork of the table's rules); and one
// writer puts the batches out in the dump's order. The output is the same
// byte for byte as one goroutine's: every transformer depends on the key
// and the value alone.
type sanitiser struct {
	plan *sanitise.Plan
	w    io.Writer
	// tables are the columns of every CREATE TABLE seen, with their
	// lengths; checked once, at the first COPY.
	tables   map[string][]sanitise.Column
	creating string // the table whose CREATE TABLE is being read
	checked  bool
	copying  *sanitise.TableRows
	line     []byte

	workers    int
	batchBytes int
	cur        *batch      // the batch being filled
	free       chan *batch // batches to fill: all of them are made at the start
	jobs       chan *batch // batches of rows, to the workers
	order      chan *batch // every batch, in the dump's order, to the writer
	dead       chan struct{}
	werr       error // why writing failed; set before dead is closed
	written    chan struct{}
	wg         sync.WaitGroup
}

// batch is a run of whole lines of the dump: rows of one table to
// sanitise, or (rows nil) lines that pass as they are.
type batch struct {
	rows    *sanitise.TableRows
	in, out []byte
	done    chan struct{} // a token once out is ready
}

// batchBytes is how much of the dump one batch holds: large enough that
// handing it over costs nothing beside its rows, small enough that the
// 2*maxWorkers+2 batches in flight stay a few MiB (a batch that had to
// hold a longer line gives its room back).
const batchBytes = 256 << 10

// maxWorkers bounds the workers on a host with many cores: each keeps a
// fork of the table's rules, memos included.
const maxWorkers = 8

func newSanitiser(plan *sanitise.Plan, w io.Writer) *sanitiser {
	return &sanitiser{plan: plan, w: w, tables: map[string][]sanitise.Column{}, workers: min(runtime.GOMAXPROCS(0), maxWorkers), batchBytes: batchBytes}
}

// run copies r to the writer, sanitised. A read error wins (the stream
// broke off, and a retry may get it whole; its cut last row may have
// failed the plan); then the plan's error wins over a write error (psql
// going away because the restore is being stopped).
func (s *sanitiser) run(r io.Reader) error {
	s.start()
	finished := false
	defer func() {
		if !finished { // read panicked: the workers and the writer still end
			s.finish()
		}
	}()
	stop, rerr := s.read(r)
	if stop == nil && rerr == nil {
		// Before the last batch is written: a table the rules name
		// that the dump lacks fails the plan, and no batch not yet
		// written goes out.
		_ = s.plan.Finish()
	}
	werr := s.finish()
	finished = true
	if rerr != nil {
		return rerr
	}
	if perr := s.plan.Err(); perr != nil {
		return perr
	}
	if stop != nil {
		return stop
	}
	return werr
}

// read follows the dump line by line into batches. stop is why it stopped
// early (the plan's inventory failed, or the writer did); rerr is r's own
// failure.
func (s *sanitiser) read(r io.Reader) (stop, rerr error) {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		if s.copying != nil && s.buffered(br) {
			continue
		}
		line, err := engine.ReadLine(br, &s.line)
		if len(line) > 0 {
			if err := s.handle(line); err != nil {
				return err, nil
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (s *sanitiser) handle(line []byte) error {
	if s.copying != nil {
		if isCopyEnd(line) {
			s.copying = nil
			return s.add(nil, line)
		}
		return s.add(s.copying, line)
	}
	switch {
	case s.creating != "":
		s.column(line)
	case bytes.HasPrefix(line, []byte("CREATE TABLE ")) || bytes.HasPrefix(line, []byte("CREATE UNLOGGED TABLE ")):
		s.create(line)
	case bytes.HasPrefix(line, []byte("COPY ")) && bytes.HasSuffix(bytes.TrimRight(line, "\r\n"), []byte("FROM stdin;")):
		if err := s.startCopy(line); err != nil {
			return err
		}
	case bytes.HasPrefix(line, loCreate):
		// Large objects (pg_largeobject) come as lo_create and lowrite
		// statements, outside any table's COPY: their bytes would pass
		// unread. The plan fails before this line is written.
		s.plan.Unnamed("large objects (pg_largeobject) in the dump")
	}
	return s.add(nil, line)
}

// buffered takes the rows of the COPY block in progress that br holds
// whole, up to a batch of them and not past the block's end, in one piece
// rather than line by line: the workers split them. It says whether it
// took any; if not (a row longer than what is buffered, or the end marker
// next), the caller reads a line.
func (s *sanitiser) buffered(br *bufio.Reader) bool {
	room := s.batchBytes
	if b := s.cur; b != nil && b.rows == s.copying {
		room -= len(b.in)
	}
	buf, _ := br.Peek(min(br.Buffered(), max(room, 1)))
	if bytes.HasPrefix(buf, []byte(`\.`)) {
		return false
	}
	// A data line cannot start with \. (a backslash is written \\):
	// the first line that does ends the block.
	if k := bytes.Index(buf, []byte("\n\\.")); k >= 0 {
		buf = buf[:k+1]
	}
	j := bytes.LastIndexByte(buf, '\n')
	if j < 0 {
		return false
	}
	// add copies the rows out of br's buffer before Discard lets it be
	// refilled.
	if err := s.add(s.copying, buf[:j+1]); err != nil {
		return false // the writer failed: the line path finds out
	}
	_, _ = br.Discard(j + 1)
	return true
}

// isCopyEnd says line is the \. that ends a COPY block's rows.
func isCopyEnd(line []byte) bool {
	return len(line) >= 2 && line[0] == '\\' && line[1] == '.' && bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte(`\.`))
}

// start makes the batches and starts the workers and the writer.
func (s *sanitiser) start() {
	n := 2*s.workers + 2 // each worker busy with one and one waiting, one filling, one writing
	s.free, s.jobs, s.order = make(chan *batch, n), make(chan *batch, n), make(chan *batch, n)
	s.dead, s.written = make(chan struct{}), make(chan struct{})
	for range n {
		s.free <- &batch{done: make(chan struct{}, 1)}
	}
	for range s.workers {
		s.wg.Go(s.work)
	}
	go s.write()
}

// add puts a line into the batch being filled, handing that batch on
// first when the line belongs elsewhere or does not fit.
func (s *sanitiser) add(rows *sanitise.TableRows, line []byte) error {
	if b := s.cur; b != nil && (b.rows != rows || len(b.in) > 0 && len(b.in)+len(line) > s.batchBytes) {
		s.submit()
	}
	if s.cur == nil {
		select {
		case <-s.dead: // else a free batch could win the select below
			return s.werr
		default:
		}
		select {
		case b := <-s.free:
			b.rows, b.in, b.out = rows, b.in[:0], b.out[:0]
			s.cur = b
		case <-s.dead:
			return s.werr
		}
	}
	s.cur.in = append(s.cur.in, line...)
	return nil
}

// submit hands the batch being filled to the writer (and, for rows, a
// worker). Neither channel can be full: it holds every batch there is.
func (s *sanitiser) submit() {
	b := s.cur
	s.cur = nil
	if b.rows == nil {
		b.done <- struct{}{}
	} else {
		s.jobs <- b
	}
	s.order <- b
}

// finish hands on the last batch and waits until every batch is written.
func (s *sanitiser) finish() error {
	if s.cur != nil {
		s.submit()
	}
	close(s.jobs)
	close(s.order)
	<-s.written
	s.wg.Wait()
	return s.werr
}

// write puts the batches out in order, each once it is ready; nothing
// once the plan has failed (the run stops with its error) or a write has.
func (s *sanitiser) write() {
	defer close(s.written)
	for b := range s.order {
		<-b.done
		out := b.out
		if b.rows == nil {
			out = b.in
		}
		if len(out) > 0 && s.werr == nil && !s.plan.Failed() {
			if _, err := s.w.Write(out); err != nil {
				s.werr = err
				close(s.dead)
			}
		}
		if cap(b.in) > 4*s.batchBytes || cap(b.out) > 4*s.batchBytes {
			b.in, b.out = nil, nil // it held a long line: give the room back
		}
		s.free <- b
	}
}

// work sanitises batches of rows, each table's through a fork of its
// rules, and settles the fork's counts after each batch.
func (s *sanitiser) work() {
	var of, fork *sanitise.TableRows
	var sc rowScratch
	for b := range s.jobs {
		if b.rows != of {
			of, fork = b.rows, b.rows.Fork()
		}
		s.batch(fork, &sc, b)
		fork.Settle()
		b.done <- struct{}{}
	}
}

// batch sanitises one batch's rows. A panic (a bug) fails the plan rather
// than the worker's process, and names no value.
func (s *sanitiser) batch(fork *sanitise.TableRows, sc *rowScratch, b *batch) {
	defer func() {
		if recover() != nil {
			s.plan.Refuse("the sanitiser failed on a row of " + fork.Name() + " (a bug in envsync: please report it); nothing from that row on was written")
		}
	}()
	for in := b.in; len(in) > 0; {
		line := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			line = in[:i+1]
		}
		in = in[len(line):]
		b.out = sc.row(fork, line, b.out)
	}
}

// create starts reading a CREATE TABLE's columns.
func (s *sanitiser) create(line []byte) {
	rest := strings.TrimPrefix(strings.TrimPrefix(string(line), "CREATE "), "UNLOGGED ")
	rest = strings.TrimPrefix(rest, "TABLE ")
	name, tail, ok := strings.Cut(rest, " (")
	if !ok || strings.TrimSpace(tail) != "" {
		return // a partition or a typed table: no column list of its own
	}
	s.creating = unquoteName(name)
	s.tables[s.creating] = []sanitise.Column{}
}

// column reads one line of a CREATE TABLE's column list.
func (s *sanitiser) column(line []byte) {
	l := strings.TrimSpace(string(line))
	if strings.HasPrefix(l, ")") {
		s.creating = ""
		return
	}
	if strings.HasPrefix(l, "CONSTRAINT ") {
		return
	}
	name, def := splitIdent(l)
	if name == "" {
		return
	}
	s.tables[s.creating] = append(s.tables[s.creating], sanitise.Column{Name: name, Limit: typeLimit(def)})
}

// typeLimit is the length of a character varying(n) or character(n).
func typeLimit(def string) int {
	for _, t := range []string{"character varying(", "character("} {
		if i := strings.Index(def, t); i >= 0 {
			n, _ := strconv.Atoi(def[i+len(t) : i+len(t)+strings.IndexByte(def[i+len(t):], ')')])
			return n
		}
	}
	return 0
}

// startCopy begins a COPY block: the table's rows follow until \.
func (s *sanitiser) startCopy(line []byte) error {
	if !s.checked {
		s.checked = true
		inv := map[string][]string{}
		for t, cols := range s.tables {
			for _, c := range cols {
				inv[t] = append(inv[t], c.Name)
			}
		}
		if err := s.plan.Inventory(inv); err != nil {
			return err // before any row is written
		}
	}
	l := strings.TrimSuffix(strings.TrimRight(string(line), "\r\n"), " FROM stdin;")
	l = strings.TrimPrefix(l, "COPY ")
	name, list, _ := strings.Cut(l, " (")
	table := unquoteName(name)
	var cols []sanitise.Column
	for _, c := range splitList(strings.TrimSuffix(list, ")")) {
		col := sanitise.Column{Name: c}
		for _, d := range s.tables[table] {
			if d.Name == c {
				col.Limit = d.Limit
			}
		}
		cols = append(cols, col)
	}
	s.copying = s.plan.Table(table, cols)
	return nil
}

// rowScratch is a worker's reusable room for the fields of a row.
type rowScratch struct {
	fields [][]byte
	offs   []int // where each field starts in its line
	vals   []sanitise.Value
}

// row sanitises one row of a COPY block through t, appending what is to
// be written of it (nothing for a row filtered out) to out.
func (sc *rowScratch) row(t *sanitise.TableRows, line, out []byte) []byte {
	if t.Empty() {
		t.Row(nil)
		return out
	}
	body := bytes.TrimSuffix(line, []byte("\n"))
	sc.fields, sc.offs = sc.fields[:0], sc.offs[:0]
	for rest, off := body, 0; ; {
		i := bytes.IndexByte(rest, '\t')
		sc.offs = append(sc.offs, off)
		if i < 0 {
			sc.fields = append(sc.fields, rest)
			break
		}
		sc.fields = append(sc.fields, rest[:i])
		rest, off = rest[i+1:], off+i+1
	}
	if t.Misfit(len(sc.fields)) {
		return out // more or fewer fields than the COPY header names
	}
	if cap(sc.vals) < len(sc.fields) {
		sc.vals = make([]sanitise.Value, len(sc.fields))
	}
	sc.vals = sc.vals[:len(sc.fields)]
	for i, f := range sc.fields {
		if t.Needs(i) {
			sc.vals[i] = copyDecode(f)
		} else {
			sc.vals[i] = sanitise.Value{B: f}
		}
	}
	if !t.Row(sc.vals) {
		return out
	}
	// The line as it came, each changed field replaced: what lies
	// between two changed fields (unchanged fields and their tabs) is
	// copied in one piece.
	from := 0
	for i := range sc.fields {
		if t.Changes(i) {
			out = append(out, body[from:sc.offs[i]]...)
			out = appendCopy(out, sc.vals[i])
			from = sc.offs[i] + len(sc.fields[i])
		}
	}
	out = append(out, body[from:]...)
	return append(out, '\n')
}

// copyDecode reads one field of COPY's text format: \N is NULL, and
// backslash escapes stand for the bytes they name.
func copyDecode(f []byte) sanitise.Value {
	if len(f) == 2 && f[0] == '\\' && f[1] == 'N' {
		return sanitise.Value{Null: true}
	}
	if bytes.IndexByte(f, '\\') < 0 {
		return sanitise.Value{B: f}
	}
	out := make([]byte, 0, len(f))
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			out = append(out, c)
			continue
		}
		i++
		switch e := f[i]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			n, j := 0, i+1
			for ; j < len(f) && j <= i+2 && isHex(f[j]); j++ {
				n = n*16 + hexVal(f[j])
			}
			out, i = append(out, byte(n)), j-1
		default:
			if e >= '0' && e <= '7' {
				n, j := 0, i
				for ; j < len(f) && j < i+3 && f[j] >= '0' && f[j] <= '7'; j++ {
					n = n*8 + int(f[j]-'0')
				}
				out, i = append(out, byte(n)), j-1
			} else {
				out = append(out, e)
			}
		}
	}
	return sanitise.Value{B: out}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// appendCopy appends a value in COPY's text format.
func appendCopy(out []byte, v sanitise.Value) []byte {
	if v.Null {
		return append(out, `\N`...)
	}
	if !needsEscape(v.B) {
		return append(out, v.B...) // the common case
	}
	for _, c := range v.B {
		switch c {
		case '\\':
			out = append(out, `\\`...)
		case '\t':
			out = append(out, `\t`...)
		case '\n':
			out = append(out, `\n`...)
		case '\r':
			out = append(out, `\r`...)
		default:
			out = append(out, c)
		}
	}
	return out
}

func needsEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '\t' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// unquoteName turns pg_dump's schema.table (either part quoted) into the
// plain schema.table the counts and rules use.
func unquoteName(name string) string {
	first, rest := splitIdent(name)
	if rest = strings.TrimSpace(rest); strings.HasPrefix(rest, ".") {
		second, _ := splitIdent(rest[1:])
		return first + "." + second
	}
	return first
}

// splitIdent reads one identifier (quoted or not) from the start of s and
// returns it and the rest.
func splitIdent(s string) (string, string) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '"' {
				if i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				return b.String(), s[i+1:]
			}
			b.WriteByte(s[i])
		}
		return b.String(), ""
	}
	end := strings.IndexAny(s, " .,()")
	if end < 0 {
		return s, ""
	}
	return s[:end], s[end:]
}

// splitList reads a COPY column list: quoted or plain names, comma
// separated.
func splitList(s string) []string {
	var out []string
	for strings.TrimSpace(s) != "" {
		name, rest := splitIdent(s)
		out = append(out, name)
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, ",") {
			break
		}
		s = rest[1:]
	}
	return out
}
