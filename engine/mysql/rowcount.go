package mysql

import (
	"bytes"
	"fmt"
	"io"

	"github.com/envsync/envsync/dump"
)

// rowCounter passes mysqldump's output to w and counts, as it passes, the
// rows of every table: the tuples of its INSERT ... VALUES statements. The
// counts are then the rows the dump holds, by construction, with no second
// read of the tables and no lock to line a counting session up with
// mysqldump's snapshot. Tables are those with a CREATE TABLE (a view's
// stand-in is inside a /*!50001 comment, so not one); an empty one has no
// INSERT and counts 0.
//
// It reads mysqldump's own output, whose values are literals: numbers,
// NULL, 0x hex (--hex-blob) and '...' strings with backslash escapes. A
// stream it cannot follow sets err; the dump itself is unaffected.
type rowCounter struct {
	w      io.Writer
	counts map[string]int64
	// head collects the start of a line until it is known what the line
	// is; skip says the rest of the line is of no interest.
	head []byte
	skip bool
	// routines says the dump is between DELIMITER ;; and DELIMITER ;,
	// where an INSERT is a trigger's or a routine's statement, not data.
	routines bool
	// In the values of an INSERT: its table, the parentheses open, the
	// quote open, and whether the byte before was an escaping backslash.
	table   string
	values  bool
	depth   int
	quoted  bool
	escaped bool
	err     error
}

var (
	insertHead  = []byte("INSERT INTO `")
	createHead  = []byte("CREATE TABLE `")
	delimiterOn = []byte("DELIMITER ;;")
	valuesWord  = []byte(" VALUES")
)

func newRowCounter(w io.Writer) *rowCounter {
	return &rowCounter{w: w, counts: map[string]int64{}}
}

// Write passes p on, then counts what it holds; a write error is the
// writer's, never the counter's.
func (c *rowCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if c.err == nil {
		c.scan(p[:n])
	}
	return n, err
}

// ReadFrom takes mysqldump's output from its pipe in large reads, as the
// Writer behind it would (dump.CopyPipe): exec hands the pipe to it when
// the counter is the command's Stdout.
func (c *rowCounter) ReadFrom(r io.Reader) (int64, error) { return dump.CopyPipe(c, r) }

func (c *rowCounter) scan(p []byte) {
	for len(p) > 0 && c.err == nil {
		if c.values {
			p = c.tuples(p)
			continue
		}
		if c.skip {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p, c.skip = p[i+1:], false
			continue
		}
		p = c.line(p)
	}
}

// line reads the start of a line into head until it can tell an INSERT,
// a CREATE TABLE or a DELIMITER from anything else.
func (c *rowCounter) line(p []byte) []byte {
	i := bytes.IndexByte(p, '\n')
	take := p
	if i >= 0 {
		take = p[:i+1]
	}
	// Enough of the line to decide: an INSERT's head up to VALUES is a
	// table name long (64 characters, escaped at most twice).
	room := 256 - len(c.head)
	if len(take) > room {
		take = take[:room]
	}
	c.head = append(c.head, take...)
	p = p[len(take):]
	h := c.head
	full := bytes.HasSuffix(h, []byte{'\n'}) || len(h) >= 256
	switch {
	case bytes.HasPrefix(h, insertHead) && !c.routines:
		// INSERT INTO `name` VALUES, then the rows: on the same line
		// (MySQL) or from the next on (MariaDB).
		name, after := readQuoted(h[len(insertHead)-1:])
		j := -1
		if after != nil {
			j = bytes.Index(after, valuesWord)
		}
		if j < 0 {
			if full {
				c.err = fmt.Errorf("an INSERT without VALUES: %.60q", h)
			}
			return p
		}
		c.table, c.values, c.depth, c.quoted, c.escaped = name, true, 0, false, false
		// What followed VALUES in head is values: read it first.
		rest := append([]byte(nil), after[j+len(valuesWord):]...)
		c.head = c.head[:0]
		c.scan(rest)
		return p
	case prefixOf(h, insertHead) || prefixOf(h, createHead) || prefixOf(h, delimiterOn):
		if !full {
			return p // too short to tell yet
		}
	case bytes.HasPrefix(h, createHead) && !c.routines:
		if !full {
			return p // the name may go on (a `` inside it)
		}
		name, _ := readQuoted(h[len(createHead)-1:])
		if _, ok := c.counts[name]; !ok {
			c.counts[name] = 0
		}
	case bytes.HasPrefix(h, []byte("DELIMITER ")):
		if !full {
			return p
		}
		c.routines = bytes.HasPrefix(h, delimiterOn)
	}
	// Decided: the rest of the line is of no interest.
	c.skip = !bytes.HasSuffix(c.head, []byte{'\n'})
	c.head = c.head[:0]
	return p
}

// prefixOf says h is a proper start of word: too short to be told apart.
func prefixOf(h, word []byte) bool {
	return len(h) < len(word) && bytes.HasPrefix(word, h)
}

// tuples reads values: every ( at depth 0 is a row; the ; at depth 0
// ends the statement. It returns what follows what it read.
func (c *rowCounter) tuples(p []byte) []byte {
	for i := 0; i < len(p); i++ {
		if c.quoted {
			end, ok := c.string(p, i)
			if !ok {
				return nil // the string goes on in the next chunk
			}
			i = end // the closing quote ('' reopens at once)
			continue
		}
		switch p[i] {
		case '\'':
			c.quoted = true
		case '(':
			if c.depth == 0 {
				c.counts[c.table]++
			}
			c.depth++
		case ')':
			c.depth--
			if c.depth < 0 {
				c.err = fmt.Errorf("unbalanced ) in the rows of %s", c.table)
				return nil
			}
		case ';':
			if c.depth == 0 {
				c.values = false
				c.skip = true // to the end of the line
				return p[i+1:]
			}
		}
	}
	return nil
}

// string reads a quoted string from p[i] on, to its closing quote: it
// returns where that is, or false when p ends first (escaped then says a
// backslash at p's end escapes the next chunk's first byte). A string's
// bytes are most of a dump, so it jumps from backslash to backslash up to
// the next quote, finding each once.
func (c *rowCounter) string(p []byte, i int) (int, bool) {
	quote := -1 // where the next quote is, once looked for
	for {
		if c.escaped {
			if i >= len(p) {
				return 0, false
			}
			if i == quote {
				quote = -1 // that quote was escaped: look further
			}
			i++
			c.escaped = false
		}
		if quote < i {
			if q := bytes.IndexByte(p[i:], '\''); q >= 0 {
				quote = i + q
			} else {
				quote = len(p)
			}
		}
		if b := bytes.IndexByte(p[i:quote], '\\'); b >= 0 {
			i += b + 1
			c.escaped = true
			continue
		}
		if quote == len(p) {
			return 0, false
		}
		c.quoted = false
		return quote, true
	}
}

// result is the counts, once the dump has ended.
func (c *rowCounter) result() (map[string]int64, error) {
	switch {
	case c.err != nil:
		return nil, c.err
	case c.values:
		return nil, fmt.Errorf("the dump ended inside the rows of %s", c.table)
	}
	return c.counts, nil
}
