package dump

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// rows is about size bytes of what pg_dump's COPY data looks like: ids,
// json and hex, compressible as a real table is, not as one repeated line.
func rows(size int) []byte {
	var b bytes.Buffer
	for i := 1; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%d\t{\"n\": %d, \"name\": \"item %d\", \"price\": %d.%02d}\t%x %x\n", i, i, i, i%10000/100, i%100, i*2654435761, i*40503)
	}
	return b.Bytes()
}

// encoders are the values of useGoZstd that cover this build's zstd
// encoders: Go's always, libzstd's in a cgo build.
func encoders() []bool {
	if haveCZstd {
		return []bool{true, false}
	}
	return []bool{true}
}

// stored is payload as NewWriter stores it with zstd at level, written as
// a push writes: in pieces of 1 MiB and less.
func stored(t *testing.T, payload []byte, level int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, Zstd, level)
	if err != nil {
		t.Fatal(err)
	}
	for p := payload; len(p) > 0; {
		n := min(len(p), 1<<20-17)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Both zstd encoders, libzstd's (a cgo build's) and Go's (a build without
// cgo), write dumps that a pull reads back exactly, and both honour the
// level: a higher one stores less.
func TestZstdEncodersWriteWhatPullsRead(t *testing.T) {
	payload := rows(3 << 20)
	t.Cleanup(func() { useGoZstd = false })
	for _, goZstd := range encoders() {
		useGoZstd = goZstd
		sizes := map[int]int{}
		for _, level := range []int{1, 19} {
			stored := stored(t, payload, level)
			r, err := NewReader(bytes.NewReader(stored), Zstd)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := io.ReadAll(r)
			if !bytes.Equal(back, payload) || r.Finish(math.MaxInt64) != nil {
				t.Fatalf("%s, level %d: the pull read back %d bytes of %d, or different ones", ZstdEncoder(), level, len(back), len(payload))
			}
			if len(stored) > len(payload)/3 {
				t.Errorf("%s, level %d: stored %d bytes of %d", ZstdEncoder(), level, len(stored), len(payload))
			}
			sizes[level] = len(stored)
		}
		if sizes[19] >= sizes[1] {
			t.Errorf("%s: level 19 stored %d bytes, level 1 %d: the level is not applied", ZstdEncoder(), sizes[19], sizes[1])
		}
		t.Logf("%s: level 1 %d bytes, level 19 %d, of %d", ZstdEncoder(), sizes[1], sizes[19], len(payload))
	}
}

// A build without cgo (CGO_ENABLED=0) compiles, with Go's encoder in
// place of libzstd's.
func TestBuildsWithoutCgo(t *testing.T) {
	// GOFLAGS could ask for what needs cgo (-race).
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	cmd := exec.Command("go", "list", "-f", "{{join .GoFiles \" \"}}", ".")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go list ./dump: %v", err)
	}
	if files := strings.Fields(string(out)); !strings.Contains(string(out), "zstd_nocgo.go") || strings.Contains(string(out), "zstd_cgo.go") {
		t.Fatalf("CGO_ENABLED=0 go list ./dump: files %v; want zstd_nocgo.go and not zstd_cgo.go", files)
	}
	cmd = exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./dump: %v\n%s", err, out)
	}
}

// A cgo build's pushes compress with libzstd, not Go's encoder: the
// stream NewWriter stores is the one libzstd writes, byte for byte, and
// not Go's, and ZstdEncoder, which `envsync version` prints, says so. Go
// builds without cgo when it finds no C compiler; that fails here unless
// asked for (CGO_ENABLED=0, in the environment or `go env -w`).
func TestCgoBuildsCompressWithLibzstd(t *testing.T) {
	if !haveCZstd {
		if cgoTurnedOff() {
			t.Skip("CGO_ENABLED=0: this build compresses with Go's encoder, as asked")
		}
		t.Fatal("built without cgo, so pushes compress with Go's slower encoder: Go found no C compiler; install gcc (bash .ci/deps does)")
	}
	payload := rows(4 << 20)
	compress := func(goZstd bool) []byte {
		useGoZstd = goZstd
		defer func() { useGoZstd = false }()
		return stored(t, payload, 0)
	}
	byDefault, goZstd := compress(false), compress(true)
	var c bytes.Buffer
	enc := newLibzstd(&c)
	if _, err := enc.Write(payload); err != nil {
		t.Fatal(err)
	}
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

// cgoTurnedOff says whether cgo was turned off on purpose: CGO_ENABLED=0
// in the environment or in go's own settings (`go env -w`), not by Go
// finding no C compiler (`go env CGO_ENABLED` says 0 for both).
func cgoTurnedOff() bool {
	if os.Getenv("CGO_ENABLED") == "0" {
		return true
	}
	out, err := exec.Command("go", "env", "GOENV").Output()
	if err != nil {
		return false
	}
	settings, err := os.ReadFile(strings.TrimSpace(string(out)))
	return err == nil && slices.Contains(strings.Fields(string(settings)), "CGO_ENABLED=0")
}

// Closing a Writer twice does nothing the second time and says what the
// first said: libzstd's encoder must not be closed twice.
func TestWriterClosesOnce(t *testing.T) {
	for _, c := range Compressions {
		var stored bytes.Buffer
		w, err := NewWriter(&stored, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(rows(1 << 20)); err != nil {
			t.Fatal(err)
		}
		first, second := w.Close(), w.Close()
		if first != nil || second != nil || int64(stored.Len()) != w.Size() {
			t.Errorf("%s: Close %v, again %v; stored %d of %d", c, first, second, stored.Len(), w.Size())
		}
	}
}

// A byte changed anywhere in a stored zstd dump, even before its sha256
// was taken (so the manifest agrees with it), is found as damage by the
// pull's reader: the frame's content checksum covers what the decoder
// alone decodes to other bytes. Both encoders; and the zstd tool, which
// checks the sum too, accepts the frames as written.
func TestDamageInsideTheFrameIsFound(t *testing.T) {
	zstdTool, err := exec.LookPath("zstd")
	if err != nil {
		t.Fatal("the zstd tool is not installed: bash .ci/deps installs it (apt-get install zstd)")
	}
	t.Cleanup(func() { useGoZstd = false })
	for _, goZstd := range encoders() {
		useGoZstd = goZstd
		for _, size := range []int{3000, 40000, 300000} {
			payload := rows(size)
			stored := stored(t, payload, 0)
			check := exec.Command(zstdTool, "-t", "-q")
			check.Stdin = bytes.NewReader(stored)
			if out, err := check.CombinedOutput(); err != nil {
				t.Fatalf("%s, %d bytes: zstd -t refuses the frame: %v %s", ZstdEncoder(), size, err, out)
			}
			missed := 0
			for i := 0; i < len(stored); i += max(1, len(stored)/97) {
				damaged := bytes.Clone(stored)
				damaged[i] ^= 0x55
				r, err := NewReader(bytes.NewReader(damaged), Zstd)
				if err == nil {
					back, _ := io.ReadAll(r)
					if r.Finish(math.MaxInt64) == nil {
						missed++
						if bytes.Equal(back, payload) {
							t.Errorf("%s: byte %d flipped and the same dump came back", ZstdEncoder(), i)
						}
					}
				}
			}
			if missed > 0 {
				t.Errorf("%s, %d bytes: %d damaged copies read back as whole", ZstdEncoder(), size, missed)
			}
		}
	}
}
