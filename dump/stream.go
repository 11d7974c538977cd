package dump

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Writer compresses what an engine dumps and measures the compressed bytes
// on their way to w, so the manifest's size and sha256 describe exactly the
// object stored, without a second pass over the data.
type Writer struct {
	gz  *gzip.Writer
	sum hash.Hash
	n   Counter
}

// NewWriter returns a Writer that sends gzip data to w.
func NewWriter(w io.Writer) *Writer {
	d := &Writer{sum: sha256.New()}
	d.gz, _ = gzip.NewWriterLevel(io.MultiWriter(w, d.sum, &d.n), gzip.DefaultCompression)
	return d
}

func (d *Writer) Write(p []byte) (int, error) { return d.gz.Write(p) }

// Close flushes the gzip stream; Size and SHA256 are final after it.
func (d *Writer) Close() error { return d.gz.Close() }

// Size is the number of compressed bytes written.
func (d *Writer) Size() int64 { return int64(d.n) }

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
	zr     *gzip.Reader
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

// NewReader starts decompressing a stored dump; a stream that is not gzip
// at all fails here.
func NewReader(r io.Reader) (*Reader, error) {
	src := &sourceReader{r: r}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, err
	}
	return &Reader{src: src, zr: zr}, nil
}

func (d *Reader) Read(p []byte) (int, error) {
	n, err := d.zr.Read(p)
	if err != nil && err != io.EOF && d.damage == nil && (d.src.err == nil || !errors.Is(err, d.src.err)) {
		d.damage = err
	}
	return n, err
}

// Finish reads what the consumer left unread, so damage in the last bytes
// (and the gzip trailer's checksum) is found even when the tool stopped
// reading early, and returns the damage found, if any.
func (d *Reader) Finish() error {
	if d.damage == nil {
		_, _ = io.Copy(io.Discard, d)
	}
	return d.damage
}

// Damage is the decompression error met so far, or nil.
func (d *Reader) Damage() error { return d.damage }

// Close releases the decompressor.
func (d *Reader) Close() error { return d.zr.Close() }
