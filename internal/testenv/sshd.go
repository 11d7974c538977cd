package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// SSHInstall is how the ssh server and rsync are installed.
const SSHInstall = "apt-get install -y openssh-server openssh-client rsync"

// SSHD is a running OpenSSH server on loopback that accepts one generated
// key for the current user.
type SSHD struct {
	// Target is user@127.0.0.1:port, as an rsync task's url.
	Target     string
	Identity   string
	KnownHosts string
	// Root is a directory tests may use as the remote side.
	Root string
}

// StartSSHD runs Debian's sshd with a host key and a user key made here.
func StartSSHD(t *testing.T) *SSHD {
	t.Helper()
	for _, bin := range []string{"/usr/sbin/sshd", "ssh-keygen", "ssh", "rsync"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found; install: %s", bin, SSHInstall)
		}
	}
	dir := t.TempDir()
	for _, k := range []string{"hostkey", "userkey"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "userkey.pub"))
	hostPub, _ := os.ReadFile(filepath.Join(dir, "hostkey.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	port := FreePort(t)
	os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s", port, hostPub)), 0o600)
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/hostkey
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
PidFile %s/sshd.pid
`, port, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, _ := os.Create(filepath.Join(dir, "sshd.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	WaitPort(t, port)
	u, _ := user.Current()
	return &SSHD{Target: fmt.Sprintf("%s@127.0.0.1:%d", u.Username, port), Identity: filepath.Join(dir, "userkey"),
		KnownHosts: filepath.Join(dir, "known_hosts"), Root: strings.TrimSuffix(t.TempDir(), "/")}
}
