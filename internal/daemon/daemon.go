// Package daemon runs the throwaway database servers of the demo and the
// tests: in a temporary directory, as the service user Debian's package
// creates when run as root (the servers refuse root), with their output in
// a log file, killed if this process dies.
package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Dir is a server's temporary directory and the process attributes its
// commands run with.
type Dir struct {
	Path string
	Attr *syscall.SysProcAttr
}

// NewDir makes a temporary directory owned by account when running as root
// (install names the package that creates that account).
func NewDir(prefix, account, install string) (*Dir, error) {
	path, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	d := &Dir{Path: path, Attr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(account)
		if err != nil {
			os.RemoveAll(path)
			return nil, fmt.Errorf("running as root needs the %s user to run the server: %w; install: %s", account, err, install)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		d.Attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(path, uid, gid); err != nil {
			os.RemoveAll(path)
			return nil, err
		}
	}
	return d, nil
}

// Process is a running server.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  string
	dir  string
}

// Start runs cmd with d's attributes and its output in d/server.log.
func (d *Dir) Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{name: name, cmd: cmd, done: make(chan error, 1), log: filepath.Join(d.Path, "server.log"), dir: d.Path}
	logf, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = d.Attr
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	return p, nil
}

// WaitReady polls ready until it succeeds, the process exits (its log goes
// into the error) or timeout passes (the process is killed).
func (p *Process) WaitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case werr := <-p.done:
			log, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited during start-up: %v: %s", p.name, werr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not accept connections within %s: %w", p.name, timeout, err)
		}
	}
}

// Stop sends sig, waits (killing after 20 s) and removes the directory.
func (p *Process) Stop(sig syscall.Signal) {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	os.RemoveAll(p.dir)
}

// FreePort returns a loopback port nobody listens on.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, errors.New("no free loopback port: " + err.Error())
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
