// Package testenv starts the real servers end-to-end tests talk to, on
// loopback: Temporal (in process), PostgreSQL (Debian's binaries) and an
// S3-protocol server (versitygw). A missing server fails the test with the
// command that installs it; nothing is skipped.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/internal/pgserver"
	"github.com/envsync/envsync/internal/testenv/mysqlserver"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/worker"
)

// Host is the worker host name tests give their tasks.
const Host = "db1"

// Temporal is a real Temporal server with envsync's search attributes.
type Temporal struct {
	Server    *temporaltest.TestServer
	Client    client.Client
	Namespace string
}

// StartTemporal starts an in-process Temporal server.
func StartTemporal(t *testing.T) *Temporal {
	t.Helper()
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := searchattr.Register(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	return &Temporal{Server: ts, Client: c, Namespace: ts.GetDefaultNamespace()}
}

// StartWorker runs the central worker and host Host's worker until the test
// ends, with lock and temp directories of the test's own.
func (tp *Temporal) StartWorker(t *testing.T, cfg activities.Config) activities.Config {
	t.Helper()
	return tp.StartWorkerWith(t, worker.Options{Activities: cfg})
}

// StartWorkerWith is StartWorker with the rest of the worker's options
// (monitoring, chaining) given too.
func (tp *Temporal) StartWorkerWith(t *testing.T, o worker.Options) activities.Config {
	t.Helper()
	cfg := o.Activities
	if cfg.LockDir == "" {
		cfg.LockDir = filepath.Join(t.TempDir(), "locks")
	}
	if cfg.TempDir == "" {
		cfg.TempDir = filepath.Join(t.TempDir(), "tmp")
	}
	o.Central, o.Host, o.Activities = true, Host, cfg
	stop, err := worker.Start(tp.Client, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return cfg
}

// StartPostgres starts a throwaway PostgreSQL server and points libpq's
// environment (PGUSER) at its superuser, as an operator would on a host.
func StartPostgres(t testing.TB) *pgserver.Server {
	t.Helper()
	s, err := pgserver.Start(context.Background())
	if err != nil {
		t.Fatalf("PostgreSQL for this test: %v", err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("PGUSER", s.User)
	return s
}

// S3 is a running S3-protocol server.
type S3 struct {
	Endpoint string
	Client   *s3.Client
	// Dir is the server's posix backend: object KEY of bucket B is the
	// file Dir/B/KEY (tests age objects through it).
	Dir string
}

// VersityInstall is how the S3 server is installed.
const VersityInstall = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// StartS3 starts versitygw with the posix backend in a temp dir and sets
// the standard AWS credential variables, so code under test finds them
// through the SDK's default chain as it would on a real host.
func StartS3(t *testing.T, buckets ...string) *S3 {
	t.Helper()
	dir := t.TempDir()
	port := FreePort(t)
	cmd, err := VersityCommand(dir, port)
	if err != nil {
		t.Fatal(err)
	}
	key, secret := S3Key, S3Secret
	logf, _ := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	WaitPort(t, port)
	t.Setenv("AWS_ACCESS_KEY_ID", key)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", "us-east-1")
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(endpoint); o.UsePathStyle = true })
	for _, b := range buckets {
		if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("create bucket %s: %v", b, err)
		}
	}
	return &S3{Endpoint: endpoint, Client: c, Dir: dir}
}

// S3Key and S3Secret are the credentials of the test S3 server.
const S3Key, S3Secret = "envsynctest", "envsynctestsecret"

// VersityCommand is versitygw serving dir (posix backend) on a loopback
// port, not yet started; it dies with its parent.
func VersityCommand(dir string, port int) (*exec.Cmd, error) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("versitygw (S3 server) not found; install it: %s", VersityInstall)
		}
	}
	cmd := exec.Command(bin, "--access", S3Key, "--secret", S3Secret, "--port", "127.0.0.1:"+strconv.Itoa(port), "--quiet", "posix", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd, nil
}

// FreePort returns a loopback port nobody listens on.
func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until something accepts connections on port.
func WaitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listening on port %d after 20s", port)
}

// StartMariaDB starts a throwaway MariaDB and points the worker's
// environment (MYSQL_USER, MYSQL_PWD) at its root user.
func StartMariaDB(t *testing.T) *mysqlserver.Server {
	t.Helper()
	s, err := mysqlserver.Start(context.Background())
	if err != nil {
		t.Fatalf("MariaDB for this test: %v", err)
	}
	t.Cleanup(s.Stop)
	t.Setenv("MYSQL_USER", s.User)
	t.Setenv("MYSQL_PWD", "")
	return s
}
