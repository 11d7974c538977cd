package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/envsync/envsync/datapath"
	"github.com/envsync/envsync/metrics"
)

// Progress is the heartbeat detail of long steps. The Temporal UI shows it
// under "pending activities", and `envsync push/pull` turn it into their
// progress line. It holds counts and names, never data.
type Progress struct {
	// Phase is what the bytes are: "dump", "upload", "download",
	// "restore", "sanitise", "copy".
	Phase string `json:"phase"`
	// Bytes done so far, of Total expected (0: unknown). A dump counts
	// what the database tool wrote, against the database's size; a pull
	// counts the stored bytes, against the manifest's size.
	Bytes int64 `json:"bytes"`
	Total int64 `json:"total,omitempty"`
	// Stored is the compressed bytes written to the store so far (push).
	Stored int64 `json:"stored,omitempty"`
	// Rate in bytes per second since the step started, and the seconds
	// left at that rate.
	Rate float64 `json:"rate,omitempty"`
	ETA  float64 `json:"eta_seconds,omitempty"`
	// Key is the object a push is writing; a retry reads it back from
	// the last heartbeat to abort that attempt's unfinished upload.
	Key string `json:"key,omitempty"`
	// Attempt is the step's attempt that sent this: the server keeps a
	// failed attempt's last heartbeat until the next attempt sends its
	// own, and its figures are not the new attempt's.
	Attempt int32 `json:"attempt,omitempty"`
	// Idle is the seconds since bytes last moved (read or stored): a
	// stalled store shows as a growing Idle, not as a falling rate.
	Idle float64 `json:"idle_seconds,omitempty"`
}

// HeartbeatEvery is how often long steps report progress; their
// HeartbeatTimeout in the workflows is a few times this, so a dead worker's
// step is retried within half a minute.
var HeartbeatEvery = 5 * time.Second

// meter heartbeats a step's progress on a timer: the data path's Meter
// (bytes done, stored, idle) with the step's phase and attempt, so a step
// that is slow but alive (pg_dump waiting on a lock) is not mistaken for a
// dead one, and a dead worker is noticed. A transfer that stalls while its
// worker lives is the stores' to notice (they fail a request whose bytes
// stop moving), not the heartbeat's. Every step with a heartbeat timeout
// starts one first thing, before any slow call.
type meter struct {
	*datapath.Meter
	ctx     context.Context
	phase   string
	attempt int32
	stop    chan struct{}
	once    sync.Once
}

func startMeter(ctx context.Context) *meter { return startPhase(ctx, "", 0) }

// startPhase starts a meter for phase with total bytes expected (0:
// unknown).
func startPhase(ctx context.Context, phase string, total int64) *meter {
	m := &meter{Meter: datapath.NewMeter(total), ctx: ctx, phase: phase, stop: make(chan struct{})}
	if !activity.IsActivity(ctx) {
		return m
	}
	m.attempt = activity.GetInfo(ctx).Attempt
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
				activity.RecordHeartbeat(ctx, m.Progress())
			}
		}
	}()
	return m
}

// Progress is the meter's reading, as a heartbeat.
func (m *meter) Progress() Progress {
	r := m.Now()
	return Progress{Phase: m.phase, Bytes: r.Bytes, Total: r.Total, Stored: r.Stored, Rate: r.Rate, ETA: r.ETA,
		Key: r.Key, Attempt: m.attempt, Idle: r.Idle}
}

// Stop ends the heartbeats and counts the bytes moved in the worker's
// metrics, when it serves any.
func (m *meter) Stop() {
	m.once.Do(func() {
		close(m.stop)
		if mv := metrics.FromContext(m.ctx); mv != nil {
			mv.Moved(m.phase, m.Now().Bytes)
		}
	})
}
