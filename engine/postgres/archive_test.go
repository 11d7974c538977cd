package postgres

import (
	"bufio"
	"bytes"
	"context"
	"maps"
	"strconv"
	"strings"
	"testing"

	"github.com/envsync/envsync/internal/testenv"
)

// The counter reads pg_dump's own archive: rows whose values hold escaped
// newlines, tabs and backslashes, a table large enough to span many
// chunks, an empty table, an odd schema name and a large object (whose
// newlines are not rows) give the counts count(*) gives.
func TestCountArchiveMatchesTheTables(t *testing.T) {
	srv := testenv.StartPostgres(t)
	ctx := context.Background()
	db := newDatabase(t, srv, "archived")
	execAll(t, db,
		`CREATE TABLE notes (id int, body text)`,
		`INSERT INTO notes SELECT i, 'line one' || chr(10) || 'line two' || chr(9) || '\tab' || chr(13) FROM generate_series(1, 30000) i`,
		`CREATE SCHEMA "Odd ""Schema"""`,
		`CREATE TABLE "Odd ""Schema""".empty (id int)`,
		`CREATE TABLE "Odd ""Schema"""."new`+"\n"+`line" (id int)`,
		`INSERT INTO "Odd ""Schema"""."new`+"\n"+`line" VALUES (1), (2)`,
		`SELECT lo_from_bytea(0, convert_to(repeat('blob' || chr(10), 5000), 'UTF8'))`,
	)
	archive := func(compress int) []byte {
		return pgDump(t, srv, "archived", "--format=custom", "--compress="+strconv.Itoa(compress))
	}
	raw := archive(0)
	got, err := countArchive(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("count the archive: %v", err)
	}
	want := map[string]int64{"public.notes": 30000, `Odd "Schema".empty`: 0, "Odd \"Schema\".new\nline": 2}
	if !maps.Equal(got, want) {
		t.Fatalf("counts = %v, want %v", got, want)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	counted, err := countTables(ctx, tx)
	if err != nil || !maps.Equal(counted, want) {
		t.Fatalf("count(*) gives %v (%v), the archive %v", counted, err, want)
	}

	// Through countThrough every byte arrives, counted or not: a
	// compressed archive is copied whole and the counter says why it
	// could not count.
	for _, c := range []struct {
		in      []byte
		problem string
	}{{raw, ""}, {archive(1), "compressed"}, {[]byte("not an archive at all"), "not a custom-format archive"}, {raw[:len(raw)/2], "unexpected EOF"}} {
		var out bytes.Buffer
		counts, cerr, werr := countThrough(bytes.NewReader(c.in), &out)
		if werr != nil || !bytes.Equal(out.Bytes(), c.in) {
			t.Errorf("copied %d of %d bytes, write error %v", out.Len(), len(c.in), werr)
		}
		if c.problem == "" && (cerr != nil || !maps.Equal(counts, want)) {
			t.Errorf("counts %v, error %v", counts, cerr)
		}
		if c.problem != "" && (cerr == nil || !strings.Contains(cerr.Error(), c.problem)) {
			t.Errorf("error %v, want one saying %q", cerr, c.problem)
		}
	}
}

// BenchmarkCountArchive counts the rows of pg_dump's archive of 500,000
// short rows as a push does while they pass: pg_dump writes a chunk per
// row, so the cost per chunk is what counts.
func BenchmarkCountArchive(b *testing.B) {
	srv := testenv.StartPostgres(b)
	db := newDatabase(b, srv, "counted")
	execAll(b, db,
		`CREATE TABLE events (id bigint, at timestamptz, kind text, body text)`,
		`INSERT INTO events SELECT i, now(), 'kind-' || (i % 17), md5(i::text) || repeat(' payload', 20) FROM generate_series(1, 500000) i`,
	)
	raw := pgDump(b, srv, "counted", "--format=custom", "--compress=0")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		counts, err := countArchive(bufio.NewReaderSize(bytes.NewReader(raw), 1<<20))
		if err != nil || counts["public.events"] != 500000 {
			b.Fatalf("counts %v, %v", counts, err)
		}
	}
}

// A chunk length too long for an int (damage, or an archive of another
// kind) is an error the push falls back from, never a crash of the worker.
func TestCountArchiveRefusesAnOverlongChunk(t *testing.T) {
	data := append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x80}, bytes.Repeat([]byte("x"), 64)...)
	c := &rowCounter{r: bufio.NewReader(bytes.NewReader(data)), intSize: 8}
	c.r.Peek(1) // fill the buffer, as a reader mid-archive has it
	if err := c.chunks(func([]byte) {}); err == nil || !strings.Contains(err.Error(), "archive chunk of length") {
		t.Fatalf("chunks of an overlong length: %v; want it named as wrong", err)
	}
}
