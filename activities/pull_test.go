package activities

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/store/filestore"
)

func storedDump(t *testing.T, dir string, data []byte) (config.Task, ResolveResult) {
	t.Helper()
	st, err := filestore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	key := dump.Key("pg", "orders", time.Date(2026, 11, 25, 23, 30, 5, 0, time.UTC), dump.Gzip)
	if err := st.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	task := config.Task{Name: "pull_orders", Action: "pull", DBMS: "postgresql", StorageBackend: "file", Database: "orders",
		URL: dir, Path: "pg", WorkerHost: "db1", TempPath: filepath.Join(t.TempDir(), "tmp")}
	return task, ResolveResult{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

func download(t *testing.T, in DownloadInput) (DownloadResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := New(Config{LockDir: t.TempDir()})
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Download, in)
	if err != nil {
		return DownloadResult{}, err
	}
	var res DownloadResult
	return res, val.Get(&res)
}

// An interrupted download continues from the bytes on disk and the result
// is verified over the whole file.
func TestDownloadResumesAndVerifies(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(2)).Read(data)
	task, d := storedDump(t, t.TempDir(), data)
	res, err := download(t, DownloadInput{Task: task, Dump: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(res.Path, 300000); err != nil { // as a crash mid-transfer leaves it
		t.Fatal(err)
	}
	again, err := download(t, DownloadInput{Task: task, Dump: d})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(again.Path)
	if again.ResumedAt != 300000 || !bytes.Equal(got, data) {
		t.Errorf("resumed at %d, file equal %v", again.ResumedAt, bytes.Equal(got, data))
	}
}

// Bytes that do not match the manifest are refused, once and for good when
// the whole file came from the store; a resumed file that does not match is
// removed and retried from scratch.
func TestDownloadRefusesMismatch(t *testing.T) {
	data := []byte(strings.Repeat("dump bytes ", 1000))
	dir := t.TempDir()
	task, d := storedDump(t, dir, data)
	d.SHA256 = strings.Repeat("0", 64)
	_, err := download(t, DownloadInput{Task: task, Dump: d})
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrCorruptDump || !appErr.NonRetryable() || !strings.Contains(err.Error(), "live database is untouched") {
		t.Fatalf("error = %v; want a non-retryable CorruptDump", err)
	}
	entries, _ := os.ReadDir(task.TempPath)
	if len(entries) != 0 {
		t.Errorf("refused download left %v", entries)
	}

	d.Size = int64(len(data)) + 10
	_, err = download(t, DownloadInput{Task: task, Dump: d})
	if !errors.As(err, &appErr) || appErr.Type() != ErrCorruptDump || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("size mismatch: %v", err)
	}
}
