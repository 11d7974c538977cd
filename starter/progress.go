package starter

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/dump"
)

// Watch prints a run's progress while it runs: the step under way, bytes
// done of the expected total, rate and time left, and, while a step is
// being retried, its attempt and last error. It reads what the Temporal UI
// shows (the pending activity's heartbeat details and retry state), so a
// person at a terminal and one in the UI see the same.
type Watch struct {
	Out io.Writer // nil: print nothing
	// TTY rewrites one line in place; otherwise a plain line is printed
	// every Every (and whenever the step or attempt changes).
	TTY   bool
	Every time.Duration
	// Address and Namespace of Temporal, for messages about losing it.
	Address, Namespace string
	// Patience is how long to wait for Temporal to answer again once
	// contact is lost (0: DefaultPatience).
	Patience time.Duration
}

// watch polls the run until ctx ends, and tells cn whether Temporal
// answers.
func (w *Watch) watch(ctx context.Context, c client.Client, id, runID string, cn *contact) {
	poll := time.Second
	every := w.Every
	if every == 0 {
		every = 15 * time.Second
	}
	var last string
	var lastKey string
	var printed time.Time
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if w.TTY && last != "" {
				fmt.Fprint(w.Out, "\r\033[K")
			}
			return
		case <-t.C:
		}
		desc, err := c.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			if unreachable(err) && ctx.Err() == nil {
				cn.lost()
				last = "" // the line was cleared to say so
			}
			continue
		}
		cn.back()
		line, key := progressLine(desc.GetPendingActivities())
		if line == "" || w.Out == nil {
			continue
		}
		switch {
		case w.TTY:
			if line != last {
				fmt.Fprintf(w.Out, "\r\033[K%s", line)
			}
		case key != lastKey || time.Since(printed) >= every:
			fmt.Fprintln(w.Out, line)
			printed = time.Now()
		}
		last, lastKey = line, key
	}
}

// idleAfter is how long bytes may stand still before the line says so
// instead of showing a rate: a store that does not answer is failed by
// the worker within its stall limit, and until then the operator should
// see that nothing moves, not a slowly falling rate.
const idleAfter = 5 * time.Second

// progressLine describes the first pending step that reports progress, is
// being retried or has run for a few seconds; key changes when the step or
// its attempt does.
func progressLine(pending []*workflow.PendingActivityInfo) (line, key string) {
	for _, p := range pending {
		name := p.GetActivityType().GetName()
		var pr activities.Progress
		if d := p.GetHeartbeatDetails(); d != nil && len(d.GetPayloads()) > 0 {
			_ = converter.GetDefaultDataConverter().FromPayloads(d, &pr)
		}
		// Quick bookkeeping steps (lock, notify) are not worth a line
		// unless they are slow or failing.
		running := time.Since(p.GetLastStartedTime().AsTime())
		if pr.Phase == "" && p.GetAttempt() <= 1 && (p.GetLastStartedTime() == nil || running < 3*time.Second) {
			continue
		}
		what := strings.ToLower(name)
		if pr.Phase != "" {
			what = pr.Phase
		}
		started := p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED
		var b strings.Builder
		fmt.Fprintf(&b, "%-8s", what)
		switch {
		case pr.Attempt != p.GetAttempt():
			// The last heartbeat is an earlier attempt's: its figures
			// say nothing of this one.
			if started {
				b.WriteString(" starting")
			}
		case pr.Bytes > 0 || pr.Total > 0:
			fmt.Fprintf(&b, " %s", dump.HumanSize(pr.Bytes))
			if pr.Total > 0 {
				fmt.Fprintf(&b, " of ~%s", dump.HumanSize(pr.Total))
			}
			if pr.Stored > 0 {
				fmt.Fprintf(&b, ", %s stored", dump.HumanSize(pr.Stored))
			}
			idle := time.Duration(pr.Idle * float64(time.Second))
			if hb := p.GetLastHeartbeatTime(); hb != nil && started {
				idle += max(0, time.Since(hb.AsTime()))
			}
			if idle >= idleAfter {
				fmt.Fprintf(&b, ", no bytes moved for %s", idle.Round(time.Second))
				break
			}
			if pr.Rate > 0 {
				fmt.Fprintf(&b, ", %s/s", dump.HumanSize(int64(pr.Rate)))
			}
			if pr.ETA > 0 {
				fmt.Fprintf(&b, ", ETA %s", time.Duration(pr.ETA*float64(time.Second)).Round(time.Second))
			}
		case started:
			b.WriteString(" running")
		}
		if a := p.GetAttempt(); a > 1 {
			state := "attempt"
			if !started {
				state = "waiting to retry, attempt"
			}
			fmt.Fprintf(&b, " (%s %d", state, a)
			if msg := p.GetLastFailure().GetMessage(); msg != "" {
				fmt.Fprintf(&b, ", last error: %s", oneLine(msg, 160))
			}
			b.WriteString(")")
		}
		return b.String(), fmt.Sprintf("%s/%d", name, p.GetAttempt())
	}
	return "", ""
}

// oneLine flattens msg and cuts it to n characters.
func oneLine(msg string, n int) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if r := []rune(msg); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return msg
}
