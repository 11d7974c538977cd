package rsyncstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/store"
	"github.com/envsync/envsync/store/rsyncstore"
	"github.com/envsync/envsync/store/storetest"
)

func newStore(t *testing.T) (*rsyncstore.Store, *testenv.SSHD) {
	t.Helper()
	d := testenv.StartSSHD(t)
	s, err := rsyncstore.New(rsyncstore.Options{Target: d.Target, Identity: d.Identity, KnownHosts: d.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

// The store contract over a real sshd. Keys are absolute remote paths, so
// the contract runs under the server-side directory.
func TestContract(t *testing.T) {
	s, d := newStore(t)
	storetest.Run(t, prefixed{s, strings.TrimPrefix(d.Root, "/")}, 3<<20)
}

// An upload killed part way leaves no visible object; the next attempt
// resumes from the partial file and sends far less than the whole.
func TestInterruptedUploadResumes(t *testing.T) {
	s, d := newStore(t)
	local := filepath.Join(t.TempDir(), "dump.gz")
	data := make([]byte, 64<<20)
	rand.Read(data)
	os.WriteFile(local, data, 0o600)
	key := strings.TrimPrefix(d.Root, "/") + "/pg/2026-11-26T000000Z-orders.gz"

	slow := filepath.Join(t.TempDir(), "rsync")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec /usr/bin/rsync --bwlimit=8m \"$@\"\n"), 0o755)
	t.Setenv("PATH", filepath.Dir(slow)+":"+os.Getenv("PATH"))
	// Interrupt it once half has arrived, whatever the machine's load:
	// a fixed delay, on a busy machine, can end before ssh has even
	// connected, and then nothing is left to resume.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	go func() {
		defer cancel()
		for ctx.Err() == nil {
			if arrived(d.Root) >= int64(len(data))/2 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	err := s.PutFile(ctx, key, local, int64(len(data)))
	cancel()
	if err == nil {
		t.Fatal("the throttled upload finished before half had arrived; the test cannot interrupt it")
	}
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("interrupted upload is visible: %v", err)
	}
	partial, _ := filepath.Glob(filepath.Join(d.Root, "pg", ".rsync-partial", "*"))
	if len(partial) != 1 {
		t.Fatalf("no partial file kept: %v", partial)
	}
	t.Setenv("PATH", strings.TrimPrefix(os.Getenv("PATH"), filepath.Dir(slow)+":"))
	if err := s.PutFile(context.Background(), key, local, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if sent := s.LastSent(); sent > int64(len(data))*3/4 {
		t.Errorf("resumed upload sent %d of %d bytes: it started over", sent, len(data))
	}
	got, _ := os.ReadFile(filepath.Join(d.Root, "pg", "2026-11-26T000000Z-orders.gz"))
	if len(got) != len(data) || string(got[:1024]) != string(data[:1024]) || string(got[len(got)-1024:]) != string(data[len(data)-1024:]) {
		t.Error("the resumed upload differs from the source")
	}
}

// arrived is how many bytes are under root, temp and partial files
// included.
func arrived(root string) int64 {
	var n int64
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
