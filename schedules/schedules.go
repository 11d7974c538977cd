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
	"io"
	"strings"
	"text/tabwriter"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/searchattr"
	"github.com/envsync/envsync/starter"
	"github.com/envsync/envsync/workflows"
)

// Prefix marks the schedules envsync manages: "envsync-task-<task name>".
const Prefix = "envsync-task-"

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
}

// Plan is what apply would do.
type Plan struct {
	Changes []Change
}

// ID is the schedule of task.
func ID(task string) string { return Prefix + task }

// Build compares the tasks file with the schedules on the server. Tasks that
// cannot be scheduled are refused here, before anything changes.
func Build(ctx context.Context, c client.Client, f *config.File) (*Plan, error) {
	var errs config.Errors
	desired := map[string]*client.ScheduleOptions{}
	for _, t := range f.Tasks {
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
		opts, err := options(t, then)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		desired[t.Name] = opts
	}
	if len(errs) > 0 {
		return nil, &starter.InputError{Err: errs}
	}

	existing, err := managed(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &Plan{}
	named := map[string]bool{}
	for _, t := range f.Tasks {
		id := ID(t.Name)
		named[id] = true
		ch := Change{ScheduleID: id, Task: t.Name, When: when(t), options: desired[t.Name]}
		cur, err := describe(ctx, c, id)
		if err != nil {
			return nil, err
		}
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
		case cur.hash != hash(ch.options):
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

// options is the full desired schedule of a task.
func options(t config.Task, then []config.Task) (*client.ScheduleOptions, error) {
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
	arg := workflows.ScheduledInput{Task: t, Then: then}
	arg.Task.Ensure = ""
	o := &client.ScheduleOptions{
		ID: ID(t.Name),
		Spec: client.ScheduleSpec{
			Calendars:    []client.ScheduleCalendarSpec{{Hour: []client.ScheduleRange{{Start: *t.Hour}}, Minute: []client.ScheduleRange{{Start: *t.Minute}}}},
			TimeZoneName: tz,
			Jitter:       t.Jitter,
		},
		Action: &client.ScheduleWorkflowAction{
			ID:                    "envsync-scheduled-" + t.Name,
			Workflow:              "Scheduled",
			Args:                  []any{arg},
			TaskQueue:             config.CentralQueue,
			TypedSearchAttributes: searchattr.For(t),
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: catchup,
		Paused:        t.Ensure == config.EnsureDisabled,
		Note:          "managed by envsync schedules apply",
	}
	o.Action.(*client.ScheduleWorkflowAction).Memo = map[string]any{memoHash: hash(o)}
	return o, nil
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

// managed lists the IDs of schedules envsync manages.
func managed(ctx context.Context, c client.Client) ([]string, error) {
	iter, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 500})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	var ids []string
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		if strings.HasPrefix(e.ID, Prefix) {
			ids = append(ids, e.ID)
		}
	}
	return ids, nil
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

// Apply makes the server match the plan. Orphans are deleted only with
// prune. It returns how many schedules it changed.
func (p *Plan) Apply(ctx context.Context, c client.Client, prune bool) (int, error) {
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
				return &client.ScheduleUpdate{Schedule: &s}, nil
			}})
			if err == nil && ch.pause {
				err = h.Pause(ctx, client.SchedulePauseOptions{Note: "ensure: disabled"})
			}
			if err == nil && ch.unpause {
				err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "ensure: present"})
			}
		case Pause:
			err = h.Pause(ctx, client.SchedulePauseOptions{Note: "ensure: disabled"})
		case Unpause:
			err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "ensure: present"})
		case Delete:
			err = h.Delete(ctx)
		case Orphan:
			if !prune {
				continue
			}
			err = h.Delete(ctx)
		default:
			continue
		}
		if err != nil {
			return n, fmt.Errorf("%s schedule %s: %w (%d changes applied before it)", ch.Op, ch.ScheduleID, err, n)
		}
		n++
	}
	return n, nil
}
