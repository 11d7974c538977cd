//go:build !cgo

package dump

import "io"

// newLibzstd: a build without cgo has no libzstd; the test that would use
// it stops before (haveCZstd).
func newLibzstd(io.Writer) io.WriteCloser { panic("no libzstd in a build without cgo") }
