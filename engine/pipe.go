package engine

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is what Pipe asks the kernel to buffer: a sanitiser between two
// programs keeps working while the next one reads, instead of taking turns
// with it 64 KiB at a time.
const pipeSize = 1 << 20

// Pipe is an operating-system pipe between a database tool and the
// sanitiser in front of (or behind) it, with a 1 MiB buffer where the
// kernel allows it. An io.Pipe would make each side wait for the other on
// every write; a tool given an *os.File reads or writes it directly.
func Pipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// Above the unprivileged limit (/proc/sys/fs/pipe-max-size) the kernel
	// refuses; the default 64 KiB still works, only slower.
	_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	return r, w, nil
}

// Behind returns a writer that hands its bytes to w on a goroutine of its
// own, through a Pipe: the sanitiser and the compressor (or upload) behind
// it then work side by side instead of in turn. wait ends it: it closes
// the writer and returns w's error. If w fails first, writes fail too.
func Behind(w io.Writer) (bw io.Writer, wait func() error, err error) {
	r, pw, err := Pipe()
	if err != nil {
		return nil, nil, err
	}
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, r)
		r.Close() // a writer still writing gets EPIPE, not a hang
		errc <- err
	}()
	return pw, func() error {
		pw.Close()
		return <-errc
	}, nil
}
