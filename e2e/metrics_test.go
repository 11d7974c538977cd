package e2e

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/metrics"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// metricValue is the value of the series whose line starts with series
// (name and labels, as Prometheus writes them), or -1.
func metricValue(page, series string) float64 {
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// A worker's /metrics, scraped over HTTP after a successful push and a
// failed pull: both runs counted with their outcome, the push's success
// time, bytes dumped, step durations by outcome, and the Temporal SDK's own
// worker metrics.
func TestMetricsScrapedFromAWorker(t *testing.T) {
	tp := testenv.StartTemporal(t)
	e := &env{t: t, temporal: tp, pg: testenv.StartPostgres(t), fileDir: t.TempDir()}
	m := metrics.New()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addr, err := m.Serve(ctx, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewClientFromExisting(tp.Client, client.Options{Namespace: tp.Namespace, MetricsHandler: m.SDK()})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := worker.Start(c, worker.Options{Central: true, Host: testenv.Host, Metrics: m, Activities: activities.Config{
		LockDir: filepath.Join(t.TempDir(), "locks"), TempDir: filepath.Join(t.TempDir(), "tmp")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	before := time.Now().Unix()
	e.exec("postgres", "CREATE DATABASE metered")
	e.exec("metered", "CREATE TABLE t AS SELECT i, md5(i::text) AS v FROM generate_series(1, 1000) i")
	e.mustRun(starter.Request{Task: e.task("push", "metered", "file")})
	if _, err := e.run(starter.Request{Task: e.task("pull", "nosuch", "file")}); err == nil {
		t.Fatal("a pull of a database never pushed succeeded")
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for series, want := range map[string]float64{
		`envsync_runs_total{action="push",outcome="ok",task="push_metered"}`:    1,
		`envsync_runs_total{action="pull",outcome="failed",task="pull_nosuch"}`: 1,
	} {
		if got := metricValue(page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if got := metricValue(page, `envsync_last_success_timestamp_seconds{action="push",task="push_metered"}`); got < float64(before) {
		t.Errorf("last success of push_metered = %v, want at least %d", got, before)
	}
	if got := metricValue(page, `envsync_last_success_timestamp_seconds{action="pull",task="pull_nosuch"}`); got != -1 {
		t.Errorf("a failed pull has a last success time: %v", got)
	}
	if got := metricValue(page, `envsync_bytes_total{phase="dump"}`); got < 10000 {
		t.Errorf("bytes dumped = %v, want the dump's size", got)
	}
	for _, series := range []string{`envsync_step_duration_seconds_count{outcome="ok",step="Dump"}`,
		`envsync_step_duration_seconds_count{outcome="failed",step="Resolve"}`} {
		if got := metricValue(page, series); got < 1 {
			t.Errorf("%s = %v, want at least 1", series, got)
		}
	}
	if !regexp.MustCompile(`(?m)^temporal_\w+`).MatchString(page) {
		t.Error("no Temporal SDK metric (temporal_*) on the page")
	}
}
