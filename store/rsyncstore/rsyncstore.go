// Package rsyncstore keeps dumps on a file server reached over ssh, as the
// original's rsync backend did: transfers with rsync (an interrupted one
// resumes from its partial file), listings with rsync --list-only, small
// reads and deletes with ssh. Keys are absolute paths on the server ("srv/
// dumps/x.gz" is /srv/dumps/x.gz).
package rsyncstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/envsync/envsync/store"
)

// Options say how to reach the server. The identity and known-hosts files
// are the worker's; empty means ssh's own defaults (~/.ssh).
type Options struct {
	// Target is [user@]host[:port].
	Target     string
	Identity   string
	KnownHosts string
	// BWLimit caps transfers, in bytes a second (0: none).
	BWLimit int64
}

// Store is a directory tree on one server.
type Store struct {
	dest string // [user@]host
	ssh  []string
	// upload are extra rsync arguments for uploads (the cap).
	upload []string
	// sent is the byte count rsync reported for the last transfer, for
	// logs and for tests that check a resumed transfer sent less.
	sent atomic.Int64
}

// New prepares the ssh command line; nothing is contacted yet.
func New(o Options) (*Store, error) {
	dest, port := o.Target, ""
	if i := strings.LastIndex(dest, ":"); i >= 0 {
		dest, port = dest[:i], dest[i+1:]
		if _, err := strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("rsync: %q: port %q is not a number", o.Target, port)
		}
	}
	if dest == "" || strings.ContainsAny(dest, " /") {
		return nil, fmt.Errorf("rsync: url %q must be [user@]host[:port]", o.Target)
	}
	sshArgs := []string{"ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-o", "ServerAliveInterval=30"}
	if port != "" {
		sshArgs = append(sshArgs, "-p", port)
	}
	if o.Identity != "" {
		sshArgs = append(sshArgs, "-i", o.Identity, "-o", "IdentitiesOnly=yes")
	}
	if o.KnownHosts != "" {
		sshArgs = append(sshArgs, "-o", "UserKnownHostsFile="+o.KnownHosts)
	}
	s := &Store{dest: dest, ssh: sshArgs}
	if o.BWLimit > 0 {
		// rsync's unit is KiB a second; at least 1, as 0 means none.
		s.upload = []string{"--bwlimit=" + strconv.FormatInt(max(o.BWLimit>>10, 1), 10)}
	}
	return s, nil
}

// LastSent is what rsync reported sending in the last transfer.
func (s *Store) LastSent() int64 { return s.sent.Load() }

func remote(key string) (string, error) {
	clean := path.Clean("/" + key)
	if key == "" || clean != "/"+strings.TrimPrefix(key, "/") {
		return "", fmt.Errorf("rsync: key %q is not a clean path", key)
	}
	return clean, nil
}

// quote makes a path safe for the remote shell.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (s *Store) rsync(ctx context.Context, args ...string) ([]byte, error) {
	all := append([]string{"-e", strings.Join(s.ssh, " "), "--timeout=120"}, args...)
	cmd := exec.CommandContext(ctx, "rsync", all...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && (ee.ExitCode() == 23 && strings.Contains(stderr.String(), "No such file")) {
			return out, store.ErrNotExist
		}
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("rsync is not installed on this worker (apt-get install rsync openssh-client)")
		}
		return out, fmt.Errorf("rsync %s: %w: %s", s.dest, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (s *Store) sshRun(ctx context.Context, command string, stdout io.Writer) error {
	cmd := exec.CommandContext(ctx, s.ssh[0], append(append([]string{}, s.ssh[1:]...), s.dest, command)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "No such file") {
			return store.ErrNotExist
		}
		return fmt.Errorf("ssh %s: %w: %s", s.dest, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

var sentRe = regexp.MustCompile(`Total bytes sent: ([\d,]+)`)

// PutFile sends a local file. rsync writes to a temporary name and renames
// it when complete, so a partial object is never visible; --partial-dir
// keeps what an interrupted transfer sent, and the next one resumes from it.
func (s *Store) PutFile(ctx context.Context, key, local string, size int64) error {
	p, err := remote(key)
	if err != nil {
		return err
	}
	out, err := s.rsync(ctx, append(s.upload, "--partial-dir=.rsync-partial", "--mkpath", "--stats", "--chmod=F640", local, s.dest+":"+p)...)
	if err != nil {
		return fmt.Errorf("rsync: put %s: %w (will resume)", key, err)
	}
	if m := sentRe.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64)
		s.sent.Store(n)
	}
	if size >= 0 {
		obj, err := s.Stat(ctx, key)
		if err != nil {
			return err
		}
		if obj.Size != size {
			return fmt.Errorf("rsync: %s has %d bytes after upload, expected %d", key, obj.Size, size)
		}
	}
	return nil
}

// Put stores a stream by spooling it to a local temporary file first
// (rsync needs a file); dumps go through PutFile directly.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	f, err := os.CreateTemp("", "envsync-rsync-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("read %d bytes, expected %d", n, size)
	}
	if err != nil {
		return fmt.Errorf("rsync: put %s: %w", key, err)
	}
	return s.PutFile(ctx, key, f.Name(), size)
}

// GetFile fetches key into local; a partial local file from an earlier
// attempt is kept and completed (--append-verify checks what is there).
func (s *Store) GetFile(ctx context.Context, key, local string) error {
	p, err := remote(key)
	if err != nil {
		return err
	}
	if _, err := s.rsync(ctx, "--partial", "--append-verify", s.dest+":"+p, local); err != nil {
		if errors.Is(err, store.ErrNotExist) {
			return fmt.Errorf("rsync: %s: %w", key, store.ErrNotExist)
		}
		return fmt.Errorf("rsync: get %s: %w (will resume)", key, err)
	}
	return nil
}

// Get streams key from offset over ssh.
func (s *Store) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	p, err := remote(key)
	if err != nil {
		return nil, err
	}
	if _, err := s.Stat(ctx, key); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.sshRun(ctx, fmt.Sprintf("tail -c +%d -- %s", offset+1, quote(p)), pw))
	}()
	return pr, nil
}

// Stat lists one file.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	p, err := remote(key)
	if err != nil {
		return store.Object{}, err
	}
	out, err := s.rsync(ctx, "--list-only", s.dest+":"+p)
	if errors.Is(err, store.ErrNotExist) {
		return store.Object{}, fmt.Errorf("rsync: %s: %w", key, store.ErrNotExist)
	}
	if err != nil {
		return store.Object{}, err
	}
	for _, e := range parseList(out) {
		if !e.dir {
			return store.Object{Key: key, Size: e.size, Modified: e.mod}, nil
		}
	}
	return store.Object{}, fmt.Errorf("rsync: %s: %w", key, store.ErrNotExist)
}

type entry struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

// listRe matches rsync --list-only lines: mode, size, date, time, name.
var listRe = regexp.MustCompile(`^([dl-])\S+\s+([\d,]+)\s+(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\s+(.+)$`)

func parseList(out []byte) []entry {
	var es []entry
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := listRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(strings.ReplaceAll(m[2], ",", ""), 10, 64)
		t, _ := time.ParseInLocation("2006/01/02 15:04:05", m[3], time.Local)
		es = append(es, entry{name: m[4], size: n, mod: t, dir: m[1] == "d"})
	}
	return es
}

// List lists files below prefix, leaving out rsync's partial files and
// in-flight temporary names.
func (s *Store) List(ctx context.Context, prefix string) ([]store.Object, error) {
	p := "/"
	if prefix != "" {
		var err error
		if p, err = remote(prefix); err != nil {
			return nil, err
		}
	}
	out, err := s.rsync(ctx, "--list-only", "-r", s.dest+":"+strings.TrimSuffix(p, "/")+"/")
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var objs []store.Object
	for _, e := range parseList(out) {
		base := path.Base(e.name)
		if e.dir || strings.HasPrefix(e.name, ".rsync-partial") || strings.Contains(e.name, "/.rsync-partial/") || strings.HasPrefix(base, ".") {
			continue
		}
		key := strings.TrimPrefix(path.Join(p, e.name), "/")
		objs = append(objs, store.Object{Key: key, Size: e.size, Modified: e.mod})
	}
	return objs, nil
}

// Delete removes key.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := remote(key)
	if err != nil {
		return err
	}
	return s.sshRun(ctx, "rm -f -- "+quote(p), io.Discard)
}
