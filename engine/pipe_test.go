package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A tool that stops reading its input is the failure Feed reports, not
// the broken pipe the writer then met; a writer that fails stops the tool
// before it reads the end of its input.
func TestFeedReportsTheFailureThatCameFirst(t *testing.T) {
	big := func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(zeros{}, 64<<20))
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "sh", "-c", "head -c 10 >/dev/null; echo 'ERROR: syntax error at line 3' >&2; exit 3")
	cmd.Stderr = &stderr
	werr, cerr := Feed(cmd, cancel, big)
	var exit *exec.ExitError
	if werr != nil || !errors.As(cerr, &exit) || exit.ExitCode() != 3 || !strings.Contains(stderr.String(), "syntax error") {
		t.Errorf("tool failed first: write %v, tool %v; want only the tool's exit status 3", werr, cerr)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	cmd = exec.CommandContext(ctx, "sh", "-c", "cat >/dev/null; echo committed")
	var out bytes.Buffer
	cmd.Stdout = &out
	stop := errors.New("sanitise: rule set does not name people.ni_number")
	start := time.Now()
	werr, _ = Feed(cmd, cancel, func(w io.Writer) error {
		if _, err := w.Write([]byte("COPY people FROM stdin;\n1\tx\n")); err != nil {
			return err
		}
		return stop
	})
	if !errors.Is(werr, stop) || strings.Contains(out.String(), "committed") || time.Since(start) > 10*time.Second {
		t.Errorf("writer failed first: %v; the tool read to the end: %q", werr, out.String())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Behind hands every byte over in order, whatever the sizes of the writes
// (smaller than, equal to and larger than its buffers), and wait returns
// only once w has them all.
func TestBehindHandsOverEveryByteInOrder(t *testing.T) {
	var want, got bytes.Buffer
	bw, wait := Behind(&got)
	for i, size := range []int{1, 7, pipeSize - 8, pipeSize, 3*pipeSize + 5, 0, 12345} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		want.Write(p)
		if n, err := bw.Write(p); n != size || err != nil {
			t.Fatalf("write %d of %d bytes: %d, %v", i, size, n, err)
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("w got %d bytes, not the %d written in order", got.Len(), want.Len())
	}
}

// Once w fails (an upload refused), writes fail with w's own error instead
// of blocking, and wait returns it.
func TestBehindFailsWritesOnceWFails(t *testing.T) {
	refused := errors.New("upload refused")
	bw, wait := Behind(failAfter{refused})
	chunk := make([]byte, pipeSize)
	var err error
	for i := 0; i < 2*behindBufs+2 && err == nil; i++ {
		_, err = bw.Write(chunk)
	}
	if !errors.Is(err, refused) {
		t.Fatalf("writes after w failed: %v, want %v", err, refused)
	}
	if err := wait(); !errors.Is(err, refused) {
		t.Fatalf("wait: %v, want %v", err, refused)
	}
}

type failAfter struct{ err error }

func (f failAfter) Write([]byte) (int, error) { return 0, f.err }

// A dump tool run with a writer (not a file) as its Stdout hands every
// byte to it, and a writer that fails stops the tool instead of leaving
// Run waiting on a tool that writes forever; the tool's exit is what Run
// reports, as exec would.
func TestRunCopiesAToolsOutputAndStopsItWhenTheWriterFails(t *testing.T) {
	var out bytes.Buffer
	cmd := exec.Command("sh", "-c", "seq 1 300000")
	cmd.Stdout = &out
	if err := (Priority{}).Run(cmd); err != nil {
		t.Fatalf("run seq: %v", err)
	}
	want, _ := exec.Command("seq", "1", "300000").Output()
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("got %d bytes of seq's output, want %d", out.Len(), len(want))
	}

	cmd = exec.Command("yes", "a row")
	full := errors.New("upload: bucket full")
	cmd.Stdout = failAfter{err: full}
	done := make(chan error, 1)
	go func() { done <- (Priority{}).Run(cmd) }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("writer failed: Run returned %v, want yes's exit status", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writer failed, but Run still waits on the tool after 30 s")
	}
}
