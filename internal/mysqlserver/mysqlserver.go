// Package mysqlserver starts a throwaway MariaDB server from Debian's
// packages in a temporary directory on a free loopback port, for tests.
package mysqlserver

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// InstallHint says how to get the binaries.
const InstallHint = "apt-get install -y mariadb-server mariadb-client (Debian's MariaDB 10.11)"

// Server is a running MariaDB whose root user has no password on loopback.
type Server struct {
	Host string
	Port int
	User string
	dir  string
	cmd  *exec.Cmd
	done chan error
}

// Start initialises a data directory with mariadb-install-db and starts
// mariadbd. MariaDB refuses to run as root, so as root it runs as the mysql
// user Debian's package creates.
func Start(ctx context.Context) (*Server, error) {
	for _, bin := range []string{"/usr/bin/mariadb-install-db", "/usr/sbin/mariadbd"} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s not found; install it: %s", bin, InstallHint)
		}
	}
	dir, err := os.MkdirTemp("", "envsync-mariadb-")
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func start(ctx context.Context, dir string) (*Server, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	args := []string{}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mysql")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the mysql user: %w; install: %s", err, InstallHint)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		args = append(args, "--user=mysql")
	}
	data := filepath.Join(dir, "data")
	install := exec.CommandContext(ctx, "/usr/bin/mariadb-install-db", append(args, "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db")...)
	install.SysProcAttr = attr
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, User: "root", dir: dir, done: make(chan error, 1)}
	s.cmd = exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--datadir="+data, "--socket="+filepath.Join(dir, "sock"),
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--pid-file="+filepath.Join(dir, "pid"),
		"--innodb-flush-log-at-trx-commit=0", "--skip-log-bin")
	s.cmd.SysProcAttr = attr
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mariadbd: %w", err)
	}
	go func() { s.done <- s.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := s.Open("")
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err == nil {
			return s, nil
		}
		select {
		case werr := <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return nil, fmt.Errorf("mariadbd exited during start-up: %v: %s", werr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.done
			return nil, fmt.Errorf("mariadbd did not accept connections within 30s: %w", err)
		}
	}
}

// Open returns a root connection pool to db ("" for none).
func (s *Server) Open(db string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = s.User, "tcp", s.Addr(), db
	cfg.MultiStatements = true
	return sql.Open("mysql", cfg.FormatDSN())
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Stop shuts the server down and removes its files.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	os.RemoveAll(s.dir)
}
