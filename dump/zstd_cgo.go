//go:build cgo

package dump

import (
	"io"

	czstd "github.com/DataDog/zstd"
)

const haveCZstd = true

// newCZstd is libzstd's streaming encoder, on the caller's thread: one
// thread compresses at level 1 at about 480 MB/s on the test machine,
// more than twice what pg_dump delivers, so libzstd's worker threads would
// buy nothing but memory; and on the caller's thread it runs at the dump
// tool's priority (datapath.Push). Each Write hands on what it encoded in
// one write to w. It holds C memory until Close, which every NewWriter
// gets, a failed push's too (datapath.Push); Close frees it also when its
// last write to w fails.
func newCZstd(w io.Writer, level int) (io.WriteCloser, error) {
	return czstd.NewWriterLevel(w, level), nil
}
