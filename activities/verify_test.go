package activities

import (
	"context"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
	"github.com/envsync/envsync/store/filestore"
)

// A pull whose restore kept the rows the server took (on this host, beside
// the run's other temp files) checks those against the dump's counts and
// reads nothing of the copy: a match passes and says how it was counted, a
// table one row short fails naming it, a count that misses one of the
// dump's tables is no count of the copy, so the copy itself is counted
// (here: no server, so that fails), and RemoveTemp takes the file away.
func TestVerifyChecksTheRowsTheServerLoaded(t *testing.T) {
	task, dumped := storedDump(t, t.TempDir(), []byte("a dump"))
	st, err := filestore.New(task.URL)
	if err != nil {
		t.Fatal(err)
	}
	man := dump.Manifest{Format: dump.ManifestFormat, Key: dumped.Key, DBMS: "postgresql", Database: "orders",
		Size: dumped.Size, SHA256: dumped.SHA256, Compression: dump.Gzip,
		Counts: &dump.Counts{Of: "table", Exact: true, Tables: map[string]int64{"public.orders": 10, "sales.lines": 5}}}
	body, _ := man.Marshal()
	if err := st.Put(context.Background(), dump.ManifestKey(dumped.Key), strings.NewReader(string(body)), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	task.DatabaseHostname = "127.0.0.1:1" // nothing listens: a count of the copy cannot succeed

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := New(Config{LockDir: t.TempDir()})
	env.RegisterActivity(a)
	// What Restore keeps: written in an activity of the same run, as
	// Restore does.
	var kept string
	keep := func(ctx context.Context, tables map[string]int64) error {
		p, err := a.tempPath(ctx, task, loadedKind)
		if err != nil {
			return err
		}
		kept = p
		return writeCounts(p, &dump.Counts{Of: "table", Exact: true, Tables: tables})
	}
	env.RegisterActivity(keep)
	verify := func(loaded map[string]int64) (VerifyResult, error) {
		t.Helper()
		if _, err := env.ExecuteActivity(keep, loaded); err != nil {
			t.Fatal(err)
		}
		var res VerifyResult
		val, err := env.ExecuteActivity(a.Verify, VerifyInput{Task: task, Key: dumped.Key, Staging: engine.StagingName("orders", "run", 63)})
		if err == nil {
			err = val.Get(&res)
		}
		return res, err
	}

	res, err := verify(map[string]int64{"public.orders": 10, "sales.lines": 5, "public.extension_config": 3})
	if err != nil || !res.AsLoaded || res.Tables != 2 || res.Rows != 15 {
		t.Fatalf("verified %+v, %v; want 2 tables, 15 rows, as loaded", res, err)
	}
	if want := "verified 2 tables, 15 rows, the copy's as the server loaded them"; res.Summary() != want {
		t.Errorf("summary %q, want %q", res.Summary(), want)
	}

	_, err = verify(map[string]int64{"public.orders": 10, "sales.lines": 4})
	if err == nil || !strings.Contains(err.Error(), "sales.lines has 4, the source had 5") || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("a table one row short: %v", err)
	}

	_, err = verify(map[string]int64{"public.orders": 10})
	if err == nil || !strings.Contains(err.Error(), "count the rows of staging copy") {
		t.Fatalf("a load that did not see sales.lines must count the copy: %v", err)
	}

	if _, err := env.ExecuteActivity(a.RemoveTemp, CleanupInput{Task: task}); err != nil {
		t.Fatal(err)
	}
	if got, err := readCounts(kept); err != nil || got != nil {
		t.Errorf("RemoveTemp left the loaded counts: %+v", got)
	}
}
