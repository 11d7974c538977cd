package postgres_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"sync"
	"testing"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/engine/postgres"
	"github.com/envsync/envsync/internal/testenv"
)

// writeHook runs once, at the dump's first byte: by then pg_dump has its
// snapshot, so what the hook commits must be in neither the dump nor its
// counts.
type writeHook struct {
	w    io.Writer
	once sync.Once
	hook func()
}

func (h *writeHook) Write(p []byte) (int, error) {
	h.once.Do(h.hook)
	return h.w.Write(p)
}

// The counts a dump records are the rows the dump holds (its own snapshot),
// not the rows the table has when counting ends: rows committed while
// pg_dump runs are in neither. Partitions, schemas with odd names and empty
// tables are counted; extension tables and partitioned parents are not.
func TestDumpCountsItsOwnSnapshot(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	db := createDB(t, srv, "counted")
	for _, s := range []string{
		`CREATE TABLE orders (id int)`,
		`INSERT INTO orders SELECT generate_series(1, 5000)`,
		`CREATE SCHEMA "Odd ""Schema"""`,
		`CREATE TABLE "Odd ""Schema""".empty (id int)`,
		`CREATE TABLE events (id int, at date) PARTITION BY RANGE (at)`,
		`CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
		`CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
		`INSERT INTO events SELECT i, '2025-06-01' FROM generate_series(1, 30) i`,
		`INSERT INTO events SELECT i, '2026-06-01' FROM generate_series(1, 12) i`,
	} {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	e := postgres.New(engine.Target{Database: "counted", Host: srv.Host, Port: srv.Port}, postgres.Options{Count: true})
	var out bytes.Buffer
	w := &writeHook{w: &out, hook: func() {
		if _, err := db.Exec(ctx, `INSERT INTO orders SELECT generate_series(1, 700)`); err != nil {
			t.Error(err)
		}
	}}
	info, err := e.Dump(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"public.orders": 5000, `Odd "Schema".empty`: 0, "public.events_2025": 30, "public.events_2026": 12}
	if info.Counts == nil || !info.Counts.Exact || info.Counts.Of != "table" || !maps.Equal(info.Counts.Tables, want) {
		t.Fatalf("counts = %+v, want exact %v", info.Counts, want)
	}

	// The restored copy holds what was counted; the live one has moved on.
	staging := "counted" + engine.StagingMarker + "0001"
	if _, err := e.Restore(ctx, &out, staging, dump.Origin{}); err != nil {
		t.Fatal(err)
	}
	got, err := e.Count(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	if d := info.Counts.Compare(got); len(d) != 0 {
		t.Errorf("restored copy differs: %s", dump.Describe(d, 5))
	}
	live, err := e.Count(ctx, "counted")
	if err != nil {
		t.Fatal(err)
	}
	d := info.Counts.Compare(live)
	if len(d) != 1 || d[0].String() != "public.orders has 5700, the source had 5000" {
		t.Errorf("live compared with the dump: %v", d)
	}

	// A sanitised dump (plain SQL through a plan) is counted as its rows
	// pass the sanitiser: the same snapshot, with no second read. Rows an
	// emptied table held are counted as seen; the push takes off what the
	// plan filtered.
	w = &writeHook{w: io.Discard, hook: func() {
		if _, err := db.Exec(ctx, `INSERT INTO orders SELECT generate_series(1, 33)`); err != nil {
			t.Error(err)
		}
	}}
	info, err = e.DumpPlan(ctx, w, plan(t, "unlisted: keep\ntables:\n  events_2025: empty\n"))
	if err != nil {
		t.Fatal(err)
	}
	want["public.orders"] = 5700
	if info.Counts == nil || !info.Counts.Exact || !maps.Equal(info.Counts.Tables, want) {
		t.Fatalf("sanitised dump's counts = %+v, want exact %v", info.Counts, want)
	}

	// Without Count, nothing is counted (and no snapshot is exported).
	plain := postgres.New(engine.Target{Database: "counted", Host: srv.Host, Port: srv.Port}, postgres.Options{})
	info, err = plain.Dump(ctx, io.Discard)
	if err != nil || info.Counts != nil {
		t.Errorf("dump without Count: counts %+v, err %v", info.Counts, err)
	}
}
