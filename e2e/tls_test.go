package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/envsync/envsync/devserver"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/temporalconn"
)

// Production's Temporal requires client certificates, staging's is another
// cluster requiring its own. Workers and `envsync push` are the binary,
// configured only as the temporal CLI is: the push through TEMPORAL_TLS_*
// variables, the workers through profiles of one client config file. A
// push without a certificate is refused naming what to set; a push with
// one chains into a pull on the staging cluster named by temporal_profile.
func TestTLSClustersWithProfiles(t *testing.T) {
	prodTemporal := startTLSTemporal(t)
	stagingTemporal := startTLSTemporal(t)
	prod, staging := testenv.StartPostgres(t), testenv.StartPostgres(t)
	execOn(t, prod, "postgres", "CREATE DATABASE shop")
	execOn(t, prod, "shop", "CREATE TABLE items AS SELECT i AS id, 'item ' || i AS name FROM generate_series(1, 200) i")

	dir := t.TempDir()
	profiles := writeFile(t, dir, "temporal.toml", profile("prod", prodTemporal)+profile("staging", stagingTemporal))
	store := filepath.Join(dir, "store")
	tasks := writeFile(t, dir, "tasks.yaml", fmt.Sprintf(`
defaults:
  dbms: postgresql
  storagebackend: file
  url: %s
  path: postgresql
  worker_host: %s
  database: shop
tasks:
  push_shop:
    action: push
    database_hostname: %s
    then: [pull_shop_staging]
  pull_shop_staging:
    action: pull
    database_hostname: %s
    temporal_profile: staging
`, store, testenv.Host, prod.Addr(), staging.Addr()))

	// Each cluster's central and host worker, told their cluster by
	// TEMPORAL_PROFILE alone; the production one reads the staging
	// profile of the same file to start the chained pull.
	for _, p := range []string{"prod", "staging"} {
		startWorkerBinary(t, map[string]string{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": p},
			"worker", "--central", "--host", testenv.Host,
			"--lock-dir", filepath.Join(dir, p, "locks"), "--temp-dir", filepath.Join(dir, p, "tmp"))
	}

	tlsEnv := map[string]string{
		"TEMPORAL_CONFIG_FILE":             filepath.Join(dir, "none.toml"),
		"TEMPORAL_ADDRESS":                 prodTemporal.Address,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": prodTemporal.Certs.CA,
	}
	t.Run("without a client certificate: refused, naming the settings", func(t *testing.T) {
		r := runBinary(t, tlsEnv, "push", "--tasks", tasks, "--task", "push_shop")
		want := "set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH"
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("push without a certificate: exit %d, want 1 and stderr saying %q\n%s\n%s", r.code, want, r.stdout, r.stderr)
		}
	})

	t.Run("with the certificate: pushed, and pulled on the staging cluster", func(t *testing.T) {
		env := map[string]string{
			"TEMPORAL_TLS_CLIENT_CERT_PATH": prodTemporal.Certs.ClientCert,
			"TEMPORAL_TLS_CLIENT_KEY_PATH":  prodTemporal.Certs.ClientKey,
		}
		for k, v := range tlsEnv {
			env[k] = v
		}
		r := runBinary(t, env, "push", "--tasks", tasks, "--task", "push_shop")
		pullID := "envsync-" + testenv.Host + "-" + staging.Addr() + "/shop"
		if want := "chained   pull_shop_staging started as " + pullID + " in namespace default of profile staging"; r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("push: exit %d, want 0 and %q\n%s\n%s", r.code, want, r.stdout, r.stderr)
		}
		conn, err := temporalconn.Load(temporalconn.Request{Profile: "staging", ProfileOnly: true,
			Env: temporalconn.MapEnv{"TEMPORAL_CONFIG_FILE": profiles}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := conn.Dial(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		waitPull(t, c, pullID)
		if n := count(t, staging, "shop", "SELECT count(*) FROM items"); n != 200 {
			t.Errorf("staging has %d items, want the 200 pushed", n)
		}
	})
}

// startTLSTemporal is `envsync dev --tls`'s server, without its UI.
func startTLSTemporal(t *testing.T) *devserver.Server {
	t.Helper()
	s, err := devserver.Start(devserver.Options{Dir: t.TempDir(), AnyPort: true, Port: testenv.FreePort(t), UIPort: -1, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// profile is a client config profile for s, as an operator writes one.
func profile(name string, s *devserver.Server) string {
	return fmt.Sprintf(`
[profile.%s]
address = %q
namespace = %q
[profile.%s.tls]
server_ca_cert_path = %q
client_cert_path = %q
client_key_path = %q
`, name, s.Address, s.Namespace, name, s.Certs.CA, s.Certs.ClientCert, s.Certs.ClientKey)
}

// binaryEnv is this process's environment without its TEMPORAL_*
// variables, plus env.
func binaryEnv(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func runBinary(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = binaryEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

// startWorkerBinary runs the binary until the test ends, then stops it as
// a service manager would (SIGTERM), and shows its log if the test failed.
func startWorkerBinary(t *testing.T, env map[string]string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = binaryEnv(env)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("envsync %s (%v):\n%s", strings.Join(args, " "), env, log.String())
		}
	})
}

// `envsync dev --tls` prints the exports a client needs, and they are
// enough: a push through the binary with them alone completes on dev's
// own worker.
func TestDevTLSExportsConnect(t *testing.T) {
	pg := testenv.StartPostgres(t)
	execOn(t, pg, "postgres", "CREATE DATABASE notes")
	execOn(t, pg, "notes", "CREATE TABLE n AS SELECT i FROM generate_series(1, 50) i")
	dir := t.TempDir()
	cmd := exec.Command(binary(t), "dev", "--tls", "--dir", filepath.Join(dir, "state"), "--host", testenv.Host,
		"--port", fmt.Sprint(testenv.FreePort(t)), "--ui-port", fmt.Sprint(testenv.FreePort(t)))
	cmd.Env = binaryEnv(nil)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	env := map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "none.toml")}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(2 * time.Minute)
	for env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("envsync dev --tls ended before printing its exports:\n%s", logs.String())
			}
			if kv, ok := strings.CutPrefix(line, "export "); ok {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case <-timeout:
			t.Fatalf("envsync dev --tls printed no exports within 2 minutes:\n%s", logs.String())
		}
	}
	go func() {
		for range lines { // keep dev's stdout flowing
		}
	}()
	for _, k := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH"} {
		if env[k] == "" {
			t.Fatalf("envsync dev --tls did not print export %s=...; printed %v", k, env)
		}
	}
	r := runBinary(t, env, "push", "-D", "postgresql", "-S", "file", "-d", "notes", "-H", pg.Addr(),
		"-u", filepath.Join(dir, "store"), "-p", "postgresql", "--worker-host", testenv.Host)
	if r.code != 0 || !strings.Contains(r.stdout, "pushed    postgresql/") {
		t.Fatalf("push with dev's exports: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
