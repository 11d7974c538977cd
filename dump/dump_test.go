package dump

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestKeysRoundTripAndSortChronologically(t *testing.T) {
	a := Key("pg", "orders", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Gzip)
	b := Key("pg", "orders", time.Date(2026, 11, 2, 3, 4, 5, 0, time.FixedZone("BST", 3600)), Gzip)
	if a != "pg/2026-01-02T030405Z-orders.gz" || b != "pg/2026-11-02T020405Z-orders.gz" || !(a < b) {
		t.Errorf("keys %s %s", a, b)
	}
	db, ts, ok := Parse("pg", b)
	if !ok || db != "orders" || !ts.Equal(time.Date(2026, 11, 2, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("parse %s: %s %v %v", b, db, ts, ok)
	}
	// Every compression's suffix parses back to the database, even one
	// whose name ends like a suffix.
	for _, c := range Compressions {
		k := Key("pg", "orders.gz", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), c)
		if db, _, ok := Parse("pg", k); !ok || db != "orders.gz" {
			t.Errorf("parse %s: %q %v", k, db, ok)
		}
	}
	for _, k := range []string{"pg/x.gz", "pg/2026-01-02T030405Z-orders.lz4", "other/2026-01-02T030405Z-orders.gz", ManifestKey(a), "pg/sub/2026-01-02T030405Z-orders.gz"} {
		if _, _, ok := Parse("pg", k); ok {
			t.Errorf("%s parsed as a dump key", k)
		}
	}
}

func TestCandidatesNeedManifestAndExactName(t *testing.T) {
	t1 := time.Date(2026, 11, 20, 23, 30, 0, 0, time.UTC)
	keys := []string{
		Key("pg", "orders", t1, Zstd), ManifestKey(Key("pg", "orders", t1, Zstd)),
		Key("pg", "orders", t1.Add(24*time.Hour), Gzip), // no manifest: incomplete
		Key("pg", "orders-archive", t1.Add(48*time.Hour), None), ManifestKey(Key("pg", "orders-archive", t1.Add(48*time.Hour), None)),
	}
	c := Candidates("pg", "orders", keys)
	if len(c) != 1 || c[0].Key != Key("pg", "orders", t1, Zstd) {
		t.Errorf("candidates %+v", c)
	}
}

func TestChoose(t *testing.T) {
	var cands []Candidate
	for _, d := range []int{1, 2, 3} {
		ts := time.Date(2026, 11, d, 23, 30, 7, 0, time.UTC)
		cands = append(cands, Candidate{Key: Key("", "db", ts, Zstd), Time: ts})
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
	m := Manifest{Format: ManifestFormat, Key: "pg/k.gz", Size: 10, SHA256: strings.Repeat("a", 64), Compression: Gzip}
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
	m.Compression = ""
	body, _ = m.Marshal()
	if _, err := UnmarshalManifest("pg/k.gz"+ManifestSuffix, body); err == nil || !strings.Contains(err.Error(), `compression ""`) {
		t.Errorf("a manifest without a compression: %v", err)
	}
}

// Every compression round-trips, and the writer's size and sha256 describe
// exactly the bytes stored.
func TestWriterMeasuresStoredBytes(t *testing.T) {
	payload := strings.Repeat("row data\n", 100000)
	for _, c := range Compressions {
		t.Run(c, func(t *testing.T) {
			var stored bytes.Buffer
			w, err := NewWriter(&stored, c, 0)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, payload)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(stored.Bytes())
			if w.Size() != int64(stored.Len()) || w.SHA256() != hex.EncodeToString(sum[:]) || w.In() != int64(len(payload)) {
				t.Errorf("size %d sha %s in %d, stored %d %x", w.Size(), w.SHA256(), w.In(), stored.Len(), sum)
			}
			if c != None && stored.Len() > len(payload)/10 {
				t.Errorf("%s stored %d bytes of %d: not compressed", c, stored.Len(), len(payload))
			}
			r, err := NewReader(bytes.NewReader(stored.Bytes()), c)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := io.ReadAll(r)
			if string(back) != payload || r.Finish(math.MaxInt64) != nil {
				t.Error("round trip changed the data")
			}
		})
	}
}

// Damage in the compressed bytes is reported as damage, and a failing
// source (a broken download) is not.
func TestReaderTellsDamageFromBrokenSource(t *testing.T) {
	payload := strings.Repeat("some rows of a table\n", 50000)
	for _, c := range []string{Zstd, Gzip} {
		var stored bytes.Buffer
		w, _ := NewWriter(&stored, c, 0)
		io.WriteString(w, payload)
		w.Close()
		damaged := bytes.Clone(stored.Bytes())
		damaged[len(damaged)-6] ^= 0xff // in the last block or the trailer
		r, err := NewReader(bytes.NewReader(damaged), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Finish(math.MaxInt64); err == nil {
			t.Errorf("%s: damage in the last bytes went unnoticed", c)
		}
		broken := io.MultiReader(bytes.NewReader(stored.Bytes()[:stored.Len()/2]), iotest.ErrReader(errors.New("connection reset")))
		r, err = NewReader(broken, c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, r)
		if err == nil || r.Damage() != nil {
			t.Errorf("%s: a broken source: err %v, damage %v; want the source's error and no damage", c, err, r.Damage())
		}
	}
}
