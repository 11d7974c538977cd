package datapath

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Meter counts the bytes of a stream as they pass, for progress: done of
// an expected total, stored, rate, time left, and how long they have stood
// still. Reading it is safe while the stream runs; what to do with the
// reading (a Temporal heartbeat) is the caller's.
type Meter struct {
	n     atomic.Int64
	total atomic.Int64
	start time.Time

	mu sync.Mutex
	// count, when set, reads the bytes done from elsewhere than n;
	// stored reads the bytes stored; key names the object in flight.
	count, stored func() int64
	key           string
	// seen is the last reading's bytes done plus stored, and moved when
	// that last changed.
	seen  int64
	moved time.Time
}

// NewMeter starts a meter expecting total bytes (0: unknown).
func NewMeter(total int64) *Meter {
	m := &Meter{start: time.Now()}
	m.moved = m.start
	m.total.Store(total)
	return m
}

// SetTotal changes the bytes expected.
func (m *Meter) SetTotal(n int64) { m.total.Store(n) }

// Track reads the bytes done and stored from the stream itself, and names
// the object being written.
func (m *Meter) Track(count, stored func() int64, key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count, m.stored, m.key = count, stored, key
}

// Reading is a meter's state at one moment.
type Reading struct {
	// Bytes done so far, of Total expected (0: unknown).
	Bytes, Total int64
	// Stored is the bytes written to the store so far.
	Stored int64
	// Rate in bytes a second since the start, and the seconds left at it.
	Rate, ETA float64
	// Idle is the seconds since bytes last moved (done or stored).
	Idle float64
	// Key names the object being written.
	Key string
}

// Now is the meter's reading.
func (m *Meter) Now() Reading {
	r := Reading{Bytes: m.n.Load(), Total: m.total.Load()}
	now := time.Now()
	m.mu.Lock()
	if m.count != nil {
		r.Bytes = m.count()
	}
	if m.stored != nil {
		r.Stored = m.stored()
	}
	r.Key = m.key
	if done := r.Bytes + r.Stored; done != m.seen {
		m.seen, m.moved = done, now
	}
	r.Idle = now.Sub(m.moved).Seconds()
	m.mu.Unlock()
	if secs := now.Sub(m.start).Seconds(); secs > 0 && r.Bytes > 0 {
		r.Rate = float64(r.Bytes) / secs
		if r.Total > r.Bytes {
			r.ETA = float64(r.Total-r.Bytes) / r.Rate
		}
	}
	return r
}

// Reader counts what is read through it.
func (m *Meter) Reader(r io.Reader) io.Reader { return meterReader{m, r} }

type meterReader struct {
	m *Meter
	r io.Reader
}

func (mr meterReader) Read(p []byte) (int, error) {
	n, err := mr.r.Read(p)
	mr.m.n.Add(int64(n))
	return n, err
}

// meterOrNew is m, or a meter nobody reads.
func meterOrNew(m *Meter) *Meter {
	if m == nil {
		return NewMeter(0)
	}
	return m
}
