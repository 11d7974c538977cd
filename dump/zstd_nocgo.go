//go:build !cgo

package dump

import "io"

const haveCZstd = false

// newCZstd is never called in a build without cgo (haveCZstd); it is
// here so that newZstdEncoder compiles in both.
func newCZstd(w io.Writer, level int) (io.WriteCloser, error) { return newGoZstd(w, level) }
