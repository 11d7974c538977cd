//go:build !cgo

package dump

import "io"

const haveCZstd = false

// newZstdEncoder is Go's encoder in a build without cgo (zstd.go).
func newZstdEncoder(w io.Writer, level int) (io.WriteCloser, error) { return newGoZstd(w, level) }
