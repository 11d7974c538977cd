package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
)

// fixture is one engine's side of the pair test: a source to push, a
// target to pull into, and a comparison of the two.
type fixture struct {
	prepare func(t *testing.T, e *env, backend string) (push, pull config.Task)
	compare func(t *testing.T, e *env, backend string)
}

var fixtures = map[string]fixture{
	"postgresql": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			e.createShop("pg_src_" + backend)
			e.exec("postgres", "CREATE DATABASE pg_dst_"+backend)
			pull := e.task(config.ActionPull, "pg_dst_"+backend, backend)
			pull.SourceDatabase = "pg_src_" + backend
			return e.task(config.ActionPush, "pg_src_"+backend, backend), pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			sameRows(t, e.rows("pg_src_"+backend), e.rows("pg_dst_"+backend))
		},
	},
	"files": {
		prepare: func(t *testing.T, e *env, backend string) (config.Task, config.Task) {
			root := filepath.Join(e.fileDir, "trees-"+backend)
			src := filepath.Join(root, "src")
			os.MkdirAll(filepath.Join(src, "uploads/2026/11"), 0o755)
			os.WriteFile(filepath.Join(src, "uploads/2026/11/report.pdf"), []byte("%PDF-1.4 binary\x00\xff"), 0o640)
			os.WriteFile(filepath.Join(src, "index.html"), []byte("<h1>hi</h1>"), 0o644)
			os.Symlink("uploads/2026/11/report.pdf", filepath.Join(src, "latest.pdf"))
			dst := filepath.Join(root, "dst")
			os.MkdirAll(dst, 0o755)
			os.WriteFile(filepath.Join(dst, "stale.txt"), []byte("old"), 0o644)
			push := e.task(config.ActionPush, "assets", backend)
			push.DBMS, push.Directory, push.DatabaseHostname, push.Path = "files", src, "", "files"
			pull := push
			pull.Name, pull.Action, pull.Directory = "pull_assets", config.ActionPull, dst
			return push, pull
		},
		compare: func(t *testing.T, e *env, backend string) {
			root := filepath.Join(e.fileDir, "trees-"+backend)
			want, got := walk(t, filepath.Join(root, "src")), walk(t, filepath.Join(root, "dst"))
			if len(want) == 0 {
				t.Fatal("empty source tree proves nothing")
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: source %q, restored %q", k, v, got[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("%s only in the restored tree", k)
				}
			}
		},
	},
}

func walk(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := os.Lstat(p)
		switch {
		case rel == ".":
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		case fi.IsDir():
			out[rel] = fi.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every legal engine and store pair: push, then pull into another target,
// then compare the two.
func TestEveryEngineAndStorePair(t *testing.T) {
	e := newEnv(t, true)
	for _, dbms := range config.Engines() {
		fx, ok := fixtures[dbms]
		if !ok {
			t.Errorf("engine %s has no fixture in this test", dbms)
			continue
		}
		for _, backend := range config.Backends(dbms) {
			t.Run(dbms+"/"+backend, func(t *testing.T) {
				push, pull := fx.prepare(t, e, backend)
				pushed := e.mustRun(starter.Request{Task: push})
				pulled := e.mustRun(starter.Request{Task: pull})
				if pulled.Pull.Key != pushed.Push.Key {
					t.Errorf("pulled %s, pushed %s", pulled.Pull.Key, pushed.Push.Key)
				}
				fx.compare(t, e, backend)
			})
		}
	}
}
