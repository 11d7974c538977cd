package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// A push with encrypt_to stores only age ciphertext (file and S3 stores),
// its manifest names the recipients by fingerprint and holds no key, and a
// worker with a matching identity pulls it back intact. A dump encrypted to
// someone else is refused before anything is restored, naming its
// recipients, and the target stays as it was.
func TestEncryptedDumpRoundTrip(t *testing.T) {
	mine, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := age.GenerateX25519Identity()
	e := newEnvWith(t, true, worker.Options{Activities: activities.Config{AgeIdentities: []age.Identity{mine}}})
	e.exec("postgres", "CREATE DATABASE secret")
	e.exec("secret", "CREATE TABLE people AS SELECT i, 'person ' || i AS name FROM generate_series(1, 500) i")
	for _, backend := range []string{"file", "s3"} {
		t.Run(backend, func(t *testing.T) {
			push := e.task("push", "secret", backend)
			push.Path = "enc-" + backend
			push.EncryptTo = []string{mine.Recipient().String(), theirs.Recipient().String()}
			pushed := e.mustRunT(t, starter.Request{Task: push})

			if backend == "file" {
				data, err := os.ReadFile(filepath.Join(e.fileDir, pushed.Push.Key))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(data, []byte("age-encryption.org/v1")) || bytes.Contains(data, []byte("person 42")) {
					t.Errorf("stored dump is not age ciphertext (starts %q)", data[:min(40, len(data))])
				}
				man, err := os.ReadFile(filepath.Join(e.fileDir, dump.ManifestKey(pushed.Push.Key)))
				if err != nil {
					t.Fatal(err)
				}
				var m dump.Manifest
				if err := json.Unmarshal(man, &m); err != nil {
					t.Fatal(err)
				}
				want := []string{dump.Fingerprint(mine.Recipient().String()), dump.Fingerprint(theirs.Recipient().String())}
				if m.Encrypted == nil || fmt.Sprint(m.Encrypted.Recipients) != fmt.Sprint(want) || strings.Contains(string(man), "age1") {
					t.Errorf("manifest encryption %+v, want fingerprints %v and no key", m.Encrypted, want)
				}
			}

			pull := e.task("pull", "secret_copy_"+backend, backend)
			pull.Path, pull.SourceDatabase = "enc-"+backend, "secret"
			e.mustRunT(t, starter.Request{Task: pull})
			if want, got := e.rows("secret"), e.rows("secret_copy_"+backend); fmt.Sprint(want) != fmt.Sprint(got) {
				t.Error("the decrypted pull differs from the source")
			}

			if backend == "s3" {
				// s3_sync copies the ciphertext as is; a pull from the
				// copy decrypts it.
				if _, err := e.s3.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("enc-replica")}); err != nil {
					t.Fatal(err)
				}
				sync := config.Task{Name: "replicate_enc", Action: config.ActionS3Sync, StorageBackend: "s3", URL: bucket, Path: push.Path,
					TargetURL: "enc-replica", TargetPath: "copied", WorkerHost: testenv.Host}
				if res := e.mustRunT(t, starter.Request{Task: sync}).Sync; len(res.Copied) != 1 {
					t.Fatalf("sync copied %v, want the one encrypted dump", res.Copied)
				}
				fromCopy := e.task("pull", "secret_from_copy", backend)
				fromCopy.URL, fromCopy.Path, fromCopy.SourceDatabase = "enc-replica", "copied", "secret"
				e.mustRunT(t, starter.Request{Task: fromCopy})
				if want, got := e.rows("secret"), e.rows("secret_from_copy"); fmt.Sprint(want) != fmt.Sprint(got) {
					t.Error("the pull from the s3_sync copy differs from the source")
				}
			}

			// Encrypted to someone else only: refused, target untouched.
			push.EncryptTo = []string{theirs.Recipient().String()}
			e.exec("secret", "INSERT INTO people VALUES (0, 'not for this worker')")
			e.mustRunT(t, starter.Request{Task: push})
			before := e.rows("secret_copy_" + backend)
			_, err := e.run(starter.Request{Task: pull})
			if err == nil || !strings.Contains(err.Error(), "is encrypted to 1 recipient(s) (fingerprints "+dump.Fingerprint(theirs.Recipient().String())) {
				t.Fatalf("pull without a matching identity: %v; want a refusal naming the recipient", err)
			}
			if after := e.rows("secret_copy_" + backend); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Error("the refused pull changed the target")
			}
			if left := e.stagingLeft(); len(left) > 0 {
				t.Errorf("staging copies left: %v", left)
			}
			e.exec("secret", "DELETE FROM people WHERE i = 0")
		})
	}
}
