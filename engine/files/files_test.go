package files

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/dump"
)

// tree describes a directory: path -> "mode:content" or "-> target".
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := os.Lstat(p)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case fi.IsDir():
			out[rel] = fi.Mode().Perm().String() + " dir"
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fi.Mode().Perm().String() + ":" + string(b) + ":" + fi.ModTime().UTC().Format(time.RFC3339)
		}
		return nil
	})
	return out
}

func TestRoundTripAndSwap(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "assets")
	os.MkdirAll(filepath.Join(src, "a/b/c"), 0o750)
	os.WriteFile(filepath.Join(src, "a/b/c/deep.txt"), []byte("deep"), 0o600)
	os.WriteFile(filepath.Join(src, "empty"), nil, 0o644)
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(src, "bin.dat"), []byte{0, 1, 2, 255, 0}, 0o644)
	os.Symlink("a/b/c/deep.txt", filepath.Join(src, "link"))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(src, "bin.dat"), old, old)

	var archive bytes.Buffer
	if _, err := New(src).Dump(context.Background(), &archive); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "live")
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(dst, "only-in-old"), []byte("x"), 0o644)
	e := New(dst)
	if _, err := e.Restore(context.Background(), bytes.NewReader(archive.Bytes()), "live_envsync_1", dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "only-in-old")); err != nil {
		t.Fatal("restore touched the live directory before the swap")
	}
	if err := e.Swap(context.Background(), "live_envsync_1", "label-1"); err != nil {
		t.Fatal(err)
	}
	want, got := tree(t, src), tree(t, dst)
	delete(want, ".")
	delete(got, ".")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: source %q, restored %q", k, v, got[k])
		}
	}
	if _, ok := got["only-in-old"]; ok {
		t.Error("a file only in the old tree survived")
	}
	if err := e.Swap(context.Background(), "live_envsync_1", "label-1"); err != nil {
		t.Errorf("retried swap: %v", err)
	}
	if err := e.Swap(context.Background(), "live_envsync_1", "label-2"); err == nil {
		t.Error("swap of a vanished staging directory under another label succeeded")
	}
	if entries, _ := os.ReadDir(root); len(entries) != 3 { // assets, live, .live.envsync: nothing staged left
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in the parent: %v", names)
	}
}

func TestHostileArchivesRefused(t *testing.T) {
	cases := map[string][]*tar.Header{
		"dotdot":          {{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute":        {{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"through symlink": {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, {Name: "l/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"device":          {{Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644}},
	}
	for name, hdrs := range cases {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			for _, h := range hdrs {
				tw.WriteHeader(h)
			}
			tw.Close()
			root := t.TempDir()
			e := New(filepath.Join(root, "live"))
			_, err := e.Restore(context.Background(), &b, "live_envsync_1", dump.Origin{})
			if err == nil || !strings.Contains(err.Error(), "untouched") {
				t.Fatalf("error = %v", err)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("a refused archive left %v", entries)
			}
		})
	}
}
