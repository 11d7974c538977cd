package engine

import (
	"errors"
	"regexp"
	"strings"
	"sync"
)

// PermanentError marks a failure that retrying cannot fix (wrong client
// version, a dump the server refuses); activities report it as
// non-retryable so the run fails at once with the reason.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err is, or wraps, a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// Tail keeps the last bytes a tool wrote to stderr, for error messages
// that say what went wrong without unbounded memory.
type Tail struct {
	mu  sync.Mutex
	buf []byte
}

// tailMax is how much of a tool's stderr a Tail keeps.
const tailMax = 4096

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = t.buf[len(t.buf)-tailMax:]
	}
	return len(p), nil
}

// dataInMessages matches the context lines PostgreSQL and others print for a
// failing row ("COPY users, line 3: "<the row>""); the row is data and must
// not reach an error message, which ends up in workflow history.
// The same goes for constraint details that quote values.
var dataInMessages = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(COPY [^,\n]+, line \d+)[^\n]*`), "$1 (row withheld)"},
	{regexp.MustCompile(`(Key \([^)\n]*\))=\([^\n]*`), "$1=(value withheld)"},
	{regexp.MustCompile(`(Failing row contains)[^\n]*`), "$1 (row withheld)"},
	// The mysql client echoes the failing statement between dashed lines.
	{regexp.MustCompile(`(?s)-{14}\n.*?\n-{14}\n?`), "(statement withheld)\n"},
	// MongoDB names the duplicate key's value.
	{regexp.MustCompile(`(dup key: )\{[^}\n]*\}`), "$1{ (value withheld) }"},
	// MySQL/MariaDB quote the offending value.
	{regexp.MustCompile(`(Duplicate entry) '(?:[^'\\]|''|\\.)*'`), "$1 (value withheld)"},
	{regexp.MustCompile(`(value: ?) '(?:[^'\\]|''|\\.)*'`), "$1(value withheld)"},
}

// String returns the kept text, trimmed, with row data cut out.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Redact(string(t.buf))
}

// Redact removes row data from a database tool's message.
func Redact(s string) string {
	for _, d := range dataInMessages {
		s = d.re.ReplaceAllString(s, d.with)
	}
	return strings.TrimSpace(s)
}
