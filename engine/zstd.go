package engine

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/envsync/envsync/dump"
)

// Zstd is the zstd command-line tool as a push's compressor. Its encoder
// (the reference C library) at level 1 compressed the benchmark's 916 MB
// archive in 2.0-2.3 s of CPU and 204 MB, where the built-in Go encoder
// at its fastest took 3.0-3.3 s and 222 MB on the same machine; on two
// cores, where the database server's COPY holds one, that second is most
// of what a push costs beyond the dump itself (docs/benchmarks.md). The
// frames are the same format, so a pull reads them either way.
type Zstd struct {
	// Path of the tool; empty: the built-in encoder.
	Path string
}

// ZstdMinVersion is the oldest zstd tool used: 1.4 (2019) has every flag
// Encoder passes.
var ZstdMinVersion = [2]int{1, 4}

var zstdVersionRe = regexp.MustCompile(`v(\d+)\.(\d+)\.(\d+)`)

// FindZstd chooses the push's zstd encoder from the worker's --zstd
// setting: "auto" (or empty) takes the zstd on PATH when there is one, new
// enough, and the built-in encoder otherwise (the reason is returned as a
// note for the worker's log); "builtin" always the built-in one; anything
// else is the tool's path, which must run and be new enough.
func FindZstd(ctx context.Context, setting string) (z Zstd, note string, err error) {
	switch setting {
	case "builtin":
		return Zstd{}, "", nil
	case "", "auto":
		path, err := exec.LookPath("zstd")
		if err != nil {
			return Zstd{}, "no zstd tool on PATH: pushes compress with the built-in encoder, which takes about half as much CPU again (apt-get install zstd)", nil
		}
		if err := checkZstd(ctx, path); err != nil {
			return Zstd{}, err.Error() + ": pushes compress with the built-in encoder", nil
		}
		return Zstd{Path: path}, "", nil
	}
	path, err := exec.LookPath(setting)
	if err != nil {
		return Zstd{}, "", fmt.Errorf("--zstd %q: %w (give the zstd tool's path, auto, or builtin)", setting, err)
	}
	if err := checkZstd(ctx, path); err != nil {
		return Zstd{}, "", fmt.Errorf("--zstd %q: %w (or give auto or builtin)", setting, err)
	}
	return Zstd{Path: path}, "", nil
}

// checkZstd runs the tool once to read its version.
func checkZstd(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, path, "-V").Output()
	if err != nil {
		return fmt.Errorf("%s -V: %w", path, err)
	}
	m := zstdVersionRe.FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("%s -V printed no version: %q", path, strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < ZstdMinVersion[0] || major == ZstdMinVersion[0] && minor < ZstdMinVersion[1] {
		return fmt.Errorf("%s is zstd %s.%s.%s, older than %d.%d", path, m[1], m[2], m[3], ZstdMinVersion[0], ZstdMinVersion[1])
	}
	return nil
}

// Encoder is z as a dump.ZstdTool for one push, nil for the built-in
// encoder. The tool runs at p, the dump tool's priority, so it keeps pace
// with the dump below production's queries; it dies with ctx.
func (z Zstd) Encoder(ctx context.Context, p Priority) dump.ZstdTool {
	if z.Path == "" {
		return nil
	}
	return func(out io.Writer, level int) (io.WriteCloser, error) {
		return z.start(ctx, p, out, level)
	}
}

// zstdArgs are the tool's flags for level: quiet, stdin to stdout, no
// content checksum (the manifest's sha256 covers every stored byte, as
// with the built-in encoder), and as many threads as the built-in encoder
// would take goroutines.
func zstdArgs(level int) []string {
	args := []string{"-q", "-c", "--no-check", "--no-progress"}
	if level > 19 {
		args = append(args, "--ultra")
	}
	threads := 1
	if n := runtime.GOMAXPROCS(0); n > 2 {
		threads = n
	}
	return append(args, "-"+strconv.Itoa(level), "-T"+strconv.Itoa(threads))
}

func (z Zstd) start(ctx context.Context, p Priority, out io.Writer, level int) (io.WriteCloser, error) {
	cmd := exec.CommandContext(ctx, z.Path, zstdArgs(level)...)
	// Both pipes block and stay out of Go's poller (see Pipe): the worker
	// writes the dump in 1 MiB pieces and reads the frames as large.
	inR, inW, err := Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	t := &zstdProc{cmd: cmd, in: inW, copied: make(chan error, 1)}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &t.stderr
	err = p.Start(cmd)
	inR.Close() // the tool's now
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", z.Path, err)
	}
	go func() {
		_, err := dump.CopyPipe(out, outR)
		outR.Close() // a tool still writing fails and stops
		t.copied <- err
	}()
	return t, nil
}

// zstdProc is a running zstd tool: what is written goes to its stdin;
// a goroutine copies its stdout on.
type zstdProc struct {
	cmd    *exec.Cmd
	in     *os.File
	stderr Tail
	copied chan error
	once   sync.Once
	err    error
}

func (t *zstdProc) Write(p []byte) (int, error) {
	n, err := t.in.Write(p)
	if err != nil {
		// The tool stopped reading: its own failure (or its output's)
		// is the reason, not the broken pipe.
		return n, cmp.Or(t.wait(), err)
	}
	return n, nil
}

// Close ends the tool's input and waits until its output is all copied.
func (t *zstdProc) Close() error { return t.wait() }

// wait closes the tool's input and waits for it and for its output, once.
// The output's failure comes first: the tool only fails writing to a pipe
// nobody reads because the upload or spool behind it failed.
func (t *zstdProc) wait() error {
	t.once.Do(func() {
		t.in.Close()
		copyErr := <-t.copied
		waitErr := t.cmd.Wait()
		switch {
		case copyErr != nil:
			t.err = copyErr
		case waitErr != nil:
			msg := t.stderr.String()
			if msg != "" {
				msg = ": " + msg
			}
			t.err = fmt.Errorf("compress with %s: %w%s (to compress in the worker instead, start it with --zstd builtin)", t.cmd.Path, waitErr, msg)
		}
	})
	return t.err
}
