package dump

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"filippo.io/age"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compressions a dump may be stored with. The manifest records which one,
// and the key's suffix shows it, so a pull (or a person with the standard
// tools) reads each dump the way it was written.
const (
	Zstd = "zstd"
	Gzip = "gzip"
	None = "none"
)

// Compressions lists the compressions, default first.
var Compressions = []string{Zstd, Gzip, None}

// suffixes of data keys, by compression. "none" has one too, so a database
// whose name ends in ".gz" is never mistaken for a gzip dump of a shorter
// name.
var suffixes = map[string]string{Zstd: ".zst", Gzip: ".gz", None: ".raw"}

// Level ranges: zstd's 1 (fastest) to 19, gzip's 1 to 9. zstd's 20-22
// ("ultra", which its own tool refuses without --ultra) take a window of
// 32 to 128 MiB and some hundreds of MiB of C memory a push in libzstd,
// on one thread, for a little less stored; 19 is already many times
// level 1's CPU.
var levels = map[string][2]int{Zstd: {1, 19}, Gzip: {1, 9}, None: {0, 0}}

// LevelRange says which compression levels c takes; 0 always means the
// default.
func LevelRange(c string) (lo, hi int) { r := levels[c]; return r[0], r[1] }

// DefaultZstdLevel was chosen by measurement (bench/): zstd's fastest
// level keeps up with pg_dump on two cores, where the default level became
// the slowest stage of the stream.
const DefaultZstdLevel = 1

// Writer compresses what an engine dumps and measures the compressed bytes
// on their way to w, so the manifest's size and sha256 describe exactly the
// object stored, without a second pass over the data.
type Writer struct {
	enc io.WriteCloser
	// out gathers the compressed (and encrypted) stream into large writes
	// to w, which is an upload pipe, where each write waits for the
	// uploader's goroutine to take it. Go's zstd encoder hands on each 64
	// KiB block as it is encoded, about 10 KiB; on two cores those
	// hand-offs, about 14,000 for a 900 MB dump, cost the worker half a
	// core-second in the scheduler (docs/benchmarks.md); in 1 MiB pieces
	// they cost nothing to speak of. libzstd hands on about a fifth of
	// each 1 MiB written, and gzip and age write small pieces too.
	out *bufio.Writer
	// sealed encrypts the compressed stream (nil: not encrypted); the
	// size and sha256 are of what it writes, the object stored.
	sealed io.WriteCloser
	sum    hash.Hash
	n      Counter
	in     atomic.Int64
	// closed says Close ran, with closeErr its result.
	closed   bool
	closeErr error
}

// NewWriter returns a Writer that sends data compressed with c at level
// (0: the default) to w, encrypted with age to recipients when there are
// any. zstd is libzstd's encoder where the build has cgo, Go's otherwise
// (zstd.go).
func NewWriter(w io.Writer, c string, level int, recipients ...age.Recipient) (*Writer, error) {
	d := &Writer{sum: sha256.New(), out: bufio.NewWriterSize(w, PipeSize)}
	var out io.Writer = io.MultiWriter(d.out, d.sum, &d.n)
	if len(recipients) > 0 {
		sealed, err := age.Encrypt(out, recipients...)
		if err != nil {
			return nil, fmt.Errorf("encrypt the dump: %w", err)
		}
		d.sealed, out = sealed, sealed
	}
	switch c {
	case Zstd, "":
		if level == 0 {
			level = DefaultZstdLevel
		}
		enc, err := newZstdEncoder(out, level)
		if err != nil {
			return nil, err
		}
		d.enc = enc
	case Gzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		gz, err := gzip.NewWriterLevel(out, level)
		if err != nil {
			return nil, err
		}
		d.enc = gz
	case None:
		d.enc = nopCloser{out}
	default:
		return nil, fmt.Errorf("unknown compression %q; known: %s", c, strings.Join(Compressions, ", "))
	}
	return d, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (d *Writer) Write(p []byte) (int, error) {
	n, err := d.enc.Write(p)
	d.in.Add(int64(n))
	return n, err
}

// ReadFrom takes a database tool's output from its pipe in large reads
// (CopyPipe): exec hands a child's stdout to it when the Writer is the
// command's Stdout.
func (d *Writer) ReadFrom(r io.Reader) (int64, error) {
	return CopyPipe(d, r)
}

// Close flushes the compressed (and encrypted) stream; Size and SHA256 are
// final after it. It frees the encoder's memory (libzstd's is C memory,
// which the garbage collector does not see), so every Writer must be
// closed; closing again returns the first Close's error and does nothing
// else, as libzstd's encoder must not be closed twice.
func (d *Writer) Close() error {
	if !d.closed {
		d.closed, d.closeErr = true, d.close()
	}
	return d.closeErr
}

func (d *Writer) close() error {
	if err := d.enc.Close(); err != nil {
		return err
	}
	if d.sealed != nil {
		if err := d.sealed.Close(); err != nil {
			return err
		}
	}
	return d.out.Flush()
}

// Size is the number of compressed bytes written.
func (d *Writer) Size() int64 { return int64(d.n) }

// In is the number of bytes the engine has written so far, before
// compression; safe to call while writing.
func (d *Writer) In() int64 { return d.in.Load() }

// SHA256 is the hex digest of the compressed bytes.
func (d *Writer) SHA256() string { return hex.EncodeToString(d.sum.Sum(nil)) }

// HumanSize is n bytes in binary units for messages: "512 B", "1.5 GiB".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Counter counts the bytes written to it.
type Counter int64

func (c *Counter) Write(p []byte) (int, error) { *c += Counter(len(p)); return len(p), nil }

// Reader decompresses a stored dump and remembers why decompressing failed,
// if it did. The database tool reading from it only sees its input end
// early and complains about that ("out of memory", "unexpected end of
// file"); Damage says what really happened, so the run can report the
// dump as damaged instead of the tool's confusion.
type Reader struct {
	src    *sourceReader
	dec    io.Reader
	close  func()
	damage error
}

// sourceReader remembers the error of the stream under the decompressor:
// a failed read of the file or network is not damage to the dump.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// NewReader starts decompressing a dump stored with compression c, and
// decrypting it first with identities when there are any (an encrypted
// dump); a stream that does not even start as c, or as age for one of
// identities, fails here.
func NewReader(r io.Reader, c string, identities ...age.Identity) (*Reader, error) {
	src := &sourceReader{r: r}
	d := &Reader{src: src, close: func() {}}
	var in io.Reader = src
	if len(identities) > 0 {
		opened, err := age.Decrypt(src, identities...)
		if err != nil {
			return nil, err
		}
		in = opened
	}
	switch c {
	case Gzip, "": // manifests from before zstd have no other
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, err
		}
		d.dec, d.close = zr, func() { zr.Close() }
	case Zstd:
		// One goroutine: decoding is cheap next to any restore, and
		// zstd's parallel decoder buffers blocks ahead in memory.
		zr, err := zstd.NewReader(in, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, err
		}
		d.dec, d.close = zr, zr.Close
	case None:
		d.dec = in
	default:
		return nil, fmt.Errorf("unknown compression %q", c)
	}
	return d, nil
}

func (d *Reader) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if err != nil && err != io.EOF && d.damage == nil && (d.src.err == nil || !errors.Is(err, d.src.err)) {
		d.damage = err
	}
	return n, err
}

// WriteTo feeds what the Reader reads to w 1 MiB at a time: exec hands
// a tool's input pipe to it when the Reader is the tool's Stdin, and
// would otherwise copy 32 KiB at a time into a 64 KiB pipe, each write
// that finds it full parking until pg_restore reads a little. The pipe is
// grown to PipeSize first.
func (d *Reader) WriteTo(w io.Writer) (int64, error) {
	growPipe(w)
	// Neither side's own ReadFrom/WriteTo: an *os.File's ReadFrom would
	// come back here.
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{d}, make([]byte, PipeSize))
}

// Finish reads up to limit bytes the consumer left unread (all of them
// for a restore that succeeded, so damage in the last bytes and a
// trailer's checksum are found even when the tool stopped reading early;
// a little after a failed one, to tell damage from the tool's own error
// without reading the rest of a large dump), and returns the damage found.
func (d *Reader) Finish(limit int64) error {
	if d.damage == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(d, limit))
	}
	return d.damage
}

// Damage is the decompression error met so far, or nil.
func (d *Reader) Damage() error { return d.damage }

// Close releases the decompressor.
func (d *Reader) Close() error { d.close(); return nil }
