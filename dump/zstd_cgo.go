//go:build cgo

package dump

import (
	"encoding/binary"
	"errors"
	"io"

	czstd "github.com/DataDog/zstd"
	"github.com/cespare/xxhash/v2"
)

const haveCZstd = true

// newZstdEncoder is libzstd's encoder in a cgo build, unless a test asked
// for Go's (useGoZstd).
func newZstdEncoder(w io.Writer, level int) (io.WriteCloser, error) {
	if useGoZstd {
		return newGoZstd(w, level)
	}
	return newCZstd(w, level), nil
}

// newCZstd is libzstd's streaming encoder, on the caller's thread: one
// thread compresses at level 1 at about 480 MB/s on the test machine,
// more than twice what pg_dump delivers, so libzstd's worker threads would
// buy nothing but memory; and on the caller's thread it runs at the dump
// tool's priority (datapath.Push). Each Write hands on what it encoded in
// one write to w.
//
// It holds C memory, which the garbage collector does not see, until
// Close frees it: Close also when the writes to w failed (its last one
// fails too, and it frees the memory then), but not after libzstd itself
// failed (out of memory), nor ever twice (dump.Writer.Close guards that).
// Every dump.Writer is closed, a failed push's too (datapath.Push).
//
// The frame carries zstd's content checksum (zstd.go). The binding sets
// no parameters of libzstd's but the level, so the checksum is added the
// way the format defines it: the header's Content_Checksum_flag set, and
// after the last block the low 32 bits of the XXH64 (seed 0) of what was
// compressed, little-endian (RFC 8878, 3.1.1).
func newCZstd(w io.Writer, level int) io.WriteCloser {
	return &cEncoder{z: czstd.NewWriterLevel(&checksumFlag{w: w}, level), sum: xxhash.New(), w: w}
}

type cEncoder struct {
	z   *czstd.Writer
	sum *xxhash.Digest
	w   io.Writer
}

func (e *cEncoder) Write(p []byte) (int, error) {
	e.sum.Write(p)
	return e.z.Write(p)
}

func (e *cEncoder) Close() error {
	if err := e.z.Close(); err != nil {
		return err
	}
	_, err := e.w.Write(binary.LittleEndian.AppendUint32(nil, uint32(e.sum.Sum64())))
	return err
}

// zstd's frame magic number, as it is stored.
var zstdMagic = [4]byte{0x28, 0xb5, 0x2f, 0xfd}

// checksumFlag passes libzstd's frame to w with the Content_Checksum_flag
// (bit 2 of the Frame_Header_Descriptor, the byte after the magic number)
// set.
type checksumFlag struct {
	w io.Writer
	n int64
}

func (c *checksumFlag) Write(p []byte) (int, error) {
	if c.n <= 4 && c.n+int64(len(p)) > 4 {
		i := 4 - c.n
		// The header is libzstd's own: it sent the magic number first
		// and the bit is clear, as libzstd writes no checksum by default.
		if c.n == 0 && [4]byte(p[:4]) != zstdMagic || p[i]&0x04 != 0 {
			return 0, errors.New("zstd: libzstd's frame does not start as expected; cannot add the content checksum")
		}
		// p is libzstd's output buffer, written again only by its next call.
		p[i] |= 0x04
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
