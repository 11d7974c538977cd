package testenv

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// IcingaInstall is how Icinga 2 is installed.
const IcingaInstall = "apt-get install -y icinga2-bin icinga2-common"

// Icinga is a running Icinga 2 with its API on loopback.
type Icinga struct {
	URL      string
	CAFile   string
	User     string
	Password string
	client   *http.Client
}

// Service is a passive service to define before Icinga starts.
type Service struct{ Host, Name string }

// StartIcinga runs Icinga 2 from Debian's package with a configuration of
// the test's own: a CA and node certificate made here, the API feature on a
// free loopback port, an API user allowed to submit and read check results,
// and the given passive services.
func StartIcinga(t *testing.T, services ...Service) *Icinga {
	t.Helper()
	bin, err := exec.LookPath("icinga2")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/icinga2"); serr != nil {
			t.Fatalf("icinga2 not found; install it: %s", IcingaInstall)
		}
		bin = "/usr/sbin/icinga2"
	}
	u, err := user.Lookup("nagios")
	if err != nil {
		t.Fatalf("user nagios (created by Debian's icinga2 package) is missing: %v; install: %s", err, IcingaInstall)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	dir, err := os.MkdirTemp("", "envsync-icinga-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"etc", "data/certs", "log", "cache", "spool", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	const node = "envsync-test"
	caPEM, certPEM, keyPEM := makeCerts(t, node)
	ca := filepath.Join(dir, "ca.crt")
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(ca, caPEM)
	write(filepath.Join(dir, "data/certs/ca.crt"), caPEM)
	write(filepath.Join(dir, "data/certs", node+".crt"), certPEM)
	write(filepath.Join(dir, "data/certs", node+".key"), keyPEM)

	port := FreePort(t)
	password := "test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var conf strings.Builder
	fmt.Fprintf(&conf, `const NodeName = %q
const ZoneName = NodeName
object Endpoint NodeName {}
object Zone ZoneName { endpoints = [ NodeName ] }
object ApiListener "api" { bind_host = "127.0.0.1"; bind_port = %d; accept_commands = true }
object ApiUser "envsync" { password = %q; permissions = [ "actions/process-check-result", "objects/query/Service", "objects/query/Host" ] }
object CheckCommand "passive" { command = [ "/bin/true" ] }
`, node, port, password)
	hosts := map[string]bool{}
	for _, s := range services {
		if !hosts[s.Host] {
			hosts[s.Host] = true
			fmt.Fprintf(&conf, "object Host %q { check_command = \"passive\"; enable_active_checks = false }\n", s.Host)
		}
		fmt.Fprintf(&conf, "object Service %q { host_name = %q; check_command = \"passive\"; enable_active_checks = false; max_check_attempts = 1 }\n", s.Name, s.Host)
	}
	write(filepath.Join(dir, "etc/icinga2.conf"), []byte(conf.String()))
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}

	args := []string{"daemon", "-c", filepath.Join(dir, "etc/icinga2.conf"), "-DConfigDir=" + dir + "/etc", "-DDataDir=" + dir + "/data",
		"-DLogDir=" + dir + "/log", "-DCacheDir=" + dir + "/cache", "-DSpoolDir=" + dir + "/spool", "-DInitRunDir=" + dir + "/run",
		"-DRunAsUser=" + u.Username, "-DRunAsGroup=" + groupName(gid)}
	cmd := exec.Command(bin, args...)
	// Its own process group: icinga2 forks the processes that do the work
	// (and drop to nagios), and killing the one started here alone left
	// them running after the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	logf, _ := os.Create(filepath.Join(dir, "icinga2.out"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start icinga2: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ic := &Icinga{URL: fmt.Sprintf("https://127.0.0.1:%d", port), CAFile: ca, User: "envsync", Password: password,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, ic.URL+"/v1/objects/hosts", nil)
		req.SetBasicAuth(ic.User, ic.Password)
		req.Header.Set("Accept", "application/json")
		if resp, err := ic.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return ic
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(filepath.Join(dir, "icinga2.out"))
			t.Fatalf("icinga2 API not up within 60s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}

// CheckResult is what Icinga holds for a service.
type CheckResult struct {
	State  int
	Output string
	Source string
}

// Service reads back a service's last check result.
func (ic *Icinga) Service(t *testing.T, host, service string) CheckResult {
	t.Helper()
	q := url.Values{"attrs": {"last_check_result"}}
	req, _ := http.NewRequest(http.MethodGet, ic.URL+"/v1/objects/services/"+url.PathEscape(host+"!"+service)+"?"+q.Encode(), nil)
	req.SetBasicAuth(ic.User, ic.Password)
	req.Header.Set("Accept", "application/json")
	resp, err := ic.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Results []struct {
			Attrs struct {
				LastCheckResult *struct {
					State       float64 `json:"state"`
					Output      string  `json:"output"`
					CheckSource string  `json:"check_source"`
				} `json:"last_check_result"`
			} `json:"attrs"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Results) != 1 {
		t.Fatalf("read service %s!%s: status %s, %v", host, service, resp.Status, err)
	}
	r := body.Results[0].Attrs.LastCheckResult
	if r == nil {
		return CheckResult{State: -1}
	}
	return CheckResult{State: int(r.State), Output: r.Output, Source: r.CheckSource}
}

func makeCerts(t *testing.T, node string) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "envsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: node},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{node}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	ca, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// NSCA is a running NSCA daemon that appends what it receives to a file.
type NSCA struct {
	Port         int
	ClientConfig string // send_nsca.cfg matching the daemon's password
	CommandFile  string
}

// NSCAInstall is how NSCA is installed.
const NSCAInstall = "apt-get install -y nsca nsca-client"

// StartNSCA runs Debian's nsca daemon on a free loopback port.
func StartNSCA(t *testing.T) *NSCA {
	t.Helper()
	bin, err := exec.LookPath("nsca")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nsca"); serr != nil {
			t.Fatalf("nsca not found; install it: %s", NSCAInstall)
		}
		bin = "/usr/sbin/nsca"
	}
	if _, err := exec.LookPath("send_nsca"); err != nil {
		t.Fatalf("send_nsca not found; install it: %s", NSCAInstall)
	}
	dir, err := os.MkdirTemp("", "envsync-nsca-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777) // nsca drops to its own user and appends here
	n := &NSCA{Port: FreePort(t), ClientConfig: filepath.Join(dir, "send_nsca.cfg"), CommandFile: filepath.Join(dir, "commands")}
	password := "nsca-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg := fmt.Sprintf("pid_file=%s/nsca.pid\nserver_port=%d\nserver_address=127.0.0.1\nnsca_user=nagios\nnsca_group=nogroup\ndebug=0\ncommand_file=%s\nalternate_dump_file=%s/dump\naggregate_writes=0\nappend_to_file=1\nmax_packet_age=30\npassword=%s\ndecryption_method=1\n",
		dir, n.Port, n.CommandFile, dir, password)
	if err := os.WriteFile(filepath.Join(dir, "nsca.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.ClientConfig, []byte("password="+password+"\nencryption_method=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.CommandFile, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(n.CommandFile, 0o666) // past the umask: the daemon appends as its own user
	cmd := exec.Command(bin, "-f", "-c", filepath.Join(dir, "nsca.cfg"), "--single")
	// Its own process group: icinga2 forks the processes that do the work
	// (and drop to nagios), and killing the one started here alone left
	// them running after the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nsca: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	WaitPort(t, n.Port)
	return n
}

// Received returns what the daemon has written so far.
func (n *NSCA) Received(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(n.CommandFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
