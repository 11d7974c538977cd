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
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/envsync/envsync/internal/daemon"
)

// InstallHint says how to get the binaries.
const InstallHint = "apt-get install -y mariadb-server mariadb-client (Debian's MariaDB 10.11)"

// Server is a running MariaDB whose root user has no password on loopback.
type Server struct {
	Host string
	Port int
	User string
	proc *daemon.Process
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
	dir, err := daemon.NewDir("envsync-mariadb-", "mysql", InstallHint)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, dir)
	if err != nil {
		os.RemoveAll(dir.Path)
		return nil, err
	}
	return s, nil
}

func start(ctx context.Context, dir *daemon.Dir) (*Server, error) {
	var args []string
	if dir.Attr.Credential != nil {
		args = append(args, "--user=mysql")
	}
	data := filepath.Join(dir.Path, "data")
	install := exec.CommandContext(ctx, "/usr/bin/mariadb-install-db", append(args, "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db")...)
	install.SysProcAttr = dir.Attr
	if out, err := install.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %w: %s", err, out)
	}
	port, err := daemon.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, User: "root"}
	s.proc, err = dir.Start("mariadbd", exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--datadir="+data, "--socket="+filepath.Join(dir.Path, "sock"),
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--pid-file="+filepath.Join(dir.Path, "pid"),
		"--innodb-flush-log-at-trx-commit=0", "--skip-log-bin"))
	if err != nil {
		return nil, err
	}
	err = s.proc.WaitReady(30*time.Second, func() error {
		db, err := s.Open("")
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
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
func (s *Server) Stop() { s.proc.Stop(syscall.SIGTERM) }
