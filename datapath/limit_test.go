package datapath

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"50MiB/s": 50 << 20, "10MB/s": 10e6, "512KiB": 512 << 10, "1.5GiB/s": 3 << 29,
		"1000": 1000, "none": 0, "0": 0} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"fast", "10XB/s", "-5MB", "MiB"} {
		if _, err := ParseRate(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: want refused naming it, got %v", bad, err)
		}
	}
}

// A capped stream takes at least its size over the rate (a lower bound:
// a busy machine can only make it slower), and arrives whole.
func TestLimitReadsPacesTheStream(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 3<<20)
	start := time.Now()
	got, err := io.ReadAll(LimitReads(context.Background(), bytes.NewReader(data), 1<<20))
	took := time.Since(start)
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(data), err)
	}
	// The first read is free, then 3 MiB at 1 MiB/s: about 3 s.
	if took < 2500*time.Millisecond {
		t.Errorf("3 MiB at 1 MiB/s took %v; the cap was not applied", took)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := io.ReadAll(LimitReads(ctx, bytes.NewReader(data), 1<<20)); err == nil {
		t.Error("a cancelled capped stream kept going")
	}
}
