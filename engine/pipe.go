package engine

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine/sanitise"
)

// pipeSize is what Pipe asks the kernel to buffer: a sanitiser between two
// programs keeps working while the next one reads, instead of taking turns
// with it 64 KiB at a time.
const pipeSize = dump.PipeSize

// Pipe is an operating-system pipe from a database tool (given w) to the
// sanitiser or counter that reads r, with a 1 MiB buffer where the kernel
// allows it. An io.Pipe would make each side wait for the other on every
// write; a tool given an *os.File writes it directly.
//
// Both ends block and neither is watched by Go's poller. A watched pipe
// wakes the poller's thread on every write into it, and pg_dump writes 4
// KiB at a time: tens of thousands of wake-ups in a push, each a task
// switch that the worker pays for while Gather lets the pipe fill and
// nobody waits to read. A blocking read cannot be cut short by closing r
// from another goroutine, so only its reader closes it; it reads end of
// file once the tool, the other holder of w, exits.
func Pipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("make a pipe: %w", err)
	}
	// Above the unprivileged limit (/proc/sys/fs/pipe-max-size) the kernel
	// refuses; the default 64 KiB still works, only slower.
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, pipeSize)
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}

// feedPipe is a pipe into a tool's input: w is written by the worker,
// through Go's poller, so a write that finds the pipe full parks a
// goroutine, not a thread.
func feedPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	return r, w, nil
}

// Behind returns a writer that hands its bytes to w on a goroutine of its
// own: the sanitiser in front and the compressor or upload behind it
// then work side by side instead of in turn. Full buffers pass over a
// channel, not through the kernel: an operating-system pipe would copy
// every byte twice more and cost two system calls a chunk, which on two
// cores is time taken from the sanitiser. wait ends it: it hands over what
// is left and returns w's error. Once w fails, the next write fails with its
// error. Neither may be called after wait.
func Behind(w io.Writer) (bw io.Writer, wait func() error) {
	return BehindAt(w, Priority{})
}

// BehindAt is Behind with its goroutine, which does the writing to w, at
// priority p (Priority.Hold).
func BehindAt(w io.Writer, p Priority) (bw io.Writer, wait func() error) {
	b := &behind{
		full: make(chan []byte, behindBufs-1),
		free: make(chan []byte, behindBufs),
		dead: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range behindBufs {
		b.free <- make([]byte, 0, pipeSize)
	}
	go func() {
		p.Hold()
		b.drain(w)
	}()
	return b, b.wait
}

// behindBufs is how many buffers of pipeSize a Behind holds: one filling,
// the rest queued or being written.
const behindBufs = 4

type behind struct {
	full, free chan []byte
	cur        []byte        // the buffer being filled
	dead       chan struct{} // closed once w failed; err says how
	err        error
	done       chan struct{}
}

func (b *behind) drain(w io.Writer) {
	defer close(b.done)
	for buf := range b.full {
		if _, err := w.Write(buf); err != nil {
			b.err = err
			close(b.dead)
			return
		}
		b.free <- buf[:0]
	}
}

func (b *behind) Write(p []byte) (int, error) {
	select {
	case <-b.dead: // else a ready free buffer could win the select below
		return 0, b.err
	default:
	}
	n := len(p)
	for len(p) > 0 {
		if b.cur == nil {
			select {
			case b.cur = <-b.free:
			case <-b.dead:
				return n - len(p), b.err
			}
		}
		k := copy(b.cur[len(b.cur):cap(b.cur)], p)
		b.cur, p = b.cur[:len(b.cur)+k], p[k:]
		if len(b.cur) == cap(b.cur) {
			if err := b.send(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// ReadFrom takes a dump tool's output from its pipe in large reads
// (dump.CopyPipe) when the writer is the tool's Stdout: exec would copy it
// 32 KiB at a time through a 64 KiB pipe.
func (b *behind) ReadFrom(r io.Reader) (int64, error) { return dump.CopyPipe(b, r) }

func (b *behind) send() error {
	select {
	case b.full <- b.cur:
		b.cur = nil
		return nil
	case <-b.dead:
		return b.err
	}
}

func (b *behind) wait() error {
	if len(b.cur) > 0 {
		_ = b.send() // a failure is w's, returned below
	}
	close(b.full)
	<-b.done
	return b.err
}

// Feed runs cmd with what write writes as its input, through a pipe. If
// cmd stops reading, its error is the one returned. If write fails, cmd is
// stopped (cancel: the context cmd was made with)
// before it can read the end of its input, so a restore tool never commits
// what came before the failure as if it were all. It returns write's error
// and cmd's (which names cmd if it did not start).
func Feed(cmd *exec.Cmd, cancel func(), write func(io.Writer) error) (werr, cmdErr error) {
	pr, pw, err := feedPipe()
	if err != nil {
		return err, nil
	}
	cmd.Stdin = pr
	err = cmd.Start()
	pr.Close() // the tool's now
	if err != nil {
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	if werr = write(pw); werr != nil {
		if errors.Is(werr, syscall.EPIPE) {
			// The tool stopped reading (an error in its input, say): its
			// own error says why, not the broken pipe.
			pw.Close()
			if cmdErr = cmd.Wait(); cmdErr != nil {
				return nil, cmdErr
			}
			return werr, nil
		}
		cancel()
		cmdErr = cmd.Wait()
		pw.Close()
		return werr, cmdErr
	}
	pw.Close()
	return nil, cmd.Wait()
}

// DumpThrough runs take (the dump tool) into a Pipe whose bytes pass
// through through (a sanitiser; read in large pieces, dump.Gather) on
// their way to w, which is written Behind: the dump tool,
// the sanitiser and what follows w (compression, the upload) work side by
// side. A sanitising failure (sanitise.PlanError) is permanent: the same
// rules fail the same dump again. name prefixes its message.
func DumpThrough(name string, w io.Writer, take func(io.Writer) (DumpInfo, error), through func(r io.Reader, w io.Writer) error) (DumpInfo, error) {
	pr, pw, err := Pipe()
	if err != nil {
		return DumpInfo{}, err
	}
	bw, wait := Behind(w)
	done := make(chan error, 1)
	go func() {
		err := through(dump.Gather(pr), bw)
		pr.Close() // the dump tool, still writing, fails and stops
		// What w said wins: a failed upload shows as itself, not as
		// whatever the sanitiser made of its failed write.
		done <- cmp.Or(wait(), err)
	}()
	info, err := take(pw)
	pw.Close()
	if serr := <-done; serr != nil {
		var pe *sanitise.PlanError
		if errors.As(serr, &pe) {
			return DumpInfo{}, Permanent(fmt.Errorf("%s: %w; nothing was uploaded", name, serr))
		}
		if err == nil {
			err = serr
		}
	}
	return info, err
}

// ReadLine reads one whole line, however long, reusing buf for a line
// longer than br's buffer.
func ReadLine(br *bufio.Reader, buf *[]byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	*buf = append((*buf)[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		*buf = append(*buf, line...)
	}
	return *buf, err
}
