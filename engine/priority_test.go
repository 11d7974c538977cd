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

// schedWriter records the priority of the thread each write runs on, as
// (nice, I/O class, I/O level) from the thread's own view; it runs on a
// goroutine of its own, so it records instead of failing the test.
type schedWriter struct {
	seen  map[[3]int]int
	bytes int
}

func (w *schedWriter) Write(p []byte) (int, error) {
	raw, _ := unix.Getpriority(unix.PRIO_PROCESS, unix.Gettid())
	io, _, _ := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(unix.Gettid()), 0)
	w.seen[[3]int{20 - raw, int(io >> ioprioClassShift), int(io & 7)}]++
	w.bytes += len(p)
	return len(p), nil
}

// What the worker does with a dump (its compressor, behind BehindAt) runs
// at the dump tool's priority, and no other goroutine is left there.
func TestBehindAtWritesAtItsPriority(t *testing.T) {
	if nice, class, _ := schedOf(t, os.Getpid(), unix.Gettid()); nice != 0 || class == 3 {
		t.Skipf("the test runs at nice %d, I/O class %d already: Hold would rightly leave it there", nice, class)
	}
	w := &schedWriter{seen: map[[3]int]int{}}
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
// nice 15 or in the idle I/O class keeps its compressor there. Raising
// needs CAP_SYS_NICE (CI runs as root); without it the kernel itself
// refuses, and the test would prove nothing.
func TestHoldNeverRaises(t *testing.T) {
	type sched struct{ nice, class, level int }
	held := func(nice, ioClass int, p Priority) sched {
		got := make(chan sched)
		go func() {
			runtime.LockOSThread() // exits locked: the thread is retired
			tid := unix.Gettid()
			unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
			unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(ioClass<<ioprioClassShift))
			if unix.Setpriority(unix.PRIO_PROCESS, tid, nice-1) != nil {
				got <- sched{nice: -100}
				return
			}
			unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
			p.Hold()
			n, c, l := schedOf(t, os.Getpid(), tid)
			got <- sched{n, c, l}
		}()
		return <-got
	}
	if s := held(15, 0, Priority{Nice: 10}); s.nice == -100 {
		t.Skip("this process cannot raise a thread's priority (no CAP_SYS_NICE), so the kernel keeps Hold from raising one")
	} else if s.nice != 15 {
		t.Errorf("a thread at nice 15 held at nice 10 is at %d; want 15", s.nice)
	}
	if s := held(0, 3, Priority{Nice: 10, IOClass: 2, IOLevel: 7}); s.nice != 10 || s.class != 3 {
		t.Errorf("a thread at nice 0 in the idle I/O class held at nice 10, I/O 2:7 is at nice %d, class %d; want 10 and 3 (idle)", s.nice, s.class)
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
