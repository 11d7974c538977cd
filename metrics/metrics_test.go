package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A drill that passes sets its task's last drill success; other actions,
// and a failed drill, do not.
func TestDrillSuccessIsExported(t *testing.T) {
	m := New()
	m.RunFinished("nightly_push", "push", "ok")
	m.RunFinished("drill_orders", "drill", "failed")
	body := scrape(t, m)
	if strings.Contains(body, "envsync_last_drill_success_timestamp_seconds{") {
		t.Fatalf("a drill success recorded before any drill passed:\n%s", body)
	}
	m.RunFinished("drill_orders", "drill", "ok")
	body = scrape(t, m)
	if !strings.Contains(body, `envsync_last_drill_success_timestamp_seconds{task="drill_orders"}`) {
		t.Errorf("no drill success for drill_orders:\n%s", body)
	}
	if strings.Contains(body, `envsync_last_drill_success_timestamp_seconds{task="nightly_push"}`) {
		t.Error("a push counted as a drill")
	}
	if !strings.Contains(body, `envsync_runs_total{action="drill",outcome="failed",task="drill_orders"} 1`) {
		t.Errorf("the failed drill is not a failed run:\n%s", body)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// Go's profiles are served only when asked for.
func TestProfilesOnlyWhenAsked(t *testing.T) {
	for _, profiles := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		addr, err := New().Serve(ctx, "127.0.0.1:0", profiles)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 404, true: 200}[profiles]; resp.StatusCode != want {
			t.Errorf("profiles %v: /debug/pprof/ answered %d, want %d", profiles, resp.StatusCode, want)
		}
		cancel()
	}
}
