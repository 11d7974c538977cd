// Package pgserver starts a throwaway PostgreSQL server from Debian's
// postgresql binaries in a directory of its own, listening on a free
// loopback port: the demo's default database and the tests' real server.
package pgserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/envsync/envsync/internal/daemon"
)

// InstallHint says how to get the binaries.
const InstallHint = "apt-get install -y postgresql (Debian's PostgreSQL 15)"

// Server is a running throwaway server; its superuser is "postgres" with
// trust authentication on loopback.
type Server struct {
	Host   string
	Port   int
	User   string
	BinDir string
	proc   *daemon.Process
}

// BinDir finds Debian's server binaries, newest version first.
func BinDir() (string, error) {
	if d := os.Getenv("ENVSYNC_PG_BINDIR"); d != "" {
		return d, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("PostgreSQL server binaries not found; install them: %s", InstallHint)
	}
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return filepath.Dir(matches[0]), nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// Start initialises a cluster in a new temporary directory and starts it;
// Stop removes it all. PostgreSQL refuses to run as root, so as root the
// server runs as the "postgres" user that Debian's package creates.
func Start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := daemon.NewDir("envsync-pg-", "postgres", InstallHint)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, bin, dir)
	if err != nil {
		os.RemoveAll(dir.Path)
		return nil, err
	}
	return s, nil
}

func start(ctx context.Context, bin string, dir *daemon.Dir) (*Server, error) {
	data := filepath.Join(dir.Path, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = dir.Attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb in %s: %w: %s", data, err, out)
	}
	port, err := daemon.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Host: "127.0.0.1", Port: port, User: "postgres", BinDir: bin}
	s.proc, err = dir.Start("postgres", exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir.Path,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"))
	if err != nil {
		return nil, err
	}
	err = s.proc.WaitReady(30*time.Second, func() error {
		conn, err := s.Connect(ctx, "postgres")
		if err == nil {
			conn.Close(ctx)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Connect opens a superuser connection to db.
func (s *Server) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.URL(db))
}

// URL is a connection URL for db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", s.User, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), db)
}

// Addr is host:port, as database_hostname takes it.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Stop shuts the server down (fast shutdown) and removes its files.
func (s *Server) Stop() { s.proc.Stop(syscall.SIGINT) }

// Install installs Debian's PostgreSQL server binaries with apt-get (as
// root), for a demo on a machine without them.
func Install(ctx context.Context) error {
	for _, args := range [][]string{{"update", "-q"}, {"install", "-y", "-q", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
