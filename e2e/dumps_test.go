package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// `envsync dumps` lists a task's dumps in its store, newest first, on the
// s3, file and rsync stores alike: the encrypted one says to whom, counts
// come from the manifests, a dump kept forever says so and is protected
// from the keep that would remove it, and data without a manifest is
// listed apart as a leftover.
func TestDumpsListsEachStore(t *testing.T) {
	sshd := testenv.StartSSHD(t)
	e := newEnvWith(t, true, worker.Options{Activities: activities.Config{SSHIdentity: sshd.Identity, SSHKnownHosts: sshd.KnownHosts}})
	e.sshd = sshd
	e.exec("postgres", "CREATE DATABASE listed")
	e.exec("listed", "CREATE TABLE t (v int)", "INSERT INTO t SELECT generate_series(1, 42)", "CREATE TABLE u (v int)")
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	var tasks strings.Builder
	fmt.Fprintf(&tasks, "defaults:\n  dbms: postgresql\n  database_hostname: %s\n  worker_host: %s\n  database: listed\n  keep: 2\ntasks:\n", e.pg.Addr(), testenv.Host)
	backends := []string{"s3", "file", "rsync"}
	for _, b := range backends {
		task := e.task(config.ActionPush, "listed", b)
		fmt.Fprintf(&tasks, "  push_%s:\n    action: push\n    storagebackend: %s\n    url: %s\n    path: %s\n", b, b, task.URL, task.Path)
	}
	file := writeFile(t, t.TempDir(), "tasks.yaml", tasks.String())

	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			task := e.task(config.ActionPush, "listed", b)
			task.Name, task.Keep = "push_"+b, 2
			var pushed []string
			for i := range 3 {
				if i > 0 {
					time.Sleep(1100 * time.Millisecond) // keys name the second
				}
				if i == 2 {
					task.EncryptTo = []string{id.Recipient().String()}
					r := e.envsync(t, "keep", "--tasks", file, "--task", task.Name, "--key", pushed[0])
					if r.code != 0 {
						t.Fatalf("envsync keep: exit %d\n%s%s", r.code, r.stdout, r.stderr)
					}
				}
				pushed = append(pushed, e.mustRunT(t, starter.Request{Task: task}).Push.Key)
			}
			leftover := dump.Key(task.Path, "listed", time.Now().Add(-3*time.Hour), dump.Zstd)
			e.putRaw(t, task, leftover, "half an upload")

			r := e.envsync(t, "dumps", "--tasks", file, "--task", task.Name, "--json")
			if r.code != 0 {
				t.Fatalf("envsync dumps --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			var res activities.DumpsResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("dumps --json printed no JSON: %v\n%s", err, r.stdout)
			}
			var keys []string
			for _, d := range res.Dumps {
				keys = append(keys, d.Key)
			}
			if want := []string{pushed[2], pushed[1], pushed[0]}; !slices.Equal(keys, want) {
				t.Fatalf("dumps %v, want newest first %v", keys, want)
			}
			newest, middle, oldest := res.Dumps[0], res.Dumps[1], res.Dumps[2]
			fp := dump.Fingerprint(id.Recipient().String())
			if !slices.Equal(newest.Recipients, []string{fp}) || len(middle.Recipients) != 0 {
				t.Errorf("encryption: newest %v (want [%s]), middle %v (want none)", newest.Recipients, fp, middle.Recipients)
			}
			for _, d := range res.Dumps {
				if !d.Counted || !d.Exact || d.Tables != 2 || d.Rows != 42 || d.Compression != dump.Zstd || d.Size <= 0 || d.Problem != "" {
					t.Errorf("%s: %+v, want exact counts of 2 tables and 42 rows, zstd, a size, no problem", d.Key, d)
				}
			}
			if !oldest.KeepForever || len(oldest.Holds) != 1 || !strings.HasPrefix(oldest.Retention, "protected: kept forever") {
				t.Errorf("the dump kept forever: %+v", oldest)
			}
			if newest.Retention != "stays: the newest complete dump always stays" || middle.Retention != "stays: within keep 2" {
				t.Errorf("retention: newest %q, middle %q", newest.Retention, middle.Retention)
			}
			if len(res.Leftovers) != 1 || res.Leftovers[0].Key != leftover || !strings.Contains(res.Leftovers[0].Why, "without a manifest") {
				t.Errorf("leftovers %+v, want %s without a manifest", res.Leftovers, leftover)
			}

			text := e.envsync(t, "dumps", "--tasks", file, "--task", task.Name)
			for _, want := range []string{pushed[2], "encrypted to " + fp, "counted: 2 tables, 42 rows (exact)", "held: kept forever", "never drilled", "leftovers", leftover} {
				if !strings.Contains(text.stdout, want) {
					t.Errorf("envsync dumps does not say %q:\n%s", want, text.stdout)
				}
			}
			if i := strings.Index(text.stdout, pushed[2]); i < 0 || i > strings.Index(text.stdout, pushed[0]) {
				t.Errorf("envsync dumps does not list the newest first:\n%s", text.stdout)
			}
		})
	}

	r := e.envsync(t, "dumps", "--tasks", file, "--task", "nosuch")
	if r.code != 2 || !strings.Contains(r.stderr, `no task named "nosuch"`) {
		t.Errorf("dumps of an unknown task: exit %d\n%s", r.code, r.stderr)
	}
}

// putRaw stores body under key in the task's store without envsync, as a
// failed upload would leave it.
func (e *env) putRaw(t *testing.T, task config.Task, key, body string) {
	t.Helper()
	switch task.StorageBackend {
	case "s3":
		if _, err := e.s3.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	case "rsync":
		writeFile(t, filepath.Dir(filepath.Join("/", key)), filepath.Base(key), body)
	default:
		writeFile(t, filepath.Dir(filepath.Join(task.URL, key)), filepath.Base(key), body)
	}
}
