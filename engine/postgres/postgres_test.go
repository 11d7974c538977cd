package postgres_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/internal/testenv"
)

// A pg_dump older than the server cannot dump it correctly: refused before
// it runs, naming the package to install.
func TestOldClientRefused(t *testing.T) {
	srv := testenv.StartPostgres(t)
	bin := t.TempDir()
	script := "#!/bin/sh\necho 'pg_dump (PostgreSQL) 14.9'\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := postgres.New(engine.Target{Database: "postgres", Host: srv.Host, Port: srv.Port}, postgres.Options{BinDir: bin})
	_, err := e.Dump(context.Background(), &bytes.Buffer{})
	if err == nil || !engine.IsPermanent(err) || !strings.Contains(err.Error(), "is version 14 but the server is 15") ||
		!strings.Contains(err.Error(), "postgresql-client-15") {
		t.Fatalf("error = %v", err)
	}
}

// A swap retried after it already happened (its reply was lost) succeeds;
// a swap whose staging copy is gone and that did not happen fails for good.
func TestSwapIsIdempotent(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	admin := adminConn(t, srv)
	for _, s := range []string{"CREATE DATABASE live", "CREATE DATABASE live_envsync_0001"} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	e := postgres.New(engine.Target{Database: "live", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	if err := e.Swap(ctx, "live_envsync_0001", "envsync: restored k by run r1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Swap(ctx, "live_envsync_0001", "envsync: restored k by run r1"); err != nil {
		t.Errorf("retried swap: %v", err)
	}
	err := e.Swap(ctx, "live_envsync_0001", "envsync: restored k by run r2")
	if err == nil || !engine.IsPermanent(err) || !strings.Contains(err.Error(), "was not restored by this run") {
		t.Errorf("swap of a vanished copy: %v", err)
	}
	var n int
	admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'live%'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d databases named live*, want just the live one", n)
	}
}

// Names without the staging marker are never dropped or restored into,
// and system databases are never pull targets.
func TestGuards(t *testing.T) {
	ctx := context.Background()
	e := postgres.New(engine.Target{Database: "orders", Host: "127.0.0.1", Port: 1}, postgres.Options{})
	if err := e.Drop(ctx, "orders"); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("drop of a live name: %v", err)
	}
	if _, err := e.Restore(ctx, &bytes.Buffer{}, "orders", dump.Origin{}); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("restore into a live name: %v", err)
	}
	sys := postgres.New(engine.Target{Database: "template1", Host: "127.0.0.1", Port: 1}, postgres.Options{})
	if err := sys.Swap(ctx, "template1_envsync_x", "l"); err == nil || !strings.Contains(err.Error(), "system database") {
		t.Errorf("swap into template1: %v", err)
	}
}
