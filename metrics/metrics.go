// Package metrics serves a worker's Prometheus metrics: runs by task,
// action and outcome and each task's last success (on the central worker,
// where every run is reported), bytes moved and step durations (on the
// host workers, where the steps run), and the Temporal SDK's own worker
// metrics. Labels carry task names, steps and outcomes, never data.
package metrics

import (
	"context"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
)

// Metrics is one worker process's metrics.
type Metrics struct {
	reg         *prometheus.Registry
	runs        *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	lastDrill   *prometheus.GaugeVec
	bytes       *prometheus.CounterVec
	steps       *prometheus.HistogramVec
	sdk         *sdkCollector
}

// New returns a process's metrics, with Go runtime and process metrics.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envsync_runs_total",
			Help: "Runs finished, by task, action (push, pull, s3_sync, drill) and outcome (ok, failed, skipped)."},
			[]string{"task", "action", "outcome"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "envsync_last_success_timestamp_seconds",
			Help: "When each task's last successful run finished (Unix time): alert when it is too old."},
			[]string{"task", "action"}),
		lastDrill: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "envsync_last_drill_success_timestamp_seconds",
			Help: "When each drill task last proved a dump restores (Unix time): alert when the newest dump is not drilled within N days."},
			[]string{"task"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envsync_bytes_total",
			Help: "Bytes moved by the host's steps, by phase (dump, upload, download, restore, copy)."},
			[]string{"phase"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "envsync_step_duration_seconds",
			Help:    "Duration of each step (activity) attempt on this worker, by step and outcome.",
			Buckets: []float64{0.1, 1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600}},
			[]string{"step", "outcome"}),
		sdk: newSDKCollector(),
	}
	m.reg.MustRegister(m.runs, m.lastSuccess, m.lastDrill, m.bytes, m.steps, m.sdk,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve serves /metrics on addr until ctx ends, and returns the address it
// listens on (addr may give port 0). With profiles, Go's profiles are
// served at /debug/pprof/ too: how the worker spends its CPU in a run
// (bench/datapath -profile reads them).
func (m *Metrics) Serve(ctx context.Context, addr string, profiles bool) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	if profiles {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go srv.Serve(l) // ends when ctx closes it
	return l.Addr().String(), nil
}

// RunFinished records a run's outcome.
func (m *Metrics) RunFinished(task, action, outcome string) {
	m.runs.WithLabelValues(task, action, outcome).Inc()
	if outcome == "ok" {
		m.lastSuccess.WithLabelValues(task, action).SetToCurrentTime()
		if action == "drill" {
			m.lastDrill.WithLabelValues(task).SetToCurrentTime()
		}
	}
}

// Moved records bytes a step moved in phase.
func (m *Metrics) Moved(phase string, n int64) {
	if phase != "" && n > 0 {
		m.bytes.WithLabelValues(phase).Add(float64(n))
	}
}

// SDK is the handler to give the Temporal client (client.Options
// MetricsHandler), so the SDK's worker metrics are served here too.
func (m *Metrics) SDK() client.MetricsHandler { return m.sdk.handler(nil) }

type ctxKey struct{}

// FromContext returns the metrics an activity runs under, or nil.
func FromContext(ctx context.Context) *Metrics {
	m, _ := ctx.Value(ctxKey{}).(*Metrics)
	return m
}

// Interceptor times every step (activity) the worker runs and gives the
// step the metrics through its context.
func (m *Metrics) Interceptor() interceptor.WorkerInterceptor { return &workerInterceptor{m: m} }

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	m *Metrics
}

func (w *workerInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityInterceptor{m: w.m}
	i.Next = next
	return i
}

type activityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
	m *Metrics
}

func (a *activityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	start := time.Now()
	out, err := a.Next.ExecuteActivity(context.WithValue(ctx, ctxKey{}, a.m), in)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	a.m.steps.WithLabelValues(activity.GetInfo(ctx).ActivityType.Name, outcome).Observe(time.Since(start).Seconds())
	return out, err
}
