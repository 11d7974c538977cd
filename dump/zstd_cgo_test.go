//go:build cgo

package dump

import "io"

// newLibzstd is libzstd's encoder at the default level, for the tests.
func newLibzstd(w io.Writer) io.WriteCloser { return newCZstd(w, DefaultZstdLevel) }
