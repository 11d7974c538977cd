package postgres

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

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
type sanitiser struct {
	plan *sanitise.Plan
	w    *bufio.Writer
	// tables are the columns of every CREATE TABLE seen, with their
	// lengths; checked once, at the first COPY.
	tables   map[string][]sanitise.Column
	creating string // the table whose CREATE TABLE is being read
	checked  bool
	copying  *sanitise.TableRows
	fields   [][]byte
	offs     []int // where each field starts in its line
	vals     []sanitise.Value
	line     []byte
}

func newSanitiser(plan *sanitise.Plan, w io.Writer) *sanitiser {
	return &sanitiser{plan: plan, w: bufio.NewWriterSize(w, 1<<20), tables: map[string][]sanitise.Column{}}
}

// run copies r to the writer, sanitised; the plan's error wins over a
// write error (psql going away because the restore is being stopped).
func (s *sanitiser) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := engine.ReadLine(br, &s.line)
		if len(line) > 0 {
			if werr := s.handle(line); werr != nil {
				if perr := s.plan.Err(); perr != nil {
					return perr
				}
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := s.plan.Finish(); err != nil {
		return err
	}
	return s.w.Flush()
}

func (s *sanitiser) handle(line []byte) error {
	if s.copying != nil {
		return s.row(line)
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
	}
	if s.plan.Failed() {
		return nil // nothing more reaches the server
	}
	_, err := s.w.Write(line)
	return err
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

// row sanitises one row of a COPY block, or ends the block.
func (s *sanitiser) row(line []byte) error {
	if bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte(`\.`)) {
		s.copying = nil
		if s.plan.Failed() {
			return nil
		}
		_, err := s.w.Write(line)
		return err
	}
	t := s.copying
	if t.Empty() {
		t.Row(nil)
		return nil
	}
	body := bytes.TrimSuffix(line, []byte("\n"))
	s.fields, s.offs = s.fields[:0], s.offs[:0]
	for rest, off := body, 0; ; {
		i := bytes.IndexByte(rest, '\t')
		s.offs = append(s.offs, off)
		if i < 0 {
			s.fields = append(s.fields, rest)
			break
		}
		s.fields = append(s.fields, rest[:i])
		rest, off = rest[i+1:], off+i+1
	}
	if cap(s.vals) < len(s.fields) {
		s.vals = make([]sanitise.Value, len(s.fields))
	}
	s.vals = s.vals[:len(s.fields)]
	for i, f := range s.fields {
		if t.Needs(i) {
			s.vals[i] = copyDecode(f)
		} else {
			s.vals[i] = sanitise.Value{B: f}
		}
	}
	if !t.Row(s.vals) {
		return nil
	}
	// The line as it came, each changed field replaced: what lies
	// between two changed fields (unchanged fields and their tabs) goes
	// out in one write.
	from := 0
	for i := range s.fields {
		if t.Changes(i) {
			s.w.Write(body[from:s.offs[i]])
			copyEncode(s.w, s.vals[i])
			from = s.offs[i] + len(s.fields[i])
		}
	}
	s.w.Write(body[from:])
	return s.w.WriteByte('\n')
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

// copyEncode writes a value in COPY's text format.
func copyEncode(w *bufio.Writer, v sanitise.Value) {
	if v.Null {
		w.WriteString(`\N`)
		return
	}
	if !needsEscape(v.B) {
		w.Write(v.B) // the common case
		return
	}
	for _, c := range v.B {
		switch c {
		case '\\':
			w.WriteString(`\\`)
		case '\t':
			w.WriteString(`\t`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		default:
			w.WriteByte(c)
		}
	}
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
