package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/internal/testenv"
	"github.com/envsync/envsync/schedules"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/worker"
	"github.com/envsync/envsync/workflows"
)

func tasksFile(t *testing.T, body string) *config.File {
	t.Helper()
	f, err := config.ParseFile("tasks.yaml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ops(p *schedules.Plan) string {
	var out []string
	for _, ch := range p.Changes {
		out = append(out, ch.Task+"="+string(ch.Op))
	}
	return strings.Join(out, " ")
}

func plan(t *testing.T, c client.Client, f *config.File) *schedules.Plan {
	t.Helper()
	p, err := schedules.Build(context.Background(), c, f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func apply(t *testing.T, c client.Client, f *config.File, prune bool) string {
	t.Helper()
	p := plan(t, c, f)
	if _, err := p.Apply(context.Background(), c, prune); err != nil {
		t.Fatal(err)
	}
	return ops(p)
}

const scheduleBase = `
defaults:
  dbms: postgresql
  storagebackend: file
  url: /srv/dumps
  worker_host: db1
tasks:
  push_orders:
    action: push
    database: orders
    hour: %d
    minute: 30
    timezone: Europe/London
    jitter: 5m
    catchup_window: 30m
  pull_orders:
    ensure: %s
    action: pull
    database: orders
    hour: 1
    minute: 0
  pull_orders_by_hand:
    action: pull
    database: orders_copy
    source_database: orders
`

// Apply creates, re-apply changes nothing, a changed hour updates in place
// (one calendar, never two), disabled pauses, absent deletes, and schedules
// the file no longer names are listed and removed only with --prune.
func TestSchedulesReconcile(t *testing.T) {
	tp := testenv.StartTemporal(t)
	c := tp.Client
	ctx := context.Background()

	f := tasksFile(t, fmt.Sprintf(scheduleBase, 23, "present"))
	if got := apply(t, c, f, false); got != "push_orders=create pull_orders=create pull_orders_by_hand=none" {
		t.Fatalf("first apply: %s", got)
	}
	desc, err := c.ScheduleClient().GetHandle(ctx, schedules.ID("push_orders")).Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := desc.Schedule.Spec
	if len(spec.Calendars) != 1 || spec.Calendars[0].Hour[0].Start != 23 || spec.Calendars[0].Minute[0].Start != 30 ||
		spec.TimeZoneName != "Europe/London" || spec.Jitter != 5*time.Minute {
		t.Errorf("spec %+v", spec)
	}
	if pol := desc.Schedule.Policy; pol.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP || pol.CatchupWindow != 30*time.Minute {
		t.Errorf("policy %+v", pol)
	}
	if act := desc.Schedule.Action.(*client.ScheduleWorkflowAction); act.Workflow != "Scheduled" || act.TaskQueue != workflows.CentralQueue {
		t.Errorf("action %+v", act)
	}

	if p := plan(t, c, f); p.Pending(true) != 0 || ops(p) != "push_orders=unchanged pull_orders=unchanged pull_orders_by_hand=none" {
		t.Errorf("second apply would change: %s", ops(p))
	}

	f = tasksFile(t, fmt.Sprintf(scheduleBase, 22, "disabled"))
	if got := apply(t, c, f, false); got != "push_orders=update pull_orders=pause pull_orders_by_hand=none" {
		t.Fatalf("changed file: %s", got)
	}
	desc, _ = c.ScheduleClient().GetHandle(ctx, schedules.ID("push_orders")).Describe(ctx)
	if cal := desc.Schedule.Spec.Calendars; len(cal) != 1 || cal[0].Hour[0].Start != 22 {
		t.Errorf("after update: calendars %+v, want exactly one at 22", cal)
	}
	pdesc, _ := c.ScheduleClient().GetHandle(ctx, schedules.ID("pull_orders")).Describe(ctx)
	if !pdesc.Schedule.State.Paused {
		t.Error("disabled task's schedule is not paused")
	}

	f = tasksFile(t, strings.Replace(fmt.Sprintf(scheduleBase, 22, "absent"), "  pull_orders_by_hand:\n    action: pull\n    database: orders_copy\n    source_database: orders\n", "", 1))
	if got := apply(t, c, f, false); got != "push_orders=unchanged pull_orders=delete" {
		t.Fatalf("absent: %s", got)
	}
	if _, err := c.ScheduleClient().GetHandle(ctx, schedules.ID("pull_orders")).Describe(ctx); err == nil {
		t.Error("absent task's schedule still exists")
	}

	// A schedule the file no longer names: listed, kept, pruned on request.
	only := tasksFile(t, "tasks:\n  other:\n    action: push\n    dbms: postgresql\n    storagebackend: file\n    url: /x\n    database: other\n    worker_host: db1\n")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(ops(plan(t, c, only)), "-=orphan") {
		if time.Now().After(deadline) {
			t.Fatalf("orphan never listed: %s", ops(plan(t, c, only)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	apply(t, c, only, false)
	if _, err := c.ScheduleClient().GetHandle(ctx, schedules.ID("push_orders")).Describe(ctx); err != nil {
		t.Errorf("orphan deleted without --prune: %v", err)
	}
	apply(t, c, only, true)
	if _, err := c.ScheduleClient().GetHandle(ctx, schedules.ID("push_orders")).Describe(ctx); err == nil {
		t.Error("orphan kept with --prune")
	}
}

// A scheduled pull into a protected target is refused before anything
// changes.
func TestSchedulesRefuseProtectedPull(t *testing.T) {
	tp := testenv.StartTemporal(t)
	f := tasksFile(t, strings.Replace(fmt.Sprintf(scheduleBase, 23, "present"), "    hour: 1\n", "    hour: 1\n    protected: true\n", 1))
	_, err := schedules.Build(context.Background(), tp.Client, f)
	if err == nil || !strings.Contains(err.Error(), "task pull_orders: protected") {
		t.Fatalf("error = %v", err)
	}
}

// Triggering a push's schedule runs the push; its success starts the chained
// pull, which restores exactly the dump the push wrote.
func TestScheduledPushChainsIntoPull(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.exec("postgres", "CREATE DATABASE shop_staging")
	f := tasksFile(t, fmt.Sprintf(`
defaults:
  dbms: postgresql
  storagebackend: file
  url: %s
  path: postgresql
  database_hostname: %s
  worker_host: %s
tasks:
  push_shop:
    action: push
    database: shop
    hour: 3
    minute: 0
    then: [pull_shop_staging]
  pull_shop_staging:
    action: pull
    database: shop_staging
    source_database: shop
`, e.fileDir, e.pg.Addr(), testenv.Host))
	c := e.temporal.Client
	ctx := context.Background()
	apply(t, c, f, false)
	if err := c.ScheduleClient().GetHandle(ctx, schedules.ID("push_shop")).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	push := waitRun(t, c, "envsync-db1-"+e.pg.Addr()+"/shop", "Push")
	var pushed workflows.PushResult
	if err := push.Get(ctx, &pushed); err != nil {
		t.Fatalf("scheduled push: %v", err)
	}
	if len(pushed.Chained) != 1 || pushed.Chained[0].Error != "" {
		t.Fatalf("chained %+v", pushed.Chained)
	}
	var pulled workflows.PullResult
	if err := c.GetWorkflow(ctx, pushed.Chained[0].WorkflowID, pushed.Chained[0].RunID).Get(ctx, &pulled); err != nil {
		t.Fatalf("chained pull: %v", err)
	}
	if pulled.Key != pushed.Key {
		t.Errorf("chained pull restored %s, the push wrote %s", pulled.Key, pushed.Key)
	}
	sameRows(t, e.rows("shop"), e.rows("shop_staging"))
}

// waitRun waits for a run of workflowType under id to appear.
func waitRun(t *testing.T, c client.Client, id, workflowType string) client.WorkflowRun {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := c.DescribeWorkflowExecution(ctx, id, ""); err == nil && d.GetWorkflowExecutionInfo().GetType().GetName() == workflowType {
			return c.GetWorkflow(ctx, id, d.GetWorkflowExecutionInfo().GetExecution().GetRunId())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s run %s within 30s", workflowType, id)
	return nil
}

// A scheduled run never overlaps a manual run of the same database: the
// schedule's run fails saying so, and the manual run is unaffected.
func TestScheduledRunRefusesToOverlap(t *testing.T) {
	tp := testenv.StartTemporal(t)
	tp.StartWorker(t, activities.Config{})
	ctx := context.Background()
	// Host db9 runs no worker, so the manual run waits there.
	manual, err := starter.Start(ctx, tp.Client, starter.Request{Task: config.Task{Name: "pull_orders_by_hand", Action: "pull",
		DBMS: "postgresql", StorageBackend: "file", URL: "/srv/dumps", Database: "orders", WorkerHost: "db9"},
		Timeouts: workflows.Timeouts{HostWait: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	f := tasksFile(t, "tasks:\n  pull_orders:\n    action: pull\n    dbms: postgresql\n    storagebackend: file\n    url: /srv/dumps\n    database: orders\n    worker_host: db9\n    hour: 4\n    minute: 0\n")
	apply(t, tp.Client, f, false)
	h := tp.Client.ScheduleClient().GetHandle(ctx, schedules.ID("pull_orders"))
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var started *client.ScheduleWorkflowExecution
	for deadline := time.Now().Add(20 * time.Second); started == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if d, err := h.Describe(ctx); err == nil && len(d.Info.RecentActions) > 0 {
			started = d.Info.RecentActions[0].StartWorkflowResult
		}
	}
	if started == nil {
		t.Fatal("the schedule started nothing")
	}
	err = tp.Client.GetWorkflow(ctx, started.WorkflowID, started.FirstExecutionRunID).Get(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "another run of this database is in progress (workflow envsync-db9-local/orders)") {
		t.Errorf("scheduled run during a manual one: %v", err)
	}
	d, err := tp.Client.DescribeWorkflowExecution(ctx, manual.GetID(), manual.GetRunID())
	if err != nil || d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("manual run disturbed: %v %v", d.GetWorkflowExecutionInfo().GetStatus(), err)
	}
	_ = tp.Client.TerminateWorkflow(ctx, manual.GetID(), manual.GetRunID(), "test done")
}

// Staging often lives in another namespace (or account): the chained pull
// is started there by the central worker's activity, with the push's key.
func TestChainIntoAnotherNamespace(t *testing.T) {
	e := newEnv(t, false)
	e.createShop("shop")
	e.exec("postgres", "CREATE DATABASE shop_staging")
	ctx := context.Background()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: e.temporal.Server.GetFrontendHostPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "staging", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	staging, err := client.NewClientFromExisting(e.temporal.Client, client.Options{Namespace: "staging"})
	if err != nil {
		t.Fatal(err)
	}
	defer staging.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err = searchattr.Register(ctx, staging, "staging"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	stop, err := worker.Start(staging, worker.Options{Central: true, Host: testenv.Host, Activities: activities.Config{
		LockDir: t.TempDir(), TempDir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	pull := e.task(config.ActionPull, "shop_staging", "file")
	pull.SourceDatabase, pull.Namespace = "shop", "staging"
	out := e.mustRun(starter.Request{Task: e.task(config.ActionPush, "shop", "file"), Then: []config.Task{pull}})
	ch := out.Push.Chained
	if len(ch) != 1 || ch[0].Error != "" || ch[0].Namespace != "staging" || ch[0].RunID == "" {
		t.Fatalf("chained %+v", ch)
	}
	var pulled workflows.PullResult
	if err := staging.GetWorkflow(ctx, ch[0].WorkflowID, ch[0].RunID).Get(ctx, &pulled); err != nil {
		t.Fatalf("pull in namespace staging: %v", err)
	}
	if pulled.Key != out.Push.Key {
		t.Errorf("restored %s, pushed %s", pulled.Key, out.Push.Key)
	}
	sameRows(t, e.rows("shop"), e.rows("shop_staging"))
}
