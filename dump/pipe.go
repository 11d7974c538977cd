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

// gatherWait and maxGatherWait bound how long Gather lets a pipe fill
// between reads. The shortest is the wait of a reader that knows nothing
// of the tool's rate yet: at pg_dump's 200 MB/s on the test machine it
// lets about 200 KB in. The longest keeps a slow trickle flowing.
const (
	gatherWait    = time.Millisecond
	maxGatherWait = 10 * time.Millisecond
)

// Gather reads the pipe a database tool writes (r) in large pieces. The
// tools write a few KiB at a time (pg_dump 4 KiB), and a reader faster
// than the tool wakes for each write: about 200,000 reads of a 1.3 GB
// dump, 1.6-1.9 s of CPU on the test machine, taken on a busy host from
// the tool and the database server behind it. After a read that found the
// pipe less than three quarters full, Gather lets it fill to about half
// at the rate the tool wrote since the read before (gatherWait to
// maxGatherWait, less the time the caller spent in between) before
// reading again. Each wait is a wake-up of the worker: waiting a fixed
// millisecond took about 4,500 reads of a 900 MB dump, and the scheduler's
// waits between them (epoll_wait) an eighth of the worker's CPU; filling
// to half takes about 1,800. The other half is the margin for a tool that
// speeds up: it has to double its rate to fill the pipe and wait. A pipe
// that holds less than PipeSize (the kernel refused to grow it) would fill
// meanwhile and stop the tool, so it is read as it is.
func Gather(r io.Reader) io.Reader {
	if pipeSize(r) < PipeSize {
		return r
	}
	return &gatherer{r: r, short: PipeSize * 3 / 4}
}

type gatherer struct {
	r     io.Reader
	short int
	// last is when the last read returned, leaving the pipe empty; next
	// is when the next read is to start (zero: at once).
	last, next time.Time
}

func (g *gatherer) Read(p []byte) (int, error) {
	if !g.next.IsZero() {
		if d := time.Until(g.next); d > 0 {
			time.Sleep(d)
		}
		g.next = time.Time{}
	}
	n, err := g.r.Read(p)
	now := time.Now()
	if err == nil && n < g.short && n < len(p) {
		var since time.Duration
		if !g.last.IsZero() {
			since = now.Sub(g.last)
		}
		g.next = now.Add(fillWait(n, since))
	}
	g.last = now
	return n, err
}

// fillWait is how long a pipe that took since to fill with n bytes takes
// to fill to half of PipeSize, within gatherWait and maxGatherWait;
// gatherWait when there is no rate to go by.
func fillWait(n int, since time.Duration) time.Duration {
	if n <= 0 || since <= 0 {
		return gatherWait
	}
	d := time.Duration(float64(since) * float64(PipeSize/2) / float64(n))
	return min(max(d, gatherWait), maxGatherWait)
}

// growPipe asks the kernel to let the pipe r reads hold PipeSize. Best
// effort: it fails on anything but a pipe, or above
// /proc/sys/fs/pipe-max-size, and the pipe works regardless, only slower.
func growPipe(r io.Reader) {
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
func control(r io.Reader, f func(fd uintptr)) {
	if sc, ok := r.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(f)
		}
	}
}
