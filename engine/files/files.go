// Package files is the "files" engine: a directory tree archived as tar
// (compressed once, by the dump stream), restored into a sibling directory
// and swapped in with one atomic rename exchange, so readers see the old
// tree or the new one, never a half-extracted mix.
package files

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// MaxName bounds staging names (a file name component).
const MaxName = 200

// Engine archives and restores one directory.
type Engine struct {
	dir string
}

// New returns the engine for the absolute directory dir.
func New(dir string) *Engine { return &Engine{dir: filepath.Clean(dir)} }

var _ engine.Engine = (*Engine)(nil)

// Dump writes the tree as a tar stream: regular files, directories and
// symlinks with their modes and times. Other file types are refused rather
// than silently left out.
func (e *Engine) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	if fi, err := os.Stat(e.dir); err != nil || !fi.IsDir() {
		return engine.DumpInfo{}, engine.Permanent(fmt.Errorf("files: %s is not a directory: %v", e.dir, err))
	}
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular(), fi.IsDir():
		default:
			return engine.Permanent(fmt.Errorf("files: %s is a %s, which cannot be archived", p, fi.Mode().Type()))
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX // keeps sub-second modification times
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return engine.DumpInfo{}, fmt.Errorf("files: archive %s: %w", e.dir, err)
	}
	return engine.DumpInfo{ServerVersion: "-", Format: "tar"}, nil
}

func (e *Engine) sibling(staging string) (string, error) {
	if err := engine.CheckStaging("files", staging); err != nil {
		return "", err
	}
	// The name becomes one directory beside the live one, never a path.
	if strings.ContainsAny(staging, `/\`) {
		return "", engine.Permanent(fmt.Errorf("files: refusing to use %q as a staging directory name: it holds a path separator", staging))
	}
	return filepath.Join(filepath.Dir(e.dir), "."+staging), nil
}

// Restore extracts into a new sibling directory. Entries that would land
// outside it (absolute paths, .., paths through an extracted symlink) fail
// the restore: a dump must not write anywhere else on the host.
// The origin is not needed: a directory has no settings outside its archive.
func (e *Engine) Restore(ctx context.Context, r io.Reader, staging string, _ dump.Origin) ([]string, error) {
	return nil, e.restore(ctx, r, staging)
}

// restore is Restore without the unused origin.
func (e *Engine) restore(ctx context.Context, r io.Reader, staging string) error {
	dst, err := e.sibling(staging)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return fmt.Errorf("files: create %s: %w", dst, err)
	}
	if err := extract(ctx, tar.NewReader(r), dst); err != nil {
		os.RemoveAll(dst)
		return fmt.Errorf("files: restore into %s: %w; %s is untouched", dst, err, e.dir)
	}
	return nil
}

func extract(ctx context.Context, tr *tar.Reader, dst string) error {
	links := map[string]bool{}
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := filepath.FromSlash(hdr.Name)
		if filepath.IsAbs(name) || name != filepath.Clean(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
			return engine.Permanent(fmt.Errorf("archive entry %q points outside the directory", hdr.Name))
		}
		for p := filepath.Dir(name); p != "."; p = filepath.Dir(p) {
			if links[p] {
				return engine.Permanent(fmt.Errorf("archive entry %q goes through the symlink %s", hdr.Name, p))
			}
		}
		target := filepath.Join(dst, name)
		mode := hdr.FileInfo().Mode().Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{target, hdr})
		case tar.TypeReg:
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Chmod(target, mode); err != nil {
				return err
			}
			if err := os.Chtimes(target, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
			links[name] = true
		default:
			return engine.Permanent(fmt.Errorf("archive entry %q has unsupported type %q", hdr.Name, hdr.Typeflag))
		}
	}
	// Directory modes and times last: writing into them changed both.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := os.Chmod(d.path, d.hdr.FileInfo().Mode().Perm()); err != nil {
			return err
		}
		_ = os.Chtimes(d.path, d.hdr.ModTime, d.hdr.ModTime)
	}
	return nil
}

func (e *Engine) labelPath() string {
	return filepath.Join(filepath.Dir(e.dir), "."+filepath.Base(e.dir)+".envsync")
}

func inode(p string) uint64 {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return 0
	}
	return st.Ino
}

// swapped reports whether the live directory is the tree restored under
// label: the label file beside it names the label and the tree's inode.
func (e *Engine) swapped(label string) bool {
	got, err := os.ReadFile(e.labelPath())
	if err != nil {
		return false
	}
	want, ino, _ := strings.Cut(string(got), "\n")
	return want == label && ino != "" && ino == fmt.Sprint(inode(e.dir))
}

// Swap exchanges the restored tree and the live one in one renameat2
// RENAME_EXCHANGE, then removes the old tree. The label file beside the
// directory records which dump and run it came from and the new tree's
// inode, so a retried swap knows whether the exchange already happened.
func (e *Engine) Swap(ctx context.Context, staging, label string) error {
	src, err := e.sibling(staging)
	if err != nil {
		return err
	}
	if !e.swapped(label) {
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			return engine.Permanent(fmt.Errorf("files: staging directory %s is gone and %s was not restored by this run; start the pull again", src, e.dir))
		}
		if err := os.WriteFile(e.labelPath(), []byte(label+"\n"+fmt.Sprint(inode(src))), 0o644); err != nil {
			return fmt.Errorf("files: write label %s: %w", e.labelPath(), err)
		}
		var err error
		if _, lerr := os.Lstat(e.dir); errors.Is(lerr, fs.ErrNotExist) {
			err = os.Rename(src, e.dir)
		} else {
			err = unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, e.dir, unix.RENAME_EXCHANGE)
		}
		if err != nil {
			return fmt.Errorf("files: put %s in place of %s: %w (both must be on one file system); %s is unchanged", src, e.dir, err, e.dir)
		}
	}
	// src now holds the previous tree, if there was one.
	if err := os.RemoveAll(src); err != nil {
		return fmt.Errorf("files: the new %s is in place, but removing the previous tree %s failed: %w", e.dir, src, err)
	}
	return nil
}

// Drop removes a staging directory.
func (e *Engine) Drop(ctx context.Context, staging string) error {
	dst, err := e.sibling(staging)
	if err != nil {
		return err
	}
	return os.RemoveAll(dst)
}
