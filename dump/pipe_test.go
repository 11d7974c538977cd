package dump

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// toolPipe is a pipe the size a database tool's gets, or size bytes.
func toolPipe(t *testing.T, size int) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, size); err != nil {
		t.Skipf("this kernel will not size a pipe to %d bytes: %v", size, err)
	}
	return r, w
}

// A tool's output read through Gather arrives whole and in order, however
// it was written.
func TestGatherPassesEveryByte(t *testing.T) {
	r, w := toolPipe(t, PipeSize)
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(rand.IntN(256))
	}
	go func() {
		for p := want; len(p) > 0; {
			n := min(len(p), 1+rand.IntN(8192)) // pg_dump writes 4 KiB
			w.Write(p[:n])
			p = p[n:]
		}
		w.Close()
	}()
	var got bytes.Buffer
	n, err := CopyPipe(&got, r)
	if err != nil || n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("copied %d bytes (err %v), equal %v; want %d bytes equal", n, err, bytes.Equal(got.Bytes(), want), len(want))
	}
}

// After a read that found the pipe nearly empty, the next waits for the
// tool to write more; after a long one, it does not wait.
func TestGatherWaitsOnlyAfterAShortRead(t *testing.T) {
	r, w := toolPipe(t, PipeSize)
	g := Gather(r)
	if _, ok := g.(*gatherer); !ok {
		t.Fatalf("Gather of a pipe of %d bytes is %T, want it gathered", PipeSize, g)
	}
	buf := make([]byte, PipeSize)
	w.Write(make([]byte, 4096))
	start := time.Now() // before the short read: the wait counts from it
	if n, err := g.Read(buf); n != 4096 || err != nil {
		t.Fatalf("read %d, %v; want the 4096 bytes written", n, err)
	}
	w.Write(make([]byte, 4096))
	g.Read(buf)
	if waited := time.Since(start); waited < gatherWait {
		t.Errorf("two reads, the first short, took %s; want the second to let the pipe fill for %s", waited, gatherWait)
	}
	w.Write(make([]byte, PipeSize/2))
	if n, _ := g.Read(buf); n != PipeSize/2 {
		t.Fatalf("read %d bytes, want %d", n, PipeSize/2)
	}
	// A long read: the next read has no reason to wait. Only "a read
	// that waited" is asserted against, not a time: the machine is noisy.
	g.(*gatherer).shortAt = time.Time{}
	w.Write(make([]byte, PipeSize/2))
	g.Read(buf)
	if !g.(*gatherer).shortAt.IsZero() {
		t.Errorf("a read of %d bytes counted as short", PipeSize/2)
	}
}

// A pipe the kernel would not grow fills while a reader waits, and stops
// the tool: it is read as it is.
func TestGatherLeavesSmallPipesAndFilesAlone(t *testing.T) {
	r, _ := toolPipe(t, 64<<10)
	if g := Gather(r); g != io.Reader(r) {
		t.Errorf("Gather of a 64 KiB pipe is %T, want the pipe itself", g)
	}
	f, err := os.CreateTemp(t.TempDir(), "dump")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if g := Gather(f); g != io.Reader(f) {
		t.Errorf("Gather of a file is %T, want the file itself", g)
	}
	br := bytes.NewReader(nil)
	if g := Gather(br); g != io.Reader(br) {
		t.Errorf("Gather of a reader without a descriptor is %T, want the reader itself", g)
	}
}

// A Reader given to a tool as its Stdin (exec then calls its WriteTo)
// feeds it every byte, and finds no damage in a whole stream.
func TestReaderFeedsAToolWhole(t *testing.T) {
	payload := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range payload {
		payload[i] = byte('a' + rng.IntN(4)) // compressible, not trivially
	}
	var stored bytes.Buffer
	w, err := NewWriter(&stored, Zstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(payload)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(stored.Bytes()), Zstd)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("wc", "-c")
	cmd.Stdin = r
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wc: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(len(payload)) || r.Finish(math.MaxInt64) != nil {
		t.Errorf("the tool read %s bytes, want %d (damage: %v)", got, len(payload), r.Damage())
	}
}
