package postgres_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/internal/testenv"
)

// gate blocks the first write until opened, so the dump tool stays alive
// (blocked on its full pipe) while the test looks at it.
type gate struct {
	open chan struct{}
	buf  bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	return g.buf.Write(p)
}

// child finds this process's child named comm: its pid, nice and I/O
// priority class.
func child(comm string) (pid, nice, ioClass int, ok bool) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "("+comm+")") {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if ppid, _ := strconv.Atoi(f[4-3]); ppid != os.Getpid() {
			continue
		}
		pid, _ = strconv.Atoi(filepath.Base(filepath.Dir(p)))
		// The dump itself, not the `--version` run that picks the tool
		// (at the worker's priority, and brief: it may be gone by now,
		// its command line unreadable).
		if cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline")); !strings.Contains(string(cmdline), "--dbname") {
			continue
		}
		nice, _ = strconv.Atoi(f[19-3])
		prio, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, 1, uintptr(pid), 0)
		if e != 0 {
			continue
		}
		return pid, nice, int(prio >> 13), true
	}
	return 0, 0, 0, false
}

// pg_dump runs at the worker's dump priority (nice 10, ionice -c2 -n7 by
// default, as the original): read from the running process.
func TestDumpRunsAtLowPriority(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	// About 4 MB: more than a pipe holds, so pg_dump blocks on it.
	if _, err := createDB(t, srv, "big").Exec(ctx, "CREATE TABLE t AS SELECT repeat(md5(i::text), 30) AS v FROM generate_series(1, 4000) i"); err != nil {
		t.Fatal(err)
	}
	e := postgres.New(engine.Target{Database: "big", Host: srv.Host, Port: srv.Port},
		postgres.Options{DumpPriority: engine.DefaultPriority})
	g := &gate{open: make(chan struct{})}
	done := make(chan error, 1)
	go func() { _, err := e.Dump(ctx, g); done <- err }()
	deadline := time.Now().Add(30 * time.Second)
	var pid, nice, class int
	var found bool
	for !found && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		pid, nice, class, found = child("pg_dump")
	}
	close(g.open)
	if !found {
		t.Fatal("no pg_dump child seen while the dump was held")
	}
	if nice != 10 || class != 2 {
		t.Errorf("pg_dump (pid %d) runs at nice %d, I/O class %d; want 10 and 2 (best-effort)", pid, nice, class)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
