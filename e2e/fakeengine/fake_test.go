// Package fakeengine_test proves the engine registry: an engine defined and
// registered here, in a test package, with no file outside it touched, is
// validated, pushed and pulled end to end through a real Temporal server, a
// real worker and the file store like any engine envsync ships.
package fakeengine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

// name is the fake engine's dbms value; maxName is deliberately unlike any
// real engine's, so the test sees the registry's value reach the staging
// name.
const (
	name    = "kvfake"
	maxName = 24
)

// server is the fake database server: databases are byte strings.
type server struct {
	mu  sync.Mutex
	dbs map[string][]byte
	// restored records every name a restore wrote, staging copies included.
	restored []string
	// failRestore makes every restore fail half way.
	failRestore bool
	// gate, when set, holds every restore until it is closed.
	gate chan struct{}
}

var srv = &server{dbs: map[string][]byte{}}

func (s *server) get(db string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.dbs[db]
	return b, ok
}

// fake is one database on the fake server.
type fake struct{ db string }

func (f fake) Dump(ctx context.Context, w io.Writer) (engine.DumpInfo, error) {
	b, ok := srv.get(f.db)
	if !ok {
		return engine.DumpInfo{}, engine.Permanent(fmt.Errorf("%s: no database %s", name, f.db))
	}
	_, err := w.Write(b)
	return engine.DumpInfo{ServerVersion: "1", Format: "kvfake-raw"}, err
}

func (f fake) Restore(ctx context.Context, r io.Reader, staging string, _ dump.Origin) ([]string, error) {
	if err := engine.CheckStaging(name, staging); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	srv.mu.Lock()
	gate := srv.gate
	srv.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.restored = append(srv.restored, staging)
	if srv.failRestore {
		srv.dbs[staging] = b[:len(b)/2]
		return nil, engine.Permanent(errors.New(name + ": restore failed half way"))
	}
	srv.dbs[staging] = b
	return nil, nil
}

func (f fake) Swap(ctx context.Context, staging, label string) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	b, ok := srv.dbs[staging]
	if !ok {
		return engine.Permanent(fmt.Errorf("%s: no staging copy %s", name, staging))
	}
	srv.dbs[f.db] = b
	delete(srv.dbs, staging)
	return nil
}

func (f fake) Drop(ctx context.Context, staging string) error {
	if err := engine.CheckStaging(name, staging); err != nil {
		return err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.dbs, staging)
	return nil
}

func init() {
	engine.Register(engine.Info{
		Name:    name,
		MaxName: maxName,
		Stores:  []string{"file"},
		New:     func(s engine.Spec, _ engine.Settings) (engine.Engine, error) { return fake{s.Database}, nil },
	})
}

func TestRegisteredEngineRunsEndToEnd(t *testing.T) {
	tp := testenv.StartTemporal(t)
	tp.StartWorker(t, activities.Config{})
	store := t.TempDir()
	src := bytes.Repeat([]byte("row of the fake engine\n"), 10000)
	srv.mu.Lock()
	srv.dbs["orders"] = src
	srv.dbs["orders_copy"] = []byte("old contents")
	srv.mu.Unlock()

	base := config.Task{DBMS: name, StorageBackend: "file", URL: store, Path: "kv", WorkerHost: testenv.Host}
	push := base
	push.Name, push.Action, push.Database = "push_orders", config.ActionPush, "orders"
	pull := base
	pull.Name, pull.Action, pull.Database, pull.SourceDatabase = "pull_orders_copy", config.ActionPull, "orders_copy", "orders"

	// Validation knows the engine from its registration alone.
	bad := base
	bad.Name, bad.Action, bad.Database, bad.StorageBackend, bad.URL = "bad", config.ActionPush, "orders", "s3", "bucket"
	bad.Normalise()
	if err := bad.Validate("test"); err == nil || !strings.Contains(err.Error(), "legal backends for "+name+": file") {
		t.Errorf("s3 for %s: want refused with its legal stores, got %v", name, err)
	}

	run := func(r starter.Request) (starter.Outcome, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		r.Timeouts = workflows.Timeouts{HostWait: 30 * time.Second}
		return starter.Run(ctx, tp.Client, r)
	}
	pushed, err := run(starter.Request{Task: push})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if pushed.Push == nil || pushed.Push.Key == "" || pushed.Push.Size == 0 {
		t.Fatalf("push stored nothing: %+v", pushed.Push)
	}
	pulled, err := run(starter.Request{Task: pull})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if pulled.Pull.Key != pushed.Push.Key {
		t.Errorf("pulled %s, pushed %s", pulled.Pull.Key, pushed.Push.Key)
	}
	if got, _ := srv.get("orders_copy"); !bytes.Equal(got, src) {
		t.Errorf("orders_copy holds %d bytes after the pull, want the %d of orders", len(got), len(src))
	}
	if st := pulled.Pull.Staging; len(st) > maxName || !strings.Contains(st, engine.StagingMarker) {
		t.Errorf("staging copy %q: want the marker, within the engine's %d bytes", st, maxName)
	}

	// A restore that fails leaves the live copy as it was and no staging
	// copy behind, as for every engine.
	srv.mu.Lock()
	srv.dbs["orders_copy"] = []byte("before the failed pull")
	srv.failRestore = true
	srv.mu.Unlock()
	if _, err := run(starter.Request{Task: pull}); err == nil || !strings.Contains(err.Error(), "restore failed half way") {
		t.Fatalf("pull with a failing restore: want its error, got %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if got := string(srv.dbs["orders_copy"]); got != "before the failed pull" {
		t.Errorf("live copy after a failed pull: %q", got)
	}
	for db := range srv.dbs {
		if strings.Contains(db, engine.StagingMarker) {
			t.Errorf("staging copy %s left behind", db)
		}
	}
}
