package schedules

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/searchattr"
)

// startTemporal starts an in-process Temporal server with envsync's search
// attributes, which schedules carry.
func startTemporal(tb testing.TB) client.Client {
	tb.Helper()
	ts := temporaltest.NewServer() // WithT takes only a *testing.T, not a benchmark's B
	tb.Cleanup(ts.Stop)
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := searchattr.Register(ctx, c, ts.GetDefaultNamespace()); err != nil {
		tb.Fatal(err)
	}
	return c
}

// task is one task of a generated tasks file.
type task struct {
	name   string
	hour   int // -1: no schedule
	ensure string
}

// tasksFile writes tasks as a tasks file and loads it.
func tasksFile(tb testing.TB, tasks []task) *config.File {
	tb.Helper()
	var b strings.Builder
	b.WriteString("defaults:\n  worker_host: db1\n  storagebackend: s3\n  url: dumps\n  dbms: postgresql\n  action: push\ntasks:\n")
	for _, t := range tasks {
		fmt.Fprintf(&b, "  %s:\n    database: %s\n", t.name, t.name)
		if t.hour >= 0 {
			fmt.Fprintf(&b, "    hour: %d\n    minute: 30\n", t.hour)
		}
		if t.ensure != "" {
			fmt.Fprintf(&b, "    ensure: %s\n", t.ensure)
		}
	}
	f, err := config.ParseFile("tasks.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func build(tb testing.TB, c client.Client, f *config.File, opts ...Option) *Plan {
	tb.Helper()
	p, err := Build(context.Background(), c, f, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Schedules are described many at a time; each task must still get the
// operation its own schedule calls for, in file order.
func TestPlanOfManyTasksGivesEachTaskItsOwnOperation(t *testing.T) {
	c := startTemporal(t)
	const n = 60
	var before []task
	for i := range n {
		hour := i % 24
		if i%10 == 5 {
			hour = -1
		}
		ensure := ""
		if i%8 == 1 {
			ensure = config.EnsureDisabled
		}
		before = append(before, task{name: fmt.Sprintf("t%02d", i), hour: hour, ensure: ensure})
	}
	if _, err := build(t, c, tasksFile(t, before)).Apply(context.Background(), c, false); err != nil {
		t.Fatal(err)
	}

	// Schedules applied by an older envsync carry no hash in their notes,
	// so the list cannot say whether they are as the file asks: they are
	// described. Make a quarter of them so.
	old := map[string]*current{}
	for i, tk := range before {
		if i%4 != 2 || tk.hour < 0 {
			continue
		}
		h := c.ScheduleClient().GetHandle(context.Background(), ID(tk.name))
		err := h.Update(context.Background(), client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.State.Note = "managed by envsync schedules apply"
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		old[ID(tk.name)] = &current{paused: tk.ensure == config.EnsureDisabled}
	}
	settle(context.Background(), c, old)

	after := make([]task, 0, n)
	want := map[string]Op{}
	for i, tk := range before[:n-1] { // the last is left out: an orphan
		op := Unchanged
		switch {
		case tk.hour < 0:
			op = None
		case tk.ensure == config.EnsureDisabled:
			tk.ensure, op = "", Unpause
		case i%12 == 0:
			tk.hour, tk.ensure, op = (tk.hour+1)%24, config.EnsureDisabled, "update+pause"
		case i%3 == 0:
			tk.hour, op = (tk.hour+1)%24, Update
		case i%5 == 0:
			tk.ensure, op = config.EnsureDisabled, Pause
		case i%7 == 0:
			tk.ensure, op = config.EnsureAbsent, Delete
		}
		after = append(after, tk)
		want[tk.name] = op
	}
	after = append(after, task{name: "new", hour: 3})
	want["new"], want["-"] = Create, Orphan

	p := build(t, c, tasksFile(t, after))
	if len(p.Changes) != len(after)+1 {
		t.Fatalf("%d changes for %d tasks and an orphan", len(p.Changes), len(after))
	}
	for i, ch := range p.Changes {
		op := string(ch.Op)
		if ch.pause {
			op += "+pause"
		}
		if i < len(after) && ch.Task != after[i].name {
			t.Errorf("change %d is for task %s, want %s: the plan is out of file order", i, ch.Task, after[i].name)
		}
		if op != string(want[ch.Task]) {
			t.Errorf("task %s: %s, want %s", ch.Task, op, want[ch.Task])
		}
	}
	if ch := p.Changes[len(p.Changes)-1]; ch.ScheduleID != ID(before[n-1].name) {
		t.Errorf("orphan %s, want %s", ch.ScheduleID, ID(before[n-1].name))
	}
}

// slowList makes listing schedules take a while, as it does on a server
// with many thousands.
type slowList struct{ client.Client }

func (c slowList) ScheduleClient() client.ScheduleClient {
	return slowListSchedules{c.Client.ScheduleClient()}
}

type slowListSchedules struct{ client.ScheduleClient }

func (s slowListSchedules) List(ctx context.Context, o client.ScheduleListOptions) (client.ScheduleListIterator, error) {
	time.Sleep(100 * time.Millisecond)
	return s.ScheduleClient.List(ctx, o)
}

// A long plan says how far it has got; a short one says nothing, so
// the output an operator already reads is unchanged.
func TestProgressOnLongPlans(t *testing.T) {
	c := startTemporal(t)
	var tasks []task
	for i := range 300 {
		tasks = append(tasks, task{name: fmt.Sprintf("t%03d", i), hour: i % 24})
	}
	f := tasksFile(t, tasks)

	var out bytes.Buffer
	build(t, c, f, Progress(&out))
	if out.Len() != 0 {
		t.Errorf("a plan shorter than a second wrote progress:\n%s", &out)
	}

	often := func(b *builder) { b.every = 10 * time.Millisecond } // 100 ms is long
	build(t, slowList{c}, f, Progress(&out), often)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || lines[len(lines)-1] != "planned 300 of 300 tasks" {
		t.Fatalf("progress lines:\n%s\nwant some, then a last saying planned 300 of 300 tasks", &out)
	}
	for _, l := range lines[:len(lines)-1] {
		var n int
		_, err1 := fmt.Sscanf(l, "prepared %d of 300 tasks", &n)
		_, err2 := fmt.Sscanf(l, "listed %d schedules", &n)
		_, err3 := fmt.Sscanf(l, "planned %d of 300 tasks", &n)
		if err1 != nil && err2 != nil && err3 != nil {
			t.Errorf("progress line %q", l)
		}
	}
	if !slices.Contains(lines, "listed 0 schedules") {
		t.Errorf("no progress while listing took 100 ms:\n%s", &out)
	}
}

// A plan right after an apply sees what the apply did, though the list of
// schedules it reads first lags behind: envsync's own changes are never
// taken from a stale list.
func TestPlanRightAfterApplySeesIt(t *testing.T) {
	c := startTemporal(t)
	ctx := context.Background()
	var tasks []task
	for i := range 20 {
		tasks = append(tasks, task{name: fmt.Sprintf("t%02d", i), hour: i})
	}
	for round, change := range []func(*task){
		func(*task) {},
		func(t *task) { t.hour = (t.hour + 1) % 24 },
		func(t *task) { t.ensure = config.EnsureDisabled },
		func(t *task) { t.ensure = "" },
		func(t *task) { t.ensure = config.EnsureAbsent },
	} {
		for i := range tasks {
			change(&tasks[i])
		}
		f := tasksFile(t, tasks)
		if _, err := build(t, c, f).Apply(ctx, c, false); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, ch := range build(t, c, f).Changes {
			if ch.Op != Unchanged && ch.Op != None {
				t.Errorf("round %d: task %s: %s right after apply", round, ch.Task, ch.Op)
			}
		}
	}
}

// A schedule paused by hand is unpaused by the next apply of a file that
// has it present, once the list shows the pause.
func TestHandPausedScheduleIsUnpaused(t *testing.T) {
	c := startTemporal(t)
	ctx := context.Background()
	f := tasksFile(t, []task{{name: "t1", hour: 3}})
	if _, err := build(t, c, f).Apply(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	h := c.ScheduleClient().GetHandle(ctx, ID("t1"))
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		p := build(t, c, f)
		if p.Changes[0].Op == Unpause {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plan %s, want unpause", p.Changes[0].Op)
		}
	}
}
