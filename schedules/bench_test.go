package schedules

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/envsync/envsync/config"
	_ "github.com/envsync/envsync/engine/all" // the engines and stores tasks name
	"github.com/envsync/envsync/searchattr"
)

// BenchmarkBuild10000 times the plan of `schedules apply --dry-run` for a
// file of 10,000 tasks against a real (in-process) Temporal server: with
// none of the schedules there (all create), and with all of them there
// (all unchanged). Each reports the median seconds of one whole plan; run
//
//	go test -run XXX -bench Build10000 -benchtime 5x -timeout 1h ./schedules/
//
// Setting up creates 10,000 schedules, which takes minutes.
func BenchmarkBuild10000(b *testing.B) {
	c := startProductionLikeTemporal(b)
	var tasks []task
	for i := range 10000 {
		tasks = append(tasks, task{name: fmt.Sprintf("push_%05d", i), hour: i % 24})
	}
	f := tasksFile(b, tasks)
	plan := func(b *testing.B, want Op, opts ...Option) {
		var took []time.Duration
		for b.Loop() {
			start := time.Now()
			p := build(b, c, f, opts...)
			took = append(took, time.Since(start))
			if len(p.Changes) != len(tasks) || p.Changes[0].Op != want || p.Changes[len(tasks)-1].Op != want {
				b.Fatalf("%d changes, first %s, last %s; want %d, all %s", len(p.Changes), p.Changes[0].Op, p.Changes[len(p.Changes)-1].Op, len(tasks), want)
			}
		}
		slices.Sort(took)
		b.ReportMetric(took[len(took)/2].Seconds(), "median-s/plan")
	}
	b.Run("none-exist", func(b *testing.B) { plan(b, Create) })

	// Create the schedules many at a time: Apply goes one by one, which
	// would make setting up take longer than everything measured.
	start := time.Now()
	p := build(b, c, f)
	var wg sync.WaitGroup
	sem := make(chan struct{}, describeParallel)
	for _, ch := range p.Changes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := c.ScheduleClient().Create(context.Background(), *ch.options); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.Logf("created %d schedules in %v", len(p.Changes), time.Since(start))

	// Wait for the list to show them all, as Apply would (for longer: one
	// listing of 10,000 takes a good part of settleTimeout here).
	for deadline := time.Now().Add(10 * time.Minute); ; {
		listed, _, err := managed(context.Background(), c, new(atomic.Int64))
		if err == nil && len(listed) == len(tasks) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d schedules listed (%v)", len(listed), len(tasks), err)
		}
	}
	b.Run("all-exist", func(b *testing.B) { plan(b, Unchanged) })
}

// startProductionLikeTemporal is the test server as a production one runs:
// temporaltest turns on system.forceSearchAttributesCacheRefreshOnRead,
// documented as never for production, which makes every schedule listed
// cost three store reads under a lock (about 2.5 ms each here), and the
// benchmark would time that setting rather than envsync.
func startProductionLikeTemporal(b *testing.B) client.Client {
	b.Helper()
	ts := temporaltest.NewServer(temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): false,
	})))
	b.Cleanup(ts.Stop)
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := searchattr.Register(ctx, c, ts.GetDefaultNamespace()); err != nil {
		b.Fatal(err)
	}
	// Without the forced refresh, the new search attributes are seen once
	// the namespace cache refreshes (every few seconds): wait for them by
	// creating a schedule that uses them.
	probe := client.ScheduleOptions{ID: "probe", Spec: client.ScheduleSpec{}, Action: &client.ScheduleWorkflowAction{
		ID: "probe", Workflow: "Scheduled", TaskQueue: "probe", TypedSearchAttributes: searchattr.For(config.Task{Database: "probe", Action: "push", DBMS: "postgresql", WorkerHost: "probe"})}}
	for {
		h, err := c.ScheduleClient().Create(ctx, probe)
		if err == nil {
			_ = h.Delete(ctx)
			return c
		}
		if ctx.Err() != nil {
			b.Fatalf("search attributes not usable after a minute: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
