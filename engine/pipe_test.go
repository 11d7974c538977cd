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
