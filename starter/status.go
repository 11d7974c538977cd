package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/failure"
	"github.com/envsync/envsync/store"
	"github.com/envsync/envsync/workflows"
)

// The verdicts of `envsync status`, worst first.
const (
	VerdictFailing  = "failing"
	VerdictNeverRun = "never run"
	VerdictStale    = "stale"
	VerdictOK       = "ok"
)

// DefaultStaleAfter is how old a task's last success (or a push's newest
// dump) may be before it is stale: a nightly task, with two hours' grace.
const DefaultStaleAfter = 26 * time.Hour

// TaskStatus is one task at a glance: names, times and outcomes only.
type TaskStatus struct {
	Task   string `json:"task"`
	Action string `json:"action"`
	// Schedule is the task's Temporal Schedule, when it has one.
	Schedule *ScheduleStatus `json:"schedule,omitempty"`
	// LastRun is the newest finished run; Running, one still going.
	LastRun *RunStatus `json:"last_run,omitempty"`
	Running *RunStatus `json:"running,omitempty"`
	// LastSuccess is when the newest successful run finished.
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// NewestDump is the newest complete dump in the task's store.
	NewestDump *activities.DumpEntry `json:"newest_dump,omitempty"`
	// DumpError says why the store could not be read.
	DumpError string `json:"dump_error,omitempty"`
	Verdict   string `json:"verdict"`
	// Why explains a verdict other than ok.
	Why string `json:"why,omitempty"`
}

// ScheduleStatus is a task's schedule.
type ScheduleStatus struct {
	ID      string     `json:"id"`
	Paused  bool       `json:"paused"`
	NextRun *time.Time `json:"next_run,omitempty"`
	// Missing says the tasks file has a time but Temporal no schedule.
	Missing bool `json:"missing,omitempty"`
}

// RunStatus is one run of a task.
type RunStatus struct {
	WorkflowID string        `json:"workflow_id"`
	RunID      string        `json:"run_id"`
	Started    time.Time     `json:"started"`
	Closed     *time.Time    `json:"closed,omitempty"`
	Duration   time.Duration `json:"duration_ns,omitempty"`
	// Outcome is ok, failed, cancelled, terminated, timed out or
	// running.
	Outcome string `json:"outcome"`
}

// StatusOptions tunes Status.
type StatusOptions struct {
	StaleAfter time.Duration
	Now        time.Time
	// Timeouts bound the store listing on each task's worker.
	Timeouts workflows.Timeouts
}

// Status looks up every task: its schedule and runs in Temporal, and its
// newest dump in its store (read on the task's worker, where the store
// credentials are).
func Status(ctx context.Context, c client.Client, tasks []config.Task, o StatusOptions) []TaskStatus {
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	out := make([]TaskStatus, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskStatus(ctx, c, t, o))
	}
	return out
}

func taskStatus(ctx context.Context, c client.Client, t config.Task, o StatusOptions) TaskStatus {
	s := TaskStatus{Task: t.Name, Action: t.Action}
	var problems []string
	if sch, err := schedule(ctx, c, t); err != nil {
		problems = append(problems, "schedule: "+err.Error())
	} else {
		s.Schedule = sch
	}
	if err := runs(ctx, c, t, &s); err != nil {
		problems = append(problems, "runs: "+err.Error())
	}
	if info, _ := store.Lookup(t.StorageBackend); !info.Native && t.Action != config.ActionS3Sync {
		res, err := Dumps(ctx, c, t, 1, o.Timeouts)
		switch {
		case err != nil:
			s.DumpError = failure.Text(err)
		case len(res.Dumps) > 0:
			s.NewestDump = &res.Dumps[0]
		}
	}
	s.Verdict, s.Why = verdict(s, t, o)
	if len(problems) > 0 && s.Verdict == VerdictOK {
		s.Verdict, s.Why = VerdictFailing, strings.Join(problems, "; ")
	}
	return s
}

// verdict judges a task: its newest finished run failed (failing), it never
// ran, its last success (or a push's newest dump) is older than the stale
// limit, or ok.
func verdict(s TaskStatus, t config.Task, o StatusOptions) (string, string) {
	if s.DumpError != "" {
		return VerdictFailing, "its store could not be read: " + s.DumpError
	}
	if s.LastRun != nil && s.LastRun.Outcome != "ok" {
		return VerdictFailing, fmt.Sprintf("the last run %s (%s)", s.LastRun.Outcome, s.LastRun.WorkflowID)
	}
	if s.LastRun == nil {
		if s.NewestDump != nil && t.Action == config.ActionPush && o.Now.Sub(s.NewestDump.Time) <= o.StaleAfter {
			return VerdictOK, "" // runs older than Temporal's retention
		}
		return VerdictNeverRun, "no finished run in Temporal"
	}
	if s.LastSuccess != nil && o.Now.Sub(*s.LastSuccess) > o.StaleAfter {
		return VerdictStale, fmt.Sprintf("last success %s ago (stale after %s)", Age(o.Now.Sub(*s.LastSuccess)), o.StaleAfter)
	}
	if t.Action == config.ActionPush {
		switch {
		case s.NewestDump == nil && s.DumpError == "" && !nativeStore(t):
			return VerdictStale, "no complete dump in its store"
		case s.NewestDump != nil && o.Now.Sub(s.NewestDump.Time) > o.StaleAfter:
			return VerdictStale, fmt.Sprintf("newest dump %s ago (stale after %s)", Age(o.Now.Sub(s.NewestDump.Time)), o.StaleAfter)
		}
	}
	return VerdictOK, ""
}

func nativeStore(t config.Task) bool {
	info, _ := store.Lookup(t.StorageBackend)
	return info.Native
}

// schedule describes the task's Temporal Schedule, if it has one.
func schedule(ctx context.Context, c client.Client, t config.Task) (*ScheduleStatus, error) {
	id := workflows.ScheduleID(t.Name)
	d, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		if t.Hour != nil && t.Ensure != config.EnsureAbsent {
			return &ScheduleStatus{ID: id, Missing: true}, nil
		}
		return nil, nil
	case err != nil:
		return nil, err
	}
	s := &ScheduleStatus{ID: id, Paused: d.Schedule.State.Paused}
	if len(d.Info.NextActionTimes) > 0 && !s.Paused {
		next := d.Info.NextActionTimes[0]
		s.NextRun = &next
	}
	return s, nil
}

// runs finds the task's newest finished run, a running one, and its last
// success. Runs of one target share a workflow ID (WorkflowID), so the
// action tells a push from a pull of it.
func runs(ctx context.Context, c client.Client, t config.Task, s *TaskStatus) error {
	q := fmt.Sprintf("WorkflowId = %q AND EnvsyncAction = %q", workflows.WorkflowID(t), t.Action)
	var token []byte
	for page := 0; page < 5; page++ {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 20, NextPageToken: token})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			r := RunStatus{WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(),
				Started: e.GetStartTime().AsTime(), Outcome: outcome(e.GetStatus())}
			if e.GetCloseTime() != nil && e.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				closed := e.GetCloseTime().AsTime()
				r.Closed, r.Duration = &closed, closed.Sub(r.Started)
			}
			switch {
			case r.Closed == nil:
				if s.Running == nil || r.Started.After(s.Running.Started) {
					s.Running = &r
				}
				continue
			case s.LastRun == nil || r.Closed.After(*s.LastRun.Closed):
				s.LastRun = &r
			}
			if r.Outcome == "ok" && (s.LastSuccess == nil || r.Closed.After(*s.LastSuccess)) {
				s.LastSuccess = r.Closed
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 || s.LastSuccess != nil {
			break
		}
	}
	return nil
}

func outcome(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "ok"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued"
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	}
	return strings.ToLower(st.String())
}

// ReportStatus prints one line per task, then the reasons for every
// verdict other than ok.
func ReportStatus(w io.Writer, st []TaskStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tACTION\tSCHEDULE\tLAST RUN\tNEWEST DUMP\tVERDICT")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Task, s.Action, scheduleText(s.Schedule, now), runText(s, now), dumpText(s, now), s.Verdict)
	}
	tw.Flush()
	for _, s := range st {
		if s.Why != "" {
			fmt.Fprintf(w, "%s: %s: %s\n", s.Task, s.Verdict, s.Why)
		}
	}
}

func scheduleText(s *ScheduleStatus, now time.Time) string {
	switch {
	case s == nil:
		return "none (by hand)"
	case s.Missing:
		return "not applied (run schedules apply)"
	case s.Paused:
		return "paused"
	case s.NextRun != nil:
		return "next in " + Age(s.NextRun.Sub(now))
	}
	return "no next run"
}

func runText(s TaskStatus, now time.Time) string {
	var b strings.Builder
	if r := s.LastRun; r != nil {
		took := r.Duration.Round(time.Second)
		if r.Duration < time.Minute {
			took = r.Duration.Round(100 * time.Millisecond)
		}
		fmt.Fprintf(&b, "%s %s ago, took %s, %s", r.Outcome, Age(now.Sub(*r.Closed)), took, r.WorkflowID)
	} else {
		b.WriteString("never")
	}
	if s.Running != nil {
		fmt.Fprintf(&b, " (running for %s)", Age(now.Sub(s.Running.Started)))
	}
	return b.String()
}

func dumpText(s TaskStatus, now time.Time) string {
	d := s.NewestDump
	switch {
	case s.DumpError != "":
		return "unreadable"
	case d == nil:
		return "-"
	}
	flags := []string{Age(now.Sub(d.Time)) + " old", dump.HumanSize(d.Size)}
	if len(d.Recipients) > 0 {
		flags = append(flags, "encrypted")
	}
	if d.RulesSHA256 != "" {
		flags = append(flags, "sanitised")
	}
	if d.Counted {
		flags = append(flags, "verified")
	}
	if d.Drill != nil {
		flags = append(flags, "drilled "+Age(now.Sub(d.Drill.At))+" ago")
	} else {
		flags = append(flags, "not drilled")
	}
	return strings.Join(flags, ", ")
}
