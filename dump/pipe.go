package dump

import (
	"io"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PipeSize is what a database tool's pipe is asked to hold: the tool can
// run ahead while its reader works, and Gather can let it fill.
const PipeSize = 1 << 20

// gatherWait is how long Gather lets a pipe fill after a short read. At
// pg_dump's 200 MB/s on the test machine that is about 200 KB; a pipe of
// PipeSize fills in it only from a tool writing over 1 GB/s, and then
// the next read is a long one and nothing waits.
const gatherWait = time.Millisecond

// Gather reads the pipe a database tool writes (r) in large pieces. The
// tools write a few KiB at a time (pg_dump 4 KiB), and a reader faster
// than the tool wakes for each write: about 200,000 reads of a 1.3 GB
// dump, 1.6-1.9 s of CPU on the test machine, taken on a busy host from
// the tool and the database server behind it. After a read that found the
// pipe less than a quarter full, Gather lets it fill for gatherWait
// before reading again (less the time the caller spent in between): about
// 5,000 reads, 0.6 s. A pipe that holds less than PipeSize (the kernel
// refused to grow it) would fill meanwhile and stop the tool, so it is
// read as it is.
func Gather(r io.Reader) io.Reader {
	if pipeSize(r) < PipeSize {
		return r
	}
	return &gatherer{r: r, short: PipeSize / 4}
}

type gatherer struct {
	r     io.Reader
	short int
	// shortAt is when the last read came back short; zero when it did not.
	shortAt time.Time
}

func (g *gatherer) Read(p []byte) (int, error) {
	if !g.shortAt.IsZero() {
		if d := gatherWait - time.Since(g.shortAt); d > 0 {
			time.Sleep(d)
		}
		g.shortAt = time.Time{}
	}
	n, err := g.r.Read(p)
	if err == nil && n < g.short && n < len(p) {
		g.shortAt = time.Now()
	}
	return n, err
}

// growPipe asks the kernel to let the pipe r (either end) hold PipeSize. Best
// effort: it fails on anything but a pipe, or above
// /proc/sys/fs/pipe-max-size, and the pipe works regardless, only slower.
func growPipe(r any) {
	control(r, func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, PipeSize) })
}

// CopyPipe copies a database tool's output from the pipe r to w in large
// reads: exec copies a child's stdout into an io.Writer 32 KiB at a time
// through a 64 KiB pipe, tens of thousands of wake-ups at the rate of a
// dump, each of which can leave the tool (and the server behind it)
// waiting while the reader works. The pipe is grown and read through
// Gather, 1 MiB at a time.
func CopyPipe(w io.Writer, r io.Reader) (int64, error) {
	growPipe(r)
	r = Gather(r)
	buf := make([]byte, PipeSize)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// pipeSize is how much the pipe r reads holds, 0 when r is not a pipe.
func pipeSize(r io.Reader) int {
	size := 0
	control(r, func(fd uintptr) {
		if n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err == nil {
			size = n
		}
	})
	return size
}

// control runs f on r's descriptor, if r has one. exec hands a child's
// stdout over wrapped (os.File's WriteTo fallback), so the descriptor is
// reached through SyscallConn, which does not switch it to blocking mode
// as Fd would.
func control(r any, f func(fd uintptr)) {
	if sc, ok := r.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(f)
		}
	}
}
