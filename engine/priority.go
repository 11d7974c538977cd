package engine

import (
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/dump"
)

// Priority is the CPU and I/O priority a database tool runs at on the
// host, so a dump leaves production serving: the original ran pg_dump
// under `nice ionice -c2 -n7`. The zero value changes nothing.
type Priority struct {
	// Nice is the tool's niceness, 1-19 (0: the worker's own).
	Nice int
	// IOClass is the I/O scheduling class, 1 realtime, 2 best-effort or
	// 3 idle (0: the worker's own), and IOLevel the level within
	// best-effort or realtime, 0 (first) to 7 (last).
	IOClass, IOLevel int
}

// DefaultPriority is the original's: nice 10, ionice -c2 -n7.
var DefaultPriority = Priority{Nice: 10, IOClass: 2, IOLevel: 7}

// ParseIONice reads CLASS:LEVEL (2:7), CLASS (3) or "none".
func ParseIONice(v string) (class, level int, err error) {
	if v == "" || v == "none" {
		return 0, 0, nil
	}
	c, l, hasLevel := strings.Cut(v, ":")
	class, err = strconv.Atoi(c)
	if err == nil && hasLevel {
		level, err = strconv.Atoi(l)
	}
	if err != nil || class < 1 || class > 3 || level < 0 || level > 7 {
		return 0, 0, fmt.Errorf("ionice %q: want CLASS[:LEVEL], class 1 (realtime), 2 (best-effort) or 3 (idle), level 0-7, or none", v)
	}
	return class, level, nil
}

// Linux's ioprio_set(2) ABI.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

// Start starts cmd at priority p. The thread that forks it is lowered
// first, so the tool runs lowered from its first instruction (its children
// too: both settings are inherited), and restored after; when it cannot
// be (raising a priority needs CAP_SYS_NICE) it is not handed back to the
// runtime, which retires it. The worker's other threads are never touched.
func (p Priority) Start(cmd *exec.Cmd) error {
	if p == (Priority{}) {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid := unix.Gettid()
		// The kernel reports 20 - nice, so that it is never negative.
		raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
		if err != nil {
			errc <- fmt.Errorf("read the worker's nice: %w", err)
			return
		}
		oldNice := 20 - raw
		oldIO, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
		if e != 0 {
			errc <- fmt.Errorf("read the worker's ionice: %w", e)
			return
		}
		if p.Nice != 0 {
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, p.Nice); err != nil {
				errc <- fmt.Errorf("set nice %d for %s: %w", p.Nice, cmd.Path, err)
				return
			}
		}
		if p.IOClass != 0 {
			prio := p.IOClass<<ioprioClassShift | p.IOLevel
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio)); e != 0 {
				errc <- fmt.Errorf("set ionice %d:%d for %s: %w", p.IOClass, p.IOLevel, cmd.Path, e)
				return
			}
		}
		errc <- cmd.Start()
		if unix.Setpriority(unix.PRIO_PROCESS, tid, oldNice) == nil {
			if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), oldIO); e == 0 {
				runtime.UnlockOSThread()
			}
		}
	}()
	return <-errc
}

// Hold moves the calling goroutine onto a thread of its own and lowers
// that thread to priority p for the rest of the goroutine's life: for the
// worker's own share of a dump (its compressor), which would otherwise
// take from production's queries the CPU the dump tool's nice leaves them,
// and starve the dump tool, its producer, on a busy host. Only lowered,
// never raised, and only this thread: the runtime retires it when the
// goroutine ends (raising a priority back needs CAP_SYS_NICE), or, if it
// is the process's main thread, which cannot end, parks it for good, so
// no other goroutine ever runs at p. Best effort: a priority that cannot be
// set leaves the goroutine where it was.
func (p Priority) Hold() {
	if p == (Priority{}) {
		return
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	// The kernel reports 20 - nice, so that it is never negative.
	raw, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	nice := 20 - raw
	if p.Nice != 0 && p.Nice > nice {
		_ = unix.Setpriority(unix.PRIO_PROCESS, tid, p.Nice)
		nice = p.Nice
	}
	cur, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(tid), 0)
	if p.IOClass != 0 && e == 0 && ioLower(p.IOClass, p.IOLevel, int(cur), nice) {
		prio := p.IOClass<<ioprioClassShift | p.IOLevel
		_, _, _ = unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), uintptr(prio))
	}
}

// ioLower says whether I/O class and level come after cur (ioprio_get's
// answer) for a thread at nice: realtime (1) before best-effort (2) before
// idle (3), and a lower level first within a class. A thread without an
// I/O priority of its own (class 0) is best-effort at (nice+20)/5.
func ioLower(class, level, cur, nice int) bool {
	curClass, curLevel := cur>>ioprioClassShift, cur&7
	if curClass == 0 {
		curClass, curLevel = 2, (nice+20)/5
	}
	return class > curClass || class == curClass && level > curLevel
}

// Run is Start at priority p, then Wait. A tool whose Stdout is not a file
// writes into a Pipe that Run reads in large pieces (dump.CopyPipe), not
// into the pipe exec would make: exec's is watched by Go's poller, which
// then wakes for each of the tool's small writes (see Pipe). As with exec,
// the tool's own failure is returned before Stdout's.
func (p Priority) Run(cmd *exec.Cmd) error {
	out := cmd.Stdout
	if _, isFile := out.(*os.File); out == nil || isFile {
		if err := p.Start(cmd); err != nil {
			return err
		}
		return cmd.Wait()
	}
	pr, pw, err := Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout = pw
	err = p.Start(cmd)
	pw.Close() // the tool's now
	if err != nil {
		pr.Close()
		return err
	}
	copied := make(chan error, 1)
	go func() {
		_, err := dump.CopyPipe(out, pr)
		pr.Close() // a tool still writing fails and stops
		copied <- err
	}()
	err = cmd.Wait()
	return cmp.Or(err, <-copied)
}
