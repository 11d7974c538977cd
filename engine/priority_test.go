package engine

import (
	"fmt"
	"os"
	"os/exec"
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
	self := os.Getpid()
	lowered := func() (out []string) {
		entries, _ := os.ReadDir("/proc/self/task")
		for _, e := range entries {
			tid, _ := strconv.Atoi(e.Name())
			if _, err := os.Stat("/proc/self/task/" + e.Name()); err != nil {
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
