package dump

import (
	"crypto/sha256"
	"encoding/hex"
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

// Counter counts the bytes written to it.
type Counter int64

func (c *Counter) Write(p []byte) (int, error) { *c += Counter(len(p)); return len(p), nil }

// NewReader decompresses a stored dump.
func NewReader(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }
