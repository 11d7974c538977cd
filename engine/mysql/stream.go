package mysql

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/sanitise"
)

// sanitiser applies a sanitise plan to mysqldump's output on its way to
// the mysql client: statements pass as they are; the tuples of each
// INSERT are decoded, transformed or filtered by the plan, and written
// again. mysqldump writes each table's CREATE TABLE just before its rows,
// so a table the rule set does not cover is found there, before any of its
// rows; once the plan has failed nothing more is written, and the rest of
// the dump is only read for the names of other uncovered tables and
// columns, so the error names every one.
type sanitiser struct {
	plan *sanitise.Plan
	w    *bufio.Writer
	// columns of the table whose CREATE TABLE is being read (creating),
	// and of every table read so far.
	creating string
	cols     []sanitise.Column
	tables   map[string]*sanitise.TableRows
	// ins is the table whose INSERT is under way, head its INSERT INTO
	// ... VALUES, kept how many of its tuples were written.
	ins  *sanitise.TableRows
	head []byte
	kept int
	line []byte
	out  []byte
	vals []sanitise.Value
	raw  [][]byte
}

func newSanitiser(plan *sanitise.Plan, w io.Writer) *sanitiser {
	return &sanitiser{plan: plan, w: bufio.NewWriterSize(w, 1<<20), tables: map[string]*sanitise.TableRows{}}
}

func (s *sanitiser) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := engine.ReadLine(br, &s.line)
		if len(line) > 0 {
			if werr := s.handle(line); werr != nil && !s.plan.Failed() {
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

var (
	createTable = []byte("CREATE TABLE `")
	insertInto  = []byte("INSERT INTO `")
)

func (s *sanitiser) handle(line []byte) error {
	if s.ins != nil {
		return s.values(line)
	}
	switch {
	case s.creating != "":
		s.column(line)
	case bytes.HasPrefix(line, createTable):
		name, _ := readQuoted(line[len(createTable)-1:])
		s.creating, s.cols = name, nil
	case bytes.HasPrefix(line, insertInto):
		return s.insert(line)
	case bytes.HasPrefix(line, []byte("INSERT ")) || bytes.HasPrefix(line, []byte("REPLACE ")):
		// INSERT IGNORE, REPLACE (a my.cnf [mysqldump] setting on the
		// host that dumped): rows this does not read must not pass.
		s.plan.Refuse("the dump writes rows in a form the sanitiser does not read (INSERT IGNORE or REPLACE: a my.cnf [mysqldump] setting where it was taken); dump it again with this envsync, which asks for INSERT INTO")
		return nil
	}
	if s.plan.Failed() {
		return nil // nothing more reaches the server
	}
	_, err := s.w.Write(line)
	return err
}

// column reads one line of a CREATE TABLE; its last line starts the table.
func (s *sanitiser) column(line []byte) {
	l := strings.TrimSpace(string(line))
	if strings.HasPrefix(l, ")") {
		s.tables[s.creating] = s.plan.Table(s.creating, s.cols)
		s.creating = ""
		return
	}
	if !strings.HasPrefix(l, "`") {
		return // a key or a constraint
	}
	name, rest := readQuoted([]byte(l))
	s.cols = append(s.cols, sanitise.Column{Name: name, Limit: typeLimit(string(rest))})
}

// typeLimit is the length of a varchar(n) or char(n) column.
func typeLimit(def string) int {
	def = strings.TrimSpace(def)
	for _, t := range []string{"varchar(", "char("} {
		if strings.HasPrefix(def, t) {
			n, _ := strconv.Atoi(def[len(t) : len(t)+strings.IndexByte(def[len(t):], ')')])
			return n
		}
	}
	return 0
}

// readQuoted reads a `quoted` identifier at the start of b.
func readQuoted(b []byte) (string, []byte) {
	if len(b) == 0 || b[0] != '`' {
		return "", b
	}
	var name []byte
	for i := 1; i < len(b); i++ {
		if b[i] == '`' {
			if i+1 < len(b) && b[i+1] == '`' {
				name = append(name, '`')
				i++
				continue
			}
			return string(name), b[i+1:]
		}
		name = append(name, b[i])
	}
	return string(name), nil
}

// insert starts an INSERT INTO `t` VALUES statement: its tuples follow on
// the same line (MySQL's mysqldump) or one to a line (MariaDB's).
func (s *sanitiser) insert(line []byte) error {
	name, rest := readQuoted(line[len(insertInto)-1:])
	i := bytes.Index(rest, []byte("VALUES"))
	if i < 0 {
		return nil // not a statement this reads: leave the dump to fail
	}
	t := s.tables[name]
	if t == nil {
		t = s.plan.Table(name, nil) // no CREATE TABLE seen: nothing is known of it
		s.tables[name] = t
	}
	s.ins = t
	s.head = append(s.head[:0], line[:len(line)-len(rest)+i+len("VALUES")]...)
	s.kept = 0
	return s.values(rest[i+len("VALUES"):])
}

// values reads the tuples of the INSERT under way in b, up to its ;, and
// writes those the plan keeps: the statement's head before the first, and
// nothing at all when it keeps none.
func (s *sanitiser) values(b []byte) error {
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		if len(b) == 0 {
			return nil // the next line goes on
		}
		switch b[0] {
		case ',':
			b = b[1:]
			continue
		case ';':
			s.ins = nil
			if s.kept == 0 || s.plan.Failed() {
				return nil
			}
			_, err := s.w.WriteString(";\n")
			return err
		case '(':
		default:
			s.ins = nil
			return nil // not a tuple: leave the dump to fail
		}
		var ok bool
		if b, ok = s.tuple(s.ins, b); !ok {
			s.ins = nil
			return nil
		}
		if len(s.out) == 0 || s.plan.Failed() {
			continue // filtered out
		}
		if s.kept == 0 {
			s.w.Write(s.head)
			s.w.WriteByte('\n')
		} else {
			s.w.WriteString(",\n")
		}
		s.kept++
		if _, err := s.w.Write(s.out); err != nil {
			return err
		}
	}
}

// tuple reads one (v, v, ...) from the start of b and applies the plan;
// s.out is the tuple to write, empty when the plan drops the row. It
// returns the rest of b.
func (s *sanitiser) tuple(t *sanitise.TableRows, b []byte) ([]byte, bool) {
	s.out = s.out[:0]
	b = b[1:] // (
	s.raw = s.raw[:0]
	for {
		n := valueEnd(b)
		if n < 0 {
			return nil, false
		}
		s.raw = append(s.raw, b[:n])
		b = b[n:]
		if len(b) == 0 {
			return nil, false
		}
		if b[0] == ')' {
			b = b[1:]
			break
		}
		b = b[1:] // ,
	}
	if cap(s.vals) < len(s.raw) {
		s.vals = make([]sanitise.Value, len(s.raw))
	}
	s.vals = s.vals[:len(s.raw)]
	for i, r := range s.raw {
		if t.Needs(i) {
			s.vals[i] = decodeValue(r)
		} else {
			s.vals[i] = sanitise.Value{B: r}
		}
	}
	if !t.Row(s.vals) {
		return b, true
	}
	s.out = append(s.out, '(')
	for i := range s.raw {
		if i > 0 {
			s.out = append(s.out, ',')
		}
		if t.Changes(i) {
			s.out = encodeValue(s.out, s.vals[i])
		} else {
			s.out = append(s.out, s.raw[i]...)
		}
	}
	s.out = append(s.out, ')')
	return b, true
}

// valueEnd is the length of the value at the start of b: a 'string' with
// backslash escapes, or anything up to the next , or ).
func valueEnd(b []byte) int {
	if len(b) > 0 && b[0] == '\'' {
		for i := 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '\'':
				if i+1 < len(b) && b[i+1] == '\'' {
					i++
					continue
				}
				return i + 1
			}
		}
		return -1
	}
	for i, c := range b {
		if c == ',' || c == ')' {
			return i
		}
	}
	return -1
}

// decodeValue reads one value of an INSERT: NULL, a 'string' (its
// escapes undone), or a number, kept as its text.
func decodeValue(r []byte) sanitise.Value {
	if string(r) == "NULL" {
		return sanitise.Value{Null: true}
	}
	if len(r) < 2 || r[0] != '\'' {
		return sanitise.Value{B: r}
	}
	in := r[1 : len(r)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c == '\'' && i+1 < len(in) && in[i+1] == '\'' {
			out = append(out, '\'')
			i++
			continue
		}
		if c != '\\' || i+1 == len(in) {
			out = append(out, c)
			continue
		}
		i++
		switch in[i] {
		case '0':
			out = append(out, 0)
		case 'b':
			out = append(out, '\b')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'Z':
			out = append(out, 0x1a)
		default:
			out = append(out, in[i])
		}
	}
	return sanitise.Value{B: out}
}

// encodeValue writes a value as mysqldump would: NULL, or a 'string'
// with \0, newlines, quotes, backslashes and ^Z escaped.
func encodeValue(out []byte, v sanitise.Value) []byte {
	if v.Null {
		return append(out, "NULL"...)
	}
	out = append(out, '\'')
	for _, c := range v.B {
		switch c {
		case 0:
			out = append(out, `\0`...)
		case '\n':
			out = append(out, `\n`...)
		case '\r':
			out = append(out, `\r`...)
		case '\\':
			out = append(out, `\\`...)
		case '\'':
			out = append(out, `\'`...)
		case '"':
			out = append(out, `\"`...)
		case 0x1a:
			out = append(out, `\Z`...)
		default:
			out = append(out, c)
		}
	}
	return append(out, '\'')
}
