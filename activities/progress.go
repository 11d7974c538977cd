package activities

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
)

// Progress is the heartbeat detail of long steps: a byte count, which the
// UI shows under "pending activities" and which says a step is moving.
type Progress struct {
	Bytes int64 `json:"bytes"`
}

// HeartbeatEvery is how often long steps report progress; their
// HeartbeatTimeout in the workflows is a few times this.
var HeartbeatEvery = 10 * time.Second

// meter counts bytes passing through and heartbeats the count on a timer,
// so a step that is slow but alive (pg_dump waiting on a lock) is not
// mistaken for a dead one, and a dead one is noticed.
type meter struct {
	n    atomic.Int64
	stop chan struct{}
}

func startMeter(ctx context.Context) *meter {
	m := &meter{stop: make(chan struct{})}
	if !activity.IsActivity(ctx) {
		return m
	}
	go func() {
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, Progress{Bytes: m.n.Load()})
			}
		}
	}()
	return m
}

func (m *meter) Stop() { close(m.stop) }

func (m *meter) Writer(w io.Writer) io.Writer { return meterWriter{m, w} }
func (m *meter) Reader(r io.Reader) io.Reader { return meterReader{m, r} }

type meterWriter struct {
	m *meter
	w io.Writer
}

func (mw meterWriter) Write(p []byte) (int, error) {
	n, err := mw.w.Write(p)
	mw.m.n.Add(int64(n))
	return n, err
}

type meterReader struct {
	m *meter
	r io.Reader
}

func (mr meterReader) Read(p []byte) (int, error) {
	n, err := mr.r.Read(p)
	mr.m.n.Add(int64(n))
	return n, err
}
