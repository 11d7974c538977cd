package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A stdio tool (GNU sed here, as pg_dump) run with BufferStdio's
// environment holds its output until it has 1 MiB or ends, where without
// it the output leaves 4 KiB at a time; and it still writes all of it,
// with a preload the worker already had kept.
func TestBufferStdioHoldsOutputInOneMiB(t *testing.T) {
	lib := stdbufLib()
	if lib == "" {
		t.Fatalf("no libstdbuf at %v: install coreutils (apt-get install coreutils)", stdbufLibs)
	}
	lines := strings.Repeat("a row of a table\n", 20000) // 340,000 bytes
	run := func(env []string) (out string, early int64, preload string) {
		t.Helper()
		dir := t.TempDir()
		outPath := filepath.Join(dir, "out")
		cmd := exec.Command("sh", "-c", `echo "$LD_PRELOAD" >&2; exec sed -n p >"$1"`, "sh", outPath)
		cmd.Env = env
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sed: %v", err)
		}
		fmt.Fprint(in, lines)
		// sed has read all its input and waits for more; what it wrote
		// so far is what its buffer let out.
		deadline := time.Now().Add(time.Second)
		for early == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			if fi, err := os.Stat(outPath); err == nil {
				early = fi.Size()
			}
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sed: %v: %s", err, stderr.String())
		}
		b, _ := os.ReadFile(outPath)
		return string(b), early, strings.SplitN(stderr.String(), "\n", 2)[0]
	}

	out, early, _ := run(os.Environ())
	if out != lines || early == 0 {
		t.Fatalf("without BufferStdio: sed wrote %d bytes before its input ended (want some) and %d in all (want %d)", early, len(out), len(lines))
	}
	out, early, preload := run(BufferStdio(append(os.Environ(), "LD_PRELOAD=")))
	if out != lines || early != 0 {
		t.Errorf("with BufferStdio: sed wrote %d bytes before its input ended (want none: its buffer holds 1 MiB) and %d in all (want %d)", early, len(out), len(lines))
	}
	if preload != lib {
		t.Errorf("LD_PRELOAD %q, want %q", preload, lib)
	}
	env := BufferStdio([]string{"PATH=/usr/bin:/bin", "LD_PRELOAD=/usr/lib/mine.so"})
	if got := env[len(env)-3]; got != "LD_PRELOAD=/usr/lib/mine.so "+lib {
		t.Errorf("with a preload of the worker's own: %q, want both", got)
	}
}
