package postgres_test

import (
	"bytes"
	"context"
	"fmt"
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

	// The operator upgrades the client: the worker, which remembers each
	// tool's version, sees the new binary without a restart.
	script = "#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.10'\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err = e.Dump(context.Background(), &bytes.Buffer{}); err != nil && strings.Contains(err.Error(), "is version") {
		t.Fatalf("after the upgrade: %v", err)
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

// A pull without rules restores through envsync's loader when it may use
// several connections: a large table spread over them, large objects (one
// of 24 MB, whose 48 MB of SQL the loader sends in parts) and the indexes
// come back as pg_restore would make them, the rows the server
// took are kept for the check (no count of the copy), and a note says the
// table's rows were spread. With one lane pg_restore loads it, as before.
func TestRestoreOverLanes(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	src := createDB(t, srv, "lanes_src")
	if _, err := src.Exec(ctx, `
		CREATE TABLE docs (id int PRIMARY KEY, body jsonb NOT NULL);
		INSERT INTO docs SELECT i, jsonb_build_object('n', i, 'text', repeat(md5(i::text), 3)) FROM generate_series(1, 300000) i;
		CREATE INDEX docs_n ON docs ((body->>'n'));
		SELECT lo_from_bytea(0, convert_to('a large object', 'UTF8'));
		SELECT lo_from_bytea(0, convert_to((SELECT string_agg(md5(i::text), '') FROM generate_series(1, 750000) i), 'UTF8'));`); err != nil {
		t.Fatal(err)
	}
	const digest = `SELECT count(*) || ':' || md5(string_agg(body::text, ',' ORDER BY id)) || ':' ||
		(SELECT count(*) FROM pg_indexes WHERE tablename = 'docs') || ':' ||
		(SELECT string_agg(md5(lo_get(oid)), ',' ORDER BY oid) FROM pg_largeobject_metadata) FROM docs`
	var want string
	if err := src.QueryRow(ctx, digest).Scan(&want); err != nil {
		t.Fatal(err)
	}
	data := dumpOf(t, srv, "lanes_src")
	for _, lanes := range []int{2, 1} {
		e := postgres.New(engine.Target{Database: "lanes", Host: srv.Host, Port: srv.Port}, postgres.Options{CopyLanes: lanes})
		staging := fmt.Sprintf("lanes%s%d", engine.StagingMarker, lanes)
		notes, err := e.Restore(ctx, bytes.NewReader(data), staging, dump.Origin{})
		if err != nil {
			t.Fatalf("%d lanes: %v", lanes, err)
		}
		conn, err := srv.Connect(ctx, staging)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, digest).Scan(&got)
		conn.Close(ctx)
		if err != nil || got != want {
			t.Errorf("%d lanes: restored %q (%v), want %q", lanes, got, err, want)
		}
		spread := strings.Contains(strings.Join(notes, "\n"), "public.docs loaded over up to 2 connections")
		switch loaded := e.Loaded(); {
		case lanes == 2 && (loaded["public.docs"] != 300000 || !spread):
			t.Errorf("2 lanes: loaded %v, notes %q; want the rows counted as loaded and a note of the spread", loaded, notes)
		case lanes == 1 && (loaded != nil || spread):
			t.Errorf("1 lane: loaded %v, notes %q; want pg_restore to have loaded it", loaded, notes)
		}
	}
}
