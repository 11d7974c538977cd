package activities_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/engine"
)

// A pull whose restore counted the rows the server took checks those
// against the dump's counts and reads nothing of the copy: a match passes
// (and says how it was counted), a table one row short fails naming it,
// and a count that misses one of the dump's tables is no count of the
// copy, so the copy itself is counted (here: no server, so that fails).
func TestVerifyChecksTheRowsTheServerLoaded(t *testing.T) {
	s := startStore(t, "file")
	at := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	key := dump.Key(s.task.Path, "orders", at, dump.Zstd)
	data := bytes.Repeat([]byte("d"), 100)
	s.put(t, key, data)
	sum := sha256.Sum256(data)
	m, _ := dump.Manifest{Format: dump.ManifestFormat, Key: key, DBMS: "postgresql", Database: "orders", CreatedAt: at,
		Size: 100, SHA256: hex.EncodeToString(sum[:]), Compression: dump.Zstd,
		Counts: &dump.Counts{Of: "table", Exact: true, Tables: map[string]int64{"public.orders": 10, "sales.lines": 5}}}.Marshal()
	s.put(t, dump.ManifestKey(key), m)
	// Nothing listens here: a count of the copy cannot succeed.
	s.task.DatabaseHostname = "127.0.0.1:1"
	in := activities.VerifyInput{Task: s.task, Key: key, Staging: engine.StagingName("orders", "run", 63)}

	in.Loaded = map[string]int64{"public.orders": 10, "sales.lines": 5, "public.extension_config": 3}
	res := mustRun[activities.VerifyResult](t, s.cfg, acts.Verify, in)
	if !res.AsLoaded || res.Tables != 2 || res.Rows != 15 {
		t.Fatalf("verified %+v; want 2 tables, 15 rows, as loaded", res)
	}
	if want := "verified 2 tables, 15 rows, the copy's as the server loaded them"; res.Summary() != want {
		t.Errorf("summary %q, want %q", res.Summary(), want)
	}

	in.Loaded = map[string]int64{"public.orders": 10, "sales.lines": 4}
	_, err := run[activities.VerifyResult](t, s.cfg, acts.Verify, in)
	if err == nil || !strings.Contains(err.Error(), "sales.lines has 4, the source had 5") || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("a table one row short: %v", err)
	}

	in.Loaded = map[string]int64{"public.orders": 10}
	_, err = run[activities.VerifyResult](t, s.cfg, acts.Verify, in)
	if err == nil || !strings.Contains(err.Error(), "count the rows of staging copy") {
		t.Fatalf("a load that did not see sales.lines must count the copy: %v", err)
	}
}
