package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// zstdTool is the zstd tool the worker would find, or the test fails
// saying how to install it.
func zstdTool(t *testing.T) engine.Zstd {
	t.Helper()
	z, note, err := engine.FindZstd(context.Background(), "auto")
	if err != nil || z.Path == "" {
		t.Fatalf("the zstd tool is needed (apt-get install zstd): %v %s", err, note)
	}
	return z
}

// rows is text like a dump's COPY data: compressible, not trivially.
func rows(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d\tcustomer-%d@example.org\t%d.%02d\t2026-%02d-%02d\n", i, i*7919%100003, i%9973, i%100, i%12+1, i%28+1)
	}
	return b.Bytes()[:n]
}

// A push compressing with the zstd tool stores frames any zstd decoder
// reads back to the dump, and the manifest's size and sha256 describe
// exactly the bytes stored.
func TestZstdToolFramesDecodeAndAreMeasured(t *testing.T) {
	z := zstdTool(t)
	data := rows(24 << 20)
	var stored bytes.Buffer
	w, err := dump.NewWriterWith(&stored, dump.Zstd, 0, z.Encoder(context.Background(), engine.DefaultPriority))
	if err != nil {
		t.Fatal(err)
	}
	if !w.Outside() {
		t.Fatal("the writer does not say it compresses outside the worker")
	}
	// As a dump tool's output arrives: through ReadFrom, in pipe-sized
	// pieces.
	if _, err := w.ReadFrom(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored.Bytes())
	if w.Size() != int64(stored.Len()) || w.SHA256() != hex.EncodeToString(sum[:]) || w.In() != int64(len(data)) {
		t.Fatalf("measured %d bytes sha256 %s from %d; stored %d bytes sha256 %x from %d", w.Size(), w.SHA256(), w.In(), stored.Len(), sum, len(data))
	}
	if stored.Len() > len(data)/3 {
		t.Errorf("%d bytes compressed to %d: not compressed", len(data), stored.Len())
	}
	r, err := dump.NewReader(&stored, dump.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Fatalf("decoded %d bytes, not the %d written", len(back), len(data))
	}
}

// fakeZstd writes an executable shell script standing in for the tool.
func fakeZstd(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zstd")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A tool that fails mid-stream fails the push with its own message and
// what to do, not with the broken pipe the worker's next write meets.
func TestZstdToolFailureSaysWhy(t *testing.T) {
	fake := engine.Zstd{Path: fakeZstd(t, "head -c 100000 > /dev/null; echo 'zstd: error 70 : Write error : cannot write block : No space left on device' >&2; exit 70\n")}
	w, err := dump.NewWriterWith(io.Discard, dump.Zstd, 0, fake.Encoder(context.Background(), engine.Priority{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.ReadFrom(bytes.NewReader(rows(16 << 20)))
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		t.Fatal("a failing tool did not fail the stream")
	}
	for _, want := range []string{"No space left on device", "exit status 70", "--zstd builtin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// When what comes after the tool fails (the upload, the spool), that is
// the error, the tool stops instead of writing into a pipe nobody reads,
// and a cancelled push kills it.
func TestZstdToolStopsWhenItsOutputFails(t *testing.T) {
	z := zstdTool(t)
	refused := errors.New("upload refused")
	w, err := dump.NewWriterWith(&failAfter{n: 64 << 10, err: refused}, dump.Zstd, 0, z.Encoder(context.Background(), engine.Priority{}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.ReadFrom(bytes.NewReader(rows(64 << 20)))
		done <- errors.Join(err, w.Close())
	}()
	select {
	case err := <-done:
		if !errors.Is(err, refused) {
			t.Errorf("error %v, want the output's", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not stop when its output failed")
	}

	ctx, cancel := context.WithCancel(context.Background())
	w, err = dump.NewWriterWith(io.Discard, dump.Zstd, 0, z.Encoder(ctx, engine.Priority{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(rows(1 << 20)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("closing after the push was cancelled: %v, want the tool killed", err)
	}
}

type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, f.err
	}
	return len(p), nil
}

// The worker's --zstd: auto takes the tool on PATH when it is new enough
// and says why not otherwise; a path given must work.
func TestFindZstd(t *testing.T) {
	ctx := context.Background()
	if z, _, err := engine.FindZstd(ctx, "builtin"); err != nil || z.Path != "" {
		t.Errorf("builtin: %+v %v", z, err)
	}
	old := fakeZstd(t, "echo '*** zstd command line interface 64-bits v1.3.8, by Yann Collet ***'\n")
	if _, _, err := engine.FindZstd(ctx, old); err == nil || !strings.Contains(err.Error(), "1.3.8, older than 1.4") || !strings.Contains(err.Error(), "--zstd") {
		t.Errorf("an old tool given by path: %v", err)
	}
	if _, _, err := engine.FindZstd(ctx, "/no/such/zstd"); err == nil || !strings.Contains(err.Error(), `--zstd "/no/such/zstd"`) {
		t.Errorf("a missing tool given by path: %v", err)
	}
	t.Setenv("PATH", filepath.Dir(old))
	if z, note, err := engine.FindZstd(ctx, "auto"); err != nil || z.Path != "" || !strings.Contains(note, "older than 1.4") {
		t.Errorf("auto with an old tool on PATH: %+v %q %v", z, note, err)
	}
	t.Setenv("PATH", t.TempDir())
	if z, note, err := engine.FindZstd(ctx, "auto"); err != nil || z.Path != "" || !strings.Contains(note, "apt-get install zstd") {
		t.Errorf("auto without a tool: %+v %q %v", z, note, err)
	}
	if _, err := exec.LookPath("zstd"); err == nil {
		t.Fatal("PATH still finds zstd")
	}
}
