package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/engine/sanitise"
)

// batchDump is a plain dump of three tables: people (transformed, kept
// and filtered columns, values with COPY escapes), an emptied table and a
// quoted one, with statements between the COPY blocks.
func batchDump(rows int, personalAt int) []byte {
	var b bytes.Buffer
	b.WriteString("SET statement_timeout = 0;\n")
	b.WriteString("CREATE TABLE public.people (\n    id bigint NOT NULL,\n    email text,\n    name character varying(12),\n    notes text,\n    joined date\n);\n")
	b.WriteString("CREATE TABLE public.audit (\n    id bigint,\n    what text\n);\n")
	b.WriteString("CREATE TABLE public.\"Notes\" (\n    id bigint,\n    note text\n);\n")
	b.WriteString("COPY public.people (id, email, name, notes, joined) FROM stdin;\n")
	for i := 1; i <= rows; i++ {
		notes := fmt.Sprintf("line one\\nline\\ttwo \\\\ %d", i)
		if i == personalAt {
			notes = "write to someone@example.org"
		}
		email := fmt.Sprintf("Person%d@Example.org", i%(rows/3+1))
		if i%17 == 0 {
			email = `\N`
		}
		fmt.Fprintf(&b, "%d\t%s\tJo\\tSmith %d\t%s\t%s\n", i, email, i%50, notes, time.Date(2000+i%30, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02"))
	}
	b.WriteString("\\.\n\n")
	b.WriteString("COPY public.audit (id, what) FROM stdin;\n")
	for i := 1; i <= rows/2; i++ {
		fmt.Fprintf(&b, "%d\tlogin by person%d@example.org\n", i, i)
	}
	b.WriteString("\\.\n\n")
	b.WriteString("COPY public.\"Notes\" (id, note) FROM stdin;\n")
	for i := 1; i <= rows/4; i++ {
		fmt.Fprintf(&b, "%d\tnote %d\n", i, i)
	}
	b.WriteString("\\.\n\nCREATE INDEX people_email ON public.people USING btree (email);\n")
	return b.Bytes()
}

const batchRules = `
tables:
  people:
    id: keep
    email: email
    name: name
    notes: keep
    joined: keep
    delete_where: joined older than 20y
  audit: empty
  Notes:
    id: keep
    note: keep
`

// newPlan starts a plan over rules, on 2026-12-01 (batchRules' filter
// compares dates).
func newPlan(t *testing.T, rules string) *sanitise.Plan {
	t.Helper()
	r, err := sanitise.Parse("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sanitise.NewPlan(r, "a-key-of-sixteen-or-more", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sanitiseWith(t *testing.T, in []byte, workers, batch int) ([]byte, sanitise.Report, error) {
	t.Helper()
	p := newPlan(t, batchRules)
	var out bytes.Buffer
	s := newSanitiser(p, &out)
	s.workers, s.batchBytes = workers, batch
	err := s.run(bytes.NewReader(in))
	return out.Bytes(), p.Report(), err
}

// Rows sanitised by several workers in small batches come out byte for
// byte as one worker with one batch a table writes them, in the dump's
// order, with the same counts: each worker's fork of a table's rules gives
// the same pseudonyms, filters the same rows and scans the same values.
func TestSanitiserInBatchesWritesWhatOneWorkerWould(t *testing.T) {
	in := batchDump(3000, 0)
	want, wantRep, err := sanitiseWith(t, in, 1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(want, []byte("Person1@Example.org")) || !bytes.Contains(want, []byte("line one\\nline\\ttwo")) ||
		!bytes.Contains(want, []byte("CREATE INDEX people_email")) || bytes.Contains(want, []byte("login by")) {
		t.Fatalf("the reference run did not sanitise as the rules say:\n%.600s", want)
	}
	p := wantRep.Tables["public.people"]
	if p == nil || p.Rows != 3000 || p.Filtered == 0 || p.Transformed == 0 || p.Scanned == 0 || wantRep.Tables["public.audit"].Filtered != 1500 {
		t.Fatalf("reference counts: %+v %+v", p, wantRep.Tables["public.audit"])
	}
	for _, c := range []struct{ workers, batch int }{{2, 4096}, {3, 100}, {4, 1}} {
		got, rep, err := sanitiseWith(t, in, c.workers, c.batch)
		if err != nil {
			t.Fatalf("%d workers, %d-byte batches: %v", c.workers, c.batch, err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("%d workers, %d-byte batches: output differs from one worker's at byte %d:\n got %q\nwant %q",
				c.workers, c.batch, i, got[i:min(i+80, len(got))], want[i:min(i+80, len(want))])
		}
		for name, w := range wantRep.Tables {
			if g := rep.Tables[name]; g == nil || *g != *w {
				t.Fatalf("%d workers, %d-byte batches: %s counted %+v, one worker %+v", c.workers, c.batch, name, g, w)
			}
		}
	}
}

// A personal value in a kept column deep in the rows fails the run with
// its table, column and kind, and nothing from its batch on is written,
// however the rows were spread over the workers.
func TestSanitiserInBatchesStopsAtAFinding(t *testing.T) {
	in := batchDump(3000, 2500)
	for _, c := range []struct{ workers, batch int }{{1, 1 << 30}, {2, 4096}, {3, 100}} {
		out, _, err := sanitiseWith(t, in, c.workers, c.batch)
		if err == nil || !strings.Contains(err.Error(), "public.people.notes: email in 1 values") {
			t.Fatalf("%d workers: err = %v, want the finding in people.notes", c.workers, err)
		}
		if bytes.Contains(out, []byte("someone@example.org")) || bytes.Contains(out, []byte("\n2501\t")) ||
			bytes.Contains(out, []byte("CREATE INDEX")) {
			t.Fatalf("%d workers: rows from the failing one on were written:\n%.300s", c.workers, out[max(len(out)-300, 0):])
		}
	}
}

// Large objects come as statements outside any COPY block, which no rule
// can name: a dump holding one fails the plan before its bytes are
// written, unless the rule set lets what it does not name through.
func TestSanitiserRefusesLargeObjects(t *testing.T) {
	in := append(batchDump(10, 0), []byte(`
SELECT pg_catalog.lo_create('16385');

ALTER LARGE OBJECT 16385 OWNER TO postgres;

BEGIN;

SELECT pg_catalog.lo_open('16385', 131072);
SELECT pg_catalog.lowrite(0, '\x6a6f406578616d706c652e6f7267');
SELECT pg_catalog.lo_close(0);

COMMIT;
`)...)
	out, _, err := sanitiseWith(t, in, 2, 4096)
	if err == nil || !strings.Contains(err.Error(), "large objects (pg_largeobject)") || !strings.Contains(err.Error(), "unlisted: keep") {
		t.Fatalf("err = %v, want the large objects named with the way out", err)
	}
	if bytes.Contains(out, []byte("lowrite")) || bytes.Contains(out, []byte("lo_create")) {
		t.Fatalf("the large object was written:\n%s", out)
	}

	var kept bytes.Buffer
	if err := newSanitiser(newPlan(t, "unlisted: keep\n"+batchRules), &kept).run(bytes.NewReader(in)); err != nil {
		t.Fatalf("with unlisted: keep: %v", err)
	}
	if !bytes.Contains(kept.Bytes(), []byte(`lowrite(0, '\x6a6f406578616d706c652e6f7267')`)) {
		t.Fatal("with unlisted: keep the large object did not pass as it is")
	}
}

// A row with a field more than its COPY header names fails the plan (the
// field would pass unread), naming the table and both numbers, and is not
// written.
func TestSanitiserRefusesARowOfTheWrongWidth(t *testing.T) {
	in := bytes.Replace(batchDump(50, 0), []byte("\n7\t"), []byte("\n7\tjo@real.example\t"), 1)
	out, _, err := sanitiseWith(t, in, 2, 512)
	if err == nil || !strings.Contains(err.Error(), "public.people: a row of 6 fields, where the dump names 5 columns") {
		t.Fatalf("err = %v, want the misfit row named", err)
	}
	if bytes.Contains(out, []byte("real.example")) {
		t.Fatal("the extra field was written")
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("the server went away")
	}
	return len(p), nil
}

type failingReader struct {
	r     io.Reader
	after int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.after <= 0 {
		return 0, errors.New("the archive broke off")
	}
	n, err := r.r.Read(p[:min(len(p), r.after)])
	r.after -= n
	return n, err
}

// A writer that fails, or a reader that breaks off, ends the run with its
// error, however many batches are in flight: no worker or writer is left
// waiting.
func TestSanitiserInBatchesStopsOnAFailedWriteOrRead(t *testing.T) {
	in := batchDump(3000, 0)
	for _, at := range []int{0, 100, 5000, 60000} {
		s := newSanitiser(newPlan(t, batchRules), &failingWriter{after: at})
		s.workers, s.batchBytes = 3, 1000
		if err := s.run(bytes.NewReader(in)); err == nil || !strings.Contains(err.Error(), "went away") {
			t.Fatalf("writer failing after %d bytes: err = %v", at, err)
		}
		s = newSanitiser(newPlan(t, batchRules), io.Discard)
		s.workers, s.batchBytes = 3, 1000
		if err := s.run(&failingReader{r: bytes.NewReader(in), after: at}); err == nil || !strings.Contains(err.Error(), "broke off") {
			t.Fatalf("reader breaking off after %d bytes: err = %v", at, err)
		}
	}
}
