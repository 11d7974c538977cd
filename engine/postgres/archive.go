package postgres

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// rowCounter reads an uncompressed custom-format archive as pg_dump writes
// it to a pipe (header, table of contents, then one block per table's
// data) and counts the rows of each table's COPY data as it passes: one
// row per newline, since COPY's text format escapes the newlines inside
// values. pg_dump reads every row once, in its own snapshot, so the counts
// are exact without reading the tables a second time.
//
// The format is pg_dump's (pg_backup_archiver.c, pg_backup_custom.c);
// archive versions 1.12 to 1.16 (pg_dump 11 to 17) are understood, and
// anything else is an error the caller falls back from.
type rowCounter struct {
	r       *bufio.Reader
	version int // major<<16 | minor<<8 | rev
	intSize int
	offSize int
	tables  map[int]string // dump ID of a TABLE DATA entry → schema.table
	counts  map[string]int64
}

const (
	archiveMin = 1<<16 | 12<<8
	archiveMax = 1<<16 | 16<<8 | 0xff
	blockData  = 1 // a table's COPY data
	blockBlobs = 3 // large objects
	copyEnd    = "\\.\n\n\n"
)

// countArchive reads the archive from r to its end and returns the rows of
// every table whose data it holds (schema.table, unquoted).
func countArchive(r *bufio.Reader) (map[string]int64, error) {
	c := &rowCounter{r: r, tables: map[int]string{}, counts: map[string]int64{}}
	if err := c.header(); err != nil {
		return nil, err
	}
	if err := c.toc(); err != nil {
		return nil, err
	}
	for {
		kind, err := c.r.ReadByte()
		if err == io.EOF {
			return c.counts, nil
		}
		if err != nil {
			return nil, err
		}
		id, err := c.int()
		if err != nil {
			return nil, err
		}
		switch kind {
		case blockData:
			table, ok := c.tables[id]
			var n int64
			var tail []byte // the data's last bytes
			if err := c.chunks(func(b []byte) {
				n += int64(bytes.Count(b, []byte{'\n'}))
				if len(b) >= len(copyEnd) { // holds the whole tail: nothing to append to
					tail = append(tail[:0], b[len(b)-len(copyEnd):]...)
					return
				}
				tail = append(tail, b...)
				tail = tail[max(0, len(tail)-len(copyEnd)):]
			}); err != nil {
				return nil, err
			}
			// pg_dump ends each table's data with COPY's end marker and
			// two empty lines, which are not rows.
			if !ok {
				continue
			}
			if !bytes.Equal(tail, []byte(copyEnd)) {
				return nil, fmt.Errorf("the data of %s does not end as COPY data does", table)
			}
			c.counts[table] += n - int64(strings.Count(copyEnd, "\n"))
		case blockBlobs:
			for {
				oid, err := c.int()
				if err != nil {
					return nil, err
				}
				if oid == 0 {
					break
				}
				if err := c.chunks(nil); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("archive block of unknown type %d", kind)
		}
	}
}

func (c *rowCounter) header() error {
	magic := make([]byte, 5)
	if _, err := io.ReadFull(c.r, magic); err != nil {
		return err
	}
	if string(magic) != "PGDMP" {
		return errors.New("not a custom-format archive")
	}
	v := make([]byte, 6) // major, minor, rev, int size, offset size, format
	if _, err := io.ReadFull(c.r, v); err != nil {
		return err
	}
	c.version = int(v[0])<<16 | int(v[1])<<8 | int(v[2])
	c.intSize, c.offSize = int(v[3]), int(v[4])
	if c.version < archiveMin || c.version > archiveMax {
		return fmt.Errorf("archive version %d.%d.%d is not one this counter knows", v[0], v[1], v[2])
	}
	if c.intSize < 1 || c.intSize > 8 || c.offSize < 1 || c.offSize > 8 {
		return fmt.Errorf("archive integer sizes %d/%d are not ones this counter knows", c.intSize, c.offSize)
	}
	if c.version >= 1<<16|15<<8 {
		algo, err := c.r.ReadByte()
		if err != nil {
			return err
		}
		if algo != 0 {
			return fmt.Errorf("archive compressed (algorithm %d): the counter reads uncompressed archives", algo)
		}
	} else {
		level, err := c.int()
		if err != nil {
			return err
		}
		if level != 0 {
			return fmt.Errorf("archive compressed (level %d): the counter reads uncompressed archives", level)
		}
	}
	for range 7 { // the dump's start time
		if _, err := c.int(); err != nil {
			return err
		}
	}
	for range 3 { // database name, server and pg_dump versions
		if _, _, err := c.str(); err != nil {
			return err
		}
	}
	return nil
}

// toc reads the table of contents and remembers the TABLE DATA entries.
func (c *rowCounter) toc() error {
	n, err := c.int()
	if err != nil {
		return err
	}
	for range n {
		id, err := c.int()
		if err != nil {
			return err
		}
		if _, err := c.int(); err != nil { // has a data dumper
			return err
		}
		// table OID, OID, tag, description
		var f [4]string
		for i := range f {
			if f[i], _, err = c.str(); err != nil {
				return err
			}
		}
		tag, desc := f[2], f[3]
		if _, err := c.int(); err != nil { // section
			return err
		}
		// definition, drop statement, COPY statement, namespace
		var g [4]string
		for i := range g {
			if g[i], _, err = c.str(); err != nil {
				return err
			}
		}
		schema := g[3]
		skip := 1 // tablespace
		if c.version >= 1<<16|14<<8 {
			skip++ // table access method
		}
		for range skip {
			if _, _, err := c.str(); err != nil {
				return err
			}
		}
		if c.version >= 1<<16|16<<8 {
			if _, err := c.int(); err != nil { // relkind
				return err
			}
		}
		for range 2 { // owner, "with OIDs"
			if _, _, err := c.str(); err != nil {
				return err
			}
		}
		for { // dependencies, to a null string
			_, null, err := c.str()
			if err != nil {
				return err
			}
			if null {
				break
			}
		}
		if _, err := c.r.Discard(1 + c.offSize); err != nil { // data offset
			return err
		}
		if desc == "TABLE DATA" {
			c.tables[id] = schema + "." + tag
		}
	}
	return nil
}

// chunks reads a block's data, length-prefixed chunks up to a zero
// length, handing each to f (nil: skipped) without copying it.
func (c *rowCounter) chunks(f func([]byte)) error {
	for {
		if f != nil {
			c.buffered(f)
		}
		n, err := c.int()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			return fmt.Errorf("archive chunk of length %d", n)
		}
		for n > 0 {
			b, err := c.r.Peek(min(n, c.r.Size()))
			if len(b) == 0 && err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			if f != nil {
				f(b)
			}
			c.r.Discard(len(b))
			n -= len(b)
		}
	}
}

// buffered hands f the whole chunks already in the reader's buffer,
// walking them in place: pg_dump writes a chunk per row, and the calls
// into bufio for each (Peek and Discard of its length, then of its data)
// cost more than counting its newline. It stops before the end of the
// block (a zero length), anything odd, and a chunk the buffer does not
// hold whole, all of which chunks reads as before.
func (c *rowCounter) buffered(f func([]byte)) {
	buf, _ := c.r.Peek(c.r.Buffered())
	used := 0
	for hdr := 1 + c.intSize; len(buf)-used >= hdr; {
		// Below 0: a negative length, or one too long for an int.
		n := c.decode(buf[used : used+hdr])
		if n <= 0 || len(buf)-used-hdr < n {
			break
		}
		f(buf[used+hdr : used+hdr+n])
		used += hdr + n
	}
	c.r.Discard(used)
}

// int reads pg_dump's integer: a sign byte, then intSize bytes, least
// significant first.
func (c *rowCounter) int() (int, error) {
	// Peek, not a buffer of its own: this runs once a row, and a slice
	// handed to io.ReadFull would be allocated each time.
	b, err := c.r.Peek(1 + c.intSize)
	if len(b) < 1+c.intSize {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	v := c.decode(b)
	c.r.Discard(1 + c.intSize) // b is read: Discard may now move the buffer
	return v, nil
}

// decode is the integer whose sign byte and intSize bytes begin b.
func (c *rowCounter) decode(b []byte) int {
	v := 0
	for i := c.intSize; i >= 1; i-- {
		v = v<<8 | int(b[i])
	}
	if b[0] != 0 {
		v = -v
	}
	return v
}

// str reads a length-prefixed string; a negative length is a null.
func (c *rowCounter) str() (string, bool, error) {
	n, err := c.int()
	if err != nil || n < 0 {
		return "", true, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return "", false, io.ErrUnexpectedEOF
	}
	return string(b), false, nil
}

// countThrough copies the archive from r to w and counts its rows on the
// way (countArchive). What w returns (werr) is kept apart from what
// the counter could not read (cerr): a counter that gives up still copies
// every byte, since the dump itself is good.
func countThrough(r io.Reader, w io.Writer) (counts map[string]int64, cerr, werr error) {
	t := &tee{r: r, w: w}
	br := bufio.NewReaderSize(t, 1<<20)
	counts, cerr = countArchive(br)
	if t.werr == nil && cerr != nil {
		_, cerr2 := io.Copy(io.Discard, br)
		if t.werr == nil && cerr2 != nil {
			return nil, cerr2, nil
		}
	}
	return counts, cerr, t.werr
}

// tee hands w what it reads from r, and remembers w's error.
type tee struct {
	r    io.Reader
	w    io.Writer
	werr error
}

func (t *tee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.werr = werr
			return n, werr
		}
	}
	return n, err
}
