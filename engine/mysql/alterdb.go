package mysql

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
)

// alterDatabase is the line mysqldump writes around a stored program
// created while its schema had another default collation: it changes the
// schema's default, named as the source's, for the CREATE and back after.
var alterDatabase = regexp.MustCompile("^ALTER DATABASE `(?:[^`]|``)+`( CHARACTER SET \\w+ COLLATE \\w+ ;\r?\n)$")

// unnamedAlters passes a dump through with every alterDatabase line made to
// name no schema, so it acts on the one being restored into (the staging
// schema) and not on whatever schema of the source's name this server has:
// the live one, another database, or none (which failed the restore). Row
// data never starts a line with "ALTER DATABASE": mysqldump writes each
// INSERT on one line and escapes the newlines in values.
type unnamedAlters struct {
	r   *bufio.Reader
	buf []byte // what is left of the current line
	mid bool   // the last line read was longer than the buffer
}

func newUnnamedAlters(r io.Reader) *unnamedAlters {
	return &unnamedAlters{r: bufio.NewReaderSize(r, 256<<10)}
}

var alterPrefix = []byte("ALTER DATABASE `")

func (u *unnamedAlters) Read(p []byte) (int, error) {
	for len(u.buf) == 0 {
		line, err := u.r.ReadSlice('\n')
		if !u.mid && bytes.HasPrefix(line, alterPrefix) {
			if m := alterDatabase.FindSubmatch(line); m != nil {
				line = append([]byte("ALTER DATABASE"), m[1]...)
			}
		}
		u.mid = err == bufio.ErrBufferFull
		u.buf = line
		if err != nil && err != bufio.ErrBufferFull {
			if len(u.buf) == 0 {
				return 0, err
			}
			break
		}
	}
	n := copy(p, u.buf)
	u.buf = u.buf[n:]
	return n, nil
}
