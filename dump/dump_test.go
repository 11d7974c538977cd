package dump

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestKeysRoundTripAndSortChronologically(t *testing.T) {
	a := Key("pg", "orders", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := Key("pg", "orders", time.Date(2026, 11, 2, 3, 4, 5, 0, time.FixedZone("BST", 3600)))
	if a != "pg/2026-01-02T030405Z-orders.gz" || b != "pg/2026-11-02T020405Z-orders.gz" || !(a < b) {
		t.Errorf("keys %s %s", a, b)
	}
	db, ts, ok := Parse("pg", b)
	if !ok || db != "orders" || !ts.Equal(time.Date(2026, 11, 2, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("parse %s: %s %v %v", b, db, ts, ok)
	}
	for _, k := range []string{"pg/x.gz", "other/2026-01-02T030405Z-orders.gz", ManifestKey(a), "pg/sub/2026-01-02T030405Z-orders.gz"} {
		if _, _, ok := Parse("pg", k); ok {
			t.Errorf("%s parsed as a dump key", k)
		}
	}
}

func TestCandidatesNeedManifestAndExactName(t *testing.T) {
	t1 := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)
	keys := []string{
		Key("pg", "orders", t1), ManifestKey(Key("pg", "orders", t1)),
		Key("pg", "orders", t1.Add(24*time.Hour)), // no manifest: incomplete
		Key("pg", "orders-archive", t1.Add(48*time.Hour)), ManifestKey(Key("pg", "orders-archive", t1.Add(48*time.Hour))),
	}
	c := Candidates("pg", "orders", keys)
	if len(c) != 1 || c[0].Key != Key("pg", "orders", t1) {
		t.Errorf("candidates %+v", c)
	}
}

func TestChoose(t *testing.T) {
	var cands []Candidate
	for _, d := range []int{1, 2, 3} {
		ts := time.Date(2026, 11, d, 23, 30, 7, 0, time.UTC)
		cands = append(cands, Candidate{Key: Key("", "db", ts), Time: ts})
	}
	if c, err := Choose(cands, time.Time{}); err != nil || c.Time.Day() != 3 {
		t.Errorf("latest: %v %v", c, err)
	}
	if c, err := Choose(cands, time.Date(2026, 11, 2, 23, 30, 0, 0, time.UTC)); err != nil || c.Time.Day() != 2 {
		t.Errorf("-t: %v %v", c, err)
	}
	_, err := Choose(cands, time.Date(2026, 11, 2, 23, 31, 0, 0, time.UTC))
	if !errors.Is(err, ErrNoDump) || !strings.Contains(err.Error(), "2026-11-03T23:30:07Z, 2026-11-02T23:30:07Z") {
		t.Errorf("missing minute: %v", err)
	}
	if _, err := Choose(nil, time.Time{}); !errors.Is(err, ErrNoDump) {
		t.Errorf("empty: %v", err)
	}
}

func TestManifestChecks(t *testing.T) {
	m := Manifest{Format: ManifestFormat, Key: "pg/k.gz", Size: 10, SHA256: strings.Repeat("a", 64)}
	body, _ := m.Marshal()
	if _, err := UnmarshalManifest("pg/k.gz"+ManifestSuffix, body); err != nil {
		t.Error(err)
	}
	if _, err := UnmarshalManifest("pg/other.gz"+ManifestSuffix, body); err == nil {
		t.Error("a manifest describing another key was accepted")
	}
	if _, err := UnmarshalManifest("x", []byte("{")); err == nil {
		t.Error("broken JSON accepted")
	}
}

func TestWriterMeasuresStoredBytes(t *testing.T) {
	var stored bytes.Buffer
	w := NewWriter(&stored)
	payload := strings.Repeat("row data\n", 10000)
	io.WriteString(w, payload)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(stored.Bytes())
	if w.Size() != int64(stored.Len()) || w.SHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("size %d sha %s, stored %d %x", w.Size(), w.SHA256(), stored.Len(), sum)
	}
	r, err := NewReader(&stored)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(r)
	if string(back) != payload {
		t.Error("round trip changed the data")
	}
}
