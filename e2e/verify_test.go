package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
)

// beforeVerify runs a test's hook on the staging copy just before the
// Verify step reads it: the damage a faulty restore could have done.
type beforeVerify struct {
	interceptor.WorkerInterceptorBase
	hook atomic.Pointer[func(staging string)]
}

func (b *beforeVerify) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &verifyHook{b: b}
	i.Next = next
	return i
}

type verifyHook struct {
	interceptor.ActivityInboundInterceptorBase
	b *beforeVerify
}

func (v *verifyHook) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if h := v.b.hook.Load(); h != nil && activity.GetInfo(ctx).ActivityType.Name == "Verify" {
		(*h)(in.Args[0].(activities.VerifyInput).Staging)
	}
	return v.Next.ExecuteActivity(ctx, in)
}

// A push records the rows per table its snapshot held; a pull compares its
// staging copy with them before the swap. One row deleted from the staging
// copy fails the pull naming the table and both numbers, with the live
// target as it was; verify: none on either side skips the check, visibly.
func TestPullVerifiesCountsAgainstTheSource(t *testing.T) {
	hook := &beforeVerify{}
	// One connection a table: pg_restore loads the copy, so the check
	// counts it (what a row lost after the load shows). A copy envsync's
	// loader fed is checked against the server's replies to its COPYs
	// (TestSanitisePullPostgresAndMariaDB, activities' TestVerifyChecksTheRowsTheServerLoaded).
	e := newEnvWith(t, false, worker.Options{Interceptors: []interceptor.WorkerInterceptor{hook},
		Activities: activities.Config{Engines: map[string]string{"pg-copy-lanes": "1"}}})
	e.createShop("shop")
	ctx := context.Background()
	// What the push must count, by another route: e.rows counts each
	// table with its own query.
	var tables int
	var rows int64
	for name, digest := range e.rows("shop") {
		if strings.HasPrefix(name, "sequence ") {
			continue
		}
		var n int64
		if _, err := fmt.Sscanf(digest, "%d rows", &n); err != nil {
			t.Fatalf("%s: %q: %v", name, digest, err)
		}
		tables, rows = tables+1, rows+n
	}
	if rows == 0 {
		t.Fatal("the shop has no rows: the comparison would prove nothing")
	}

	push := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file")})
	if c := push.Push.Counted; c == nil || c.Tables != tables || c.Rows != rows {
		t.Fatalf("push counted %+v, want %d tables, %d rows", c, tables, rows)
	}
	pullTask := e.task(config.ActionPull, "shop_copy", "file")
	pullTask.SourceDatabase = "shop"
	pull := e.mustRun(starter.Request{Task: pullTask})
	v := pull.Pull.Verified
	if v == nil || !v.Exact || v.Tables != tables || v.Rows != rows || v.Skipped != "" {
		t.Fatalf("pull verified %+v, want %d tables, %d rows, exact", v, tables, rows)
	}
	var report bytes.Buffer
	starter.Report(&report, pull)
	if want := "verify    verified " + fmt.Sprint(tables) + " tables, " + fmt.Sprint(rows) + " rows\n"; !strings.Contains(report.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, report.String())
	}

	// A row lost between restore and swap fails the pull.
	before := e.snapshot("shop_copy")
	deleteOne := func(staging string) { e.exec(staging, "DELETE FROM sales.orders WHERE id = 1") }
	hook.hook.Store(&deleteOne)
	_, err := e.run(starter.Request{Task: pullTask})
	if err == nil || !strings.Contains(err.Error(), "sales.orders has") || !strings.Contains(err.Error(), "untouched") {
		t.Fatalf("pull of a copy missing a row: %v", err)
	}
	var n int64
	if err := e.conn("shop").QueryRow(ctx, `SELECT count(*) FROM sales.orders`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := "sales.orders has " + fmt.Sprint(n-1) + ", the source had " + fmt.Sprint(n); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	e.assertUntouched(t, "shop_copy", before)

	// verify: none on the pull: not compared (the hook's damage goes live,
	// which is what turning the check off means).
	pullTask.Verify = config.VerifyNone
	pull = e.mustRun(starter.Request{Task: pullTask})
	if pull.Pull.Verified != nil {
		t.Errorf("pull with verify: none verified %+v", pull.Pull.Verified)
	}
	hook.hook.Store(nil)

	// verify: none on the push: no counts, and a pull says so.
	pushTask := e.task(config.ActionPush, "shop", "file")
	pushTask.Verify = config.VerifyNone
	push = e.mustRun(starter.Request{Task: pushTask})
	if push.Push.Counted != nil {
		t.Errorf("push with verify: none counted %+v", push.Push.Counted)
	}
	pullTask.Verify = ""
	pull = e.mustRun(starter.Request{Task: pullTask})
	if v := pull.Pull.Verified; v == nil || !strings.Contains(v.Skipped, "records no counts") {
		t.Errorf("pull of an uncounted dump: verified %+v", v)
	}
}
