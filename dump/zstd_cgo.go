//go:build cgo

package dump

import (
	"io"

	czstd "github.com/DataDog/zstd"
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
func newCZstd(w io.Writer, level int) io.WriteCloser {
	return czstd.NewWriterLevel(w, level)
}
