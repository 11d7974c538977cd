// Package schedules reconciles a tasks file with Temporal Schedules, which
// replace the original's cron jobs: ensure present → a daily schedule at
// hour:minute, disabled → the schedule kept but paused (still triggerable
// by hand), absent → deleted. Applying the same file twice changes nothing.
package schedules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/envsync/envsync/starter"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/workflows"
)

// DefaultCatchupWindow bounds how late a missed run still starts after an
// outage, so a nightly dump never starts at noon.
const DefaultCatchupWindow = time.Hour

const memoHash = "envsync_schedule"

// Op is what applying does to one schedule.
type Op string

// The operations a plan can hold.
const (
	Create    Op = "create"
	Update    Op = "update"
	Pause     Op = "pause"
	Unpause   Op = "unpause"
	Delete    Op = "delete"
	Unchanged Op = "unchanged"
	Orphan    Op = "orphan"
	None      Op = "none"
)

// Change is one row of a plan.
type Change struct {
	Op         Op
	ScheduleID string
	Task       string
	When       string
	// update also carries a pause or unpause.
	pause, unpause bool
	options        *client.ScheduleOptions
	hash           string // of options
}

// Plan is what apply would do.
type Plan struct {
	Changes []Change
}

// ID is the schedule of task.
func ID(task string) string { return workflows.ScheduleID(task) }

// Option changes how Build works.
type Option func(*builder)

// Progress makes Build write a line to w about once a second while it
// plans ("planned 5000 of 130000 tasks"), so a plan of many tasks is seen
// to be moving. A plan that takes under a second writes nothing.
func Progress(w io.Writer) Option { return func(b *builder) { b.progress = w } }

// builder holds Build's options.
type builder struct {
	progress io.Writer
	every    time.Duration // between progress lines
	parallel int           // describe calls in flight at once
}

// describeParallel bounds the describe calls in flight: enough to hide the
// round trip to a remote cluster, few enough not to crowd out its other
// clients.
const describeParallel = 16

// Build compares the tasks file with the schedules on the server. Tasks that
// cannot be scheduled are refused here, before anything changes.
//
// The schedules are listed once, and the list is taken as it stands: a
// schedule envsync applied carries, in its note, the hash of what was
// applied, and the list shows notes and paused states. Only a schedule
// whose note lacks the hash (made by an older envsync, or paused by hand)
// is described, b.parallel at a time. Describing every schedule in turn
// took minutes for a file of many thousand tasks. The list comes from the
// visibility store, which lags a little behind changes; Apply waits for it
// to show what Apply did, so a plan right after an apply sees that apply.
// A change made otherwise in the last second or so is seen by the next plan.
func Build(ctx context.Context, c client.Client, f *config.File, opts ...Option) (*Plan, error) {
	b := builder{every: time.Second, parallel: describeParallel}
	for _, o := range opts {
		o(&b)
	}
	// Progress comes in three steps: the desired schedules are worked out,
	// the server's are listed, the unknown ones are described.
	var (
		prepared, seen, planned atomic.Int64
		listing                 atomic.Bool
	)
	stop := b.report(func() string {
		switch {
		case planned.Load() > 0:
			return fmt.Sprintf("planned %d of %d tasks", planned.Load(), len(f.Tasks))
		case listing.Load():
			return fmt.Sprintf("listed %d schedules", seen.Load())
		}
		return fmt.Sprintf("prepared %d of %d tasks", prepared.Load(), len(f.Tasks))
	})
	defer stop()

	var errs config.Errors
	type want struct {
		options *client.ScheduleOptions
		hash    string
	}
	desired := make([]want, len(f.Tasks))
	for i, t := range f.Tasks {
		prepared.Add(1)
		if t.Ensure == config.EnsureAbsent || t.Hour == nil {
			continue
		}
		if t.Action == config.ActionPull && t.Protected {
			errs = append(errs, &config.FieldError{Source: f.Path, Task: t.Name, Field: "protected", Value: "true",
				Reason: "a protected target is never pulled into from a schedule; remove hour/minute or set ensure: absent"})
			continue
		}
		var then []config.Task
		for _, name := range t.Then {
			pull, _ := f.Task(name)
			then = append(then, pull)
		}
		var pullRules []config.Task
		if t.Action == config.ActionPush {
			pullRules = f.PullsFedBy(t)
		}
		o, h := options(t, then, pullRules)
		desired[i] = want{o, h}
	}
	if len(errs) > 0 {
		return nil, &starter.InputError{Err: errs}
	}

	listing.Store(true)
	listed, existing, err := managed(ctx, c, &seen)
	if err != nil {
		return nil, err
	}
	cur := make([]*current, len(f.Tasks))
	var unknown []int // tasks whose listed schedules lack the hash
	for i, t := range f.Tasks {
		l, ok := listed[ID(t.Name)]
		switch {
		case !ok:
			planned.Add(1)
		case l.hash == "" && desired[i].options != nil:
			unknown = append(unknown, i)
		default:
			cur[i] = &l
			planned.Add(1)
		}
	}
	if err := b.describeAll(ctx, c, f.Tasks, unknown, cur, &planned); err != nil {
		return nil, err
	}

	p := &Plan{Changes: make([]Change, 0, len(f.Tasks))}
	named := make(map[string]bool, len(f.Tasks))
	for i, t := range f.Tasks {
		id := ID(t.Name)
		named[id] = true
		ch := Change{ScheduleID: id, Task: t.Name, When: when(t), options: desired[i].options, hash: desired[i].hash}
		cur := cur[i]
		switch {
		case ch.options == nil && cur == nil:
			ch.Op = None
			if t.Ensure != config.EnsureAbsent {
				ch.When = "no hour/minute: by hand or by a chain"
			}
		case ch.options == nil:
			ch.Op = Delete
		case cur == nil:
			ch.Op = Create
		case cur.hash != ch.hash:
			ch.Op = Update
			ch.pause = ch.options.Paused && !cur.paused
			ch.unpause = !ch.options.Paused && cur.paused
		case ch.options.Paused && !cur.paused:
			ch.Op = Pause
		case !ch.options.Paused && cur.paused:
			ch.Op = Unpause
		default:
			ch.Op = Unchanged
		}
		p.Changes = append(p.Changes, ch)
	}
	for _, id := range existing {
		if !named[id] {
			p.Changes = append(p.Changes, Change{Op: Orphan, ScheduleID: id, Task: "-", When: "not in the file; --prune deletes it"})
		}
	}
	return p, nil
}

// describeAll describes the schedules of tasks[i] for each i in which,
// b.parallel at a time, into cur[i] (nil where there is none), counting
// each in planned.
func (b *builder) describeAll(ctx context.Context, c client.Client, tasks []config.Task, which []int, cur []*current, planned *atomic.Int64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next atomic.Int64 // index into which of the next to describe
		wg   sync.WaitGroup
	)
	for range min(b.parallel, len(which)) {
		wg.Go(func() {
			for {
				n := int(next.Add(1) - 1)
				if n >= len(which) || ctx.Err() != nil {
					return
				}
				i := which[n]
				d, err := describe(ctx, c, ID(tasks[i].Name))
				if err != nil {
					cancel(err)
					return
				}
				cur[i] = d
				planned.Add(1)
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// report writes status() to b.progress every b.every until stop is called,
// and once more then if it wrote anything, so the last line shows the
// finished count.
func (b *builder) report(status func() string) (stop func()) {
	if b.progress == nil {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(b.every)
		defer tick.Stop()
		wrote := false
		for {
			select {
			case <-tick.C:
				fmt.Fprintln(b.progress, status())
				wrote = true
			case <-quit:
				if wrote {
					fmt.Fprintln(b.progress, status())
				}
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}

func when(t config.Task) string {
	if t.Hour == nil {
		return "-"
	}
	tz := t.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	s := fmt.Sprintf("daily %02d:%02d %s", *t.Hour, *t.Minute, tz)
	if t.Jitter > 0 {
		s += " (+ up to " + t.Jitter.String() + ")"
	}
	if t.Ensure == config.EnsureDisabled {
		s += ", paused"
	}
	return s
}

// options is the full desired schedule of a task, and its hash.
func options(t config.Task, then, pullRules []config.Task) (*client.ScheduleOptions, string) {
	catchup := t.CatchupWindow
	if catchup == 0 {
		catchup = DefaultCatchupWindow
	}
	tz := t.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	// Ensure only decides paused or not, which is compared on its own;
	// leaving it out of the action keeps a pause from counting as an update.
	arg := workflows.ScheduledInput{Task: t, Then: then, PullRules: pullRules}
	arg.Task.Ensure = ""
	o := &client.ScheduleOptions{
		ID: ID(t.Name),
		Spec: client.ScheduleSpec{
			Calendars:    []client.ScheduleCalendarSpec{{Hour: []client.ScheduleRange{{Start: *t.Hour}}, Minute: []client.ScheduleRange{{Start: *t.Minute}}}},
			TimeZoneName: tz,
			Jitter:       t.Jitter,
		},
		Action: &client.ScheduleWorkflowAction{
			ID:                    workflows.ScheduledWorkflowID(t),
			Workflow:              "Scheduled",
			Args:                  []any{arg},
			TaskQueue:             workflows.CentralQueue,
			TypedSearchAttributes: searchattr.For(t),
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: catchup,
		Paused:        t.Ensure == config.EnsureDisabled,
	}
	h := hash(o)
	o.Action.(*client.ScheduleWorkflowAction).Memo = map[string]any{memoHash: h}
	o.Note = note("managed by envsync schedules apply", h)
	return o, h
}

// note is a schedule's note: why it is in its state, then the hash of the
// options apply set. The list of schedules carries notes (not the action's
// memo, where the hash also is), which lets Build skip describing
// schedules that are as the file asks.
func note(why, hash string) string { return why + " (envsync " + hash + ")" }

// noteHash is the hash in a note written by note, or "" (a schedule from
// an older envsync, or a note changed by hand).
func noteHash(note string) string {
	_, h, _ := strings.Cut(note, " (envsync ")
	h, ok := strings.CutSuffix(h, ")")
	if !ok || len(h) != sha256.Size*2 {
		return ""
	}
	return h
}

// hash identifies everything apply sets except the paused state, so an
// unchanged task is recognised without comparing the server's rendering of
// the spec field by field.
func hash(o *client.ScheduleOptions) string {
	act := o.Action.(*client.ScheduleWorkflowAction)
	b, _ := json.Marshal(struct {
		Spec    client.ScheduleSpec
		Args    []any
		Catchup time.Duration
		Overlap enumspb.ScheduleOverlapPolicy
	}{o.Spec, act.Args, o.CatchupWindow, o.Overlap})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

type current struct {
	hash   string
	paused bool
}

func describe(ctx context.Context, c client.Client, id string) (*current, error) {
	desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("describe schedule %s: %w", id, err)
	}
	cur := &current{paused: desc.Schedule.State != nil && desc.Schedule.State.Paused}
	if act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		switch v := act.Memo[memoHash].(type) {
		case string:
			cur.hash = v
		case *commonpb.Payload:
			_ = converter.GetDefaultDataConverter().FromPayload(v, &cur.hash)
		}
	}
	return cur, nil
}

// managed lists the schedules envsync manages: by ID, with the hash and
// paused state the list shows, and their IDs in the order listed. It
// counts every schedule listed in seen.
func managed(ctx context.Context, c client.Client, seen *atomic.Int64) (map[string]current, []string, error) {
	iter, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, nil, fmt.Errorf("list schedules: %w", err)
	}
	byID := map[string]current{}
	var ids []string
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("list schedules: %w", err)
		}
		seen.Add(1)
		if strings.HasPrefix(e.ID, workflows.SchedulePrefix) {
			byID[e.ID] = current{hash: noteHash(e.Note), paused: e.Paused}
			ids = append(ids, e.ID)
		}
	}
	return byID, ids, nil
}

// Pending counts the changes apply would make (orphans only with prune).
func (p *Plan) Pending(prune bool) int {
	n := 0
	for _, ch := range p.Changes {
		switch ch.Op {
		case Unchanged, None:
		case Orphan:
			if prune {
				n++
			}
		default:
			n++
		}
	}
	return n
}

// Print writes the plan as a table.
func (p *Plan) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OP\tSCHEDULE\tTASK\tWHEN")
	for _, ch := range p.Changes {
		op := string(ch.Op)
		if ch.pause {
			op += "+pause"
		}
		if ch.unpause {
			op += "+unpause"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", op, ch.ScheduleID, ch.Task, ch.When)
	}
	tw.Flush()
}

// settleTimeout bounds how long Apply waits for the list of schedules to
// show its changes.
const settleTimeout = 30 * time.Second

// Apply makes the server match the plan. Orphans are deleted only with
// prune. It returns how many schedules it changed, once the list of
// schedules shows them (see Build), or after settleTimeout: the changes are
// made either way, and a plan made before the list catches up may offer
// some of them again.
func (p *Plan) Apply(ctx context.Context, c client.Client, prune bool) (int, error) {
	applied := map[string]*current{} // ID → what the list should show; nil: nothing
	n, err := p.apply(ctx, c, prune, applied)
	if err != nil {
		return n, err
	}
	settle(ctx, c, applied)
	return n, nil
}

// settle waits until the list of schedules agrees with want, or
// settleTimeout passes.
func settle(ctx context.Context, c client.Client, want map[string]*current) {
	if len(want) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	for {
		listed, _, err := managed(ctx, c, new(atomic.Int64))
		agree := err == nil
		for id, w := range want {
			l, ok := listed[id]
			if !agree || ok != (w != nil) || (ok && l != *w) {
				agree = false
				break
			}
		}
		if agree {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *Plan) apply(ctx context.Context, c client.Client, prune bool, applied map[string]*current) (int, error) {
	sc := c.ScheduleClient()
	n := 0
	for _, ch := range p.Changes {
		h := sc.GetHandle(ctx, ch.ScheduleID)
		var err error
		switch ch.Op {
		case Create:
			_, err = sc.Create(ctx, *ch.options)
		case Update:
			err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				spec := ch.options.Spec // the whole spec: calendars are replaced, never added to
				s.Spec = &spec
				s.Action = ch.options.Action
				s.Policy = &client.SchedulePolicies{Overlap: ch.options.Overlap, CatchupWindow: ch.options.CatchupWindow}
				state := client.ScheduleState{}
				if s.State != nil {
					state = *s.State
				}
				state.Note = note("updated by envsync schedules apply", ch.hash)
				s.State = &state
				return &client.ScheduleUpdate{Schedule: &s}, nil
			}})
			if err == nil && ch.pause {
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: note("ensure: disabled", ch.hash)})
			}
			if err == nil && ch.unpause {
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note("ensure: present", ch.hash)})
			}
		case Pause:
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: note("ensure: disabled", ch.hash)})
		case Unpause:
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note("ensure: present", ch.hash)})
		case Delete:
			err = deleteSchedule(ctx, h)
		case Orphan:
			if !prune {
				continue
			}
			err = deleteSchedule(ctx, h)
		default:
			continue
		}
		if err != nil {
			return n, fmt.Errorf("%s schedule %s: %w (%d changes applied before it)", ch.Op, ch.ScheduleID, err, n)
		}
		applied[ch.ScheduleID] = nil
		if ch.options != nil {
			applied[ch.ScheduleID] = &current{hash: ch.hash, paused: ch.options.Paused}
		}
		n++
	}
	return n, nil
}

// deleteSchedule deletes a schedule; one already gone counts as deleted,
// since the list a plan reads may show it for a moment after it went.
func deleteSchedule(ctx context.Context, h client.ScheduleHandle) error {
	err := h.Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil
	}
	return err
}
