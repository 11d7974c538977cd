package dump

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
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
	long := PipeSize * 3 / 4
	w.Write(make([]byte, long))
	if n, _ := g.Read(buf); n != long {
		t.Fatalf("read %d bytes, want %d", n, long)
	}
	// A long read: the next read has no reason to wait. Only "a read
	// that waited" is asserted against, not a time: the machine is noisy.
	if !g.(*gatherer).next.IsZero() {
		t.Errorf("a read of %d bytes counted as short", long)
	}
}

// The wait after a short read lets the pipe fill to about half at the
// rate the tool wrote, never less than the first wait nor so long that a
// slow tool's output sits in the pipe.
func TestGatherWaitsToFillHalfThePipe(t *testing.T) {
	for _, c := range []struct {
		n     int
		since time.Duration
		want  time.Duration
	}{
		{PipeSize / 4, time.Millisecond, 2 * time.Millisecond}, // 256 KiB a millisecond: half the pipe in two
		{PipeSize / 8, time.Millisecond, 4 * time.Millisecond},
		{4096, 2 * time.Millisecond, maxGatherWait}, // a trickle
		{PipeSize / 2, 10 * time.Microsecond, gatherWait},
		{4096, 0, gatherWait}, // the first read: no rate yet
		{0, time.Millisecond, gatherWait},
	} {
		if got := fillWait(c.n, c.since); got != c.want {
			t.Errorf("fillWait(%d bytes, %s) = %s, want %s", c.n, c.since, got, c.want)
		}
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
