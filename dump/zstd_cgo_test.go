//go:build cgo

package dump

import (
	"bytes"
	"strings"
	"testing"
)

// A cgo build's pushes compress with libzstd, not Go's encoder: the
// stream NewWriter stores is the one libzstd writes, byte for byte, and
// not Go's, and `envsync version` says so.
func TestCgoBuildsCompressWithLibzstd(t *testing.T) {
	payload := rows(4 << 20)
	compress := func(goZstd bool) []byte {
		useGoZstd = goZstd
		defer func() { useGoZstd = false }()
		var stored bytes.Buffer
		w, err := NewWriter(&stored, Zstd, 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(payload)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return stored.Bytes()
	}
	byDefault, goZstd := compress(false), compress(true)
	var c bytes.Buffer
	enc, _ := newCZstd(&c, DefaultZstdLevel)
	enc.Write(payload)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(byDefault, c.Bytes()) || bytes.Equal(byDefault, goZstd) {
		t.Errorf("a cgo build stored %d bytes, libzstd writes %d, Go's encoder %d: want libzstd's stream", len(byDefault), c.Len(), len(goZstd))
	}
	if !strings.HasPrefix(ZstdEncoder(), "libzstd") {
		t.Errorf("ZstdEncoder() = %q in a cgo build", ZstdEncoder())
	}
}
