package datapath

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/dump"
)

// A full temp disk must be reported as what it is. Left alone it shows up
// as the database tool's complaint (pg_dump dies of a broken pipe when its
// output cannot be written) and is retried for an hour while the run holds
// the reboot lock and a partial file; retrying cannot make room.

// NoSpaceError is a temp dir that is, or would be, full: retrying cannot
// help. Need is an estimate; AtLeast says it is only a lower bound.
type NoSpaceError struct {
	Dir     string
	Need    int64
	AtLeast bool
}

func (e *NoSpaceError) Error() string {
	have := "free space unknown"
	if free, err := freeBytes(e.Dir); err == nil {
		have = dump.HumanSize(free) + " free"
	} else {
		have += ": " + err.Error()
	}
	about := "about"
	if e.AtLeast {
		about = "more than"
	}
	return fmt.Sprintf("no space left on device in %s (needs %s %s, has %s); free space there, or set the task's temppath (or the worker's --temp-dir) to a larger disk",
		e.Dir, about, dump.HumanSize(e.Need), have)
}

// IsNoSpace reports whether err is a write that found the disk (or the
// user's quota) full.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freeBytes is the space an unprivileged writer may still use in dir.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// CheckSpace fails before a step starts when dir cannot hold need bytes.
// need <= 0 means the size is not known, and nothing is checked.
func CheckSpace(dir string, need int64) error {
	if need <= 0 {
		return nil
	}
	if free, err := freeBytes(dir); err == nil && free < need {
		return &NoSpaceError{Dir: dir, Need: need}
	}
	return nil
}

// errWriter remembers the first error its writer returned, which the
// database tool's own failure would otherwise hide.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
