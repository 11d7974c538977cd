package engine

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Nice and I/O class of a thread, as the kernel reports them.
func schedOf(t *testing.T, pid, tid int) (nice, ioClass, ioLevel int) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, nice field 19.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	nice, _ = strconv.Atoi(f[19-3])
	prio, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if e != 0 {
		t.Fatal(e)
	}
	return nice, int(prio >> ioprioClassShift), int(prio & 7)
}

// A tool started at a priority runs at it from the start, and the worker's
// own threads keep theirs.
func TestPriorityLowersTheToolOnly(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := (Priority{Nice: 7, IOClass: 3}).Start(cmd); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	if nice, class, _ := schedOf(t, pid, pid); nice != 7 || class != 3 {
		t.Errorf("tool runs at nice %d, I/O class %d; want 7 and 3 (idle)", nice, class)
	}
	if err := (Priority{Nice: 10, IOClass: 2, IOLevel: 7}).Start(exec.Command("true")); err != nil {
		t.Fatal(err)
	}
	// The lowered threads end with the goroutines that forked; the
	// runtime retires them a moment later.
	noLoweredThreads(t)
}

// noLoweredThreads waits for the worker's lowered threads to be retired,
// and fails naming any that are not. The main thread may stay lowered:
// when a goroutine that held its thread (Priority.Hold) ends on it, the
// runtime cannot retire it and parks it for good instead, so no goroutine
// runs there again.
func noLoweredThreads(t *testing.T) {
	t.Helper()
	self := os.Getpid()
	lowered := func() (out []string) {
		entries, _ := os.ReadDir("/proc/self/task")
		for _, e := range entries {
			tid, _ := strconv.Atoi(e.Name())
			if _, err := os.Stat("/proc/self/task/" + e.Name()); err != nil || tid == self {
				continue
			}
			if nice, class, _ := schedOf(t, self, tid); nice != 0 || class == 3 {
				out = append(out, fmt.Sprintf("thread %d at nice %d, I/O class %d", tid, nice, class))
			}
		}
		return out
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(lowered()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := lowered(); len(l) > 0 {
		t.Errorf("worker threads left lowered: %v", l)
	}
}

// schedWriter records the priority of the thread each write runs on.
type schedWriter struct {
	t     *testing.T
	seen  map[[3]int]int
	bytes int
}

func (w *schedWriter) Write(p []byte) (int, error) {
	nice, class, level := schedOf(w.t, os.Getpid(), unix.Gettid())
	w.seen[[3]int{nice, class, level}]++
	w.bytes += len(p)
	return len(p), nil
}

// What the worker does with a dump (its compressor, behind BehindAt) runs
// at the dump tool's priority, and no other goroutine is left there.
func TestBehindAtWritesAtItsPriority(t *testing.T) {
	w := &schedWriter{t: t, seen: map[[3]int]int{}}
	bw, wait := BehindAt(w, Priority{Nice: 10, IOClass: 2, IOLevel: 7})
	for range 40 {
		if _, err := bw.Write(make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if w.bytes != 4000<<10 || len(w.seen) != 1 || w.seen[[3]int{10, 2, 7}] == 0 {
		t.Errorf("%d bytes written at (nice, I/O class, level) %v; want all 4000 KiB at (10, 2, 7)", w.bytes, w.seen)
	}
	noLoweredThreads(t)
}

// Hold lowers a priority, never raises it: a worker an operator runs at
// nice 15 keeps its compressor there.
func TestHoldNeverRaises(t *testing.T) {
	got := make(chan int)
	go func() {
		runtime.LockOSThread() // exits locked: the thread is retired
		unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 15)
		Priority{Nice: 10}.Hold()
		nice, _, _ := schedOf(t, os.Getpid(), unix.Gettid())
		got <- nice
	}()
	if nice := <-got; nice != 15 {
		t.Errorf("a thread at nice 15 held at nice 10 is at %d; want 15", nice)
	}
	noLoweredThreads(t)
}

func TestParseIONice(t *testing.T) {
	for in, want := range map[string][2]int{"2:7": {2, 7}, "3": {3, 0}, "none": {0, 0}, "": {0, 0}} {
		c, l, err := ParseIONice(in)
		if err != nil || c != want[0] || l != want[1] {
			t.Errorf("%q: %d:%d %v, want %v", in, c, l, err, want)
		}
	}
	for _, bad := range []string{"4", "2:8", "x", "2:"} {
		if _, _, err := ParseIONice(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: want refused naming it, got %v", bad, err)
		}
	}
}
