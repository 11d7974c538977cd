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
	Out io.Writer
	// TTY rewrites one line in place; otherwise a plain line is printed
	// every Every (and whenever the step or attempt changes).
	TTY   bool
	Every time.Duration
}

// watch polls the run until ctx ends.
func (w *Watch) watch(ctx context.Context, c client.Client, id, runID string) {
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
			continue
		}
		line, key := progressLine(desc.GetPendingActivities())
		if line == "" {
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
		var b strings.Builder
		fmt.Fprintf(&b, "%-8s", what)
		if pr.Bytes > 0 || pr.Total > 0 {
			fmt.Fprintf(&b, " %s", dump.HumanSize(pr.Bytes))
			if pr.Total > 0 {
				fmt.Fprintf(&b, " of ~%s", dump.HumanSize(pr.Total))
			}
			if pr.Stored > 0 {
				fmt.Fprintf(&b, ", %s stored", dump.HumanSize(pr.Stored))
			}
			if pr.Rate > 0 {
				fmt.Fprintf(&b, ", %s/s", dump.HumanSize(int64(pr.Rate)))
			}
			if pr.ETA > 0 {
				fmt.Fprintf(&b, ", ETA %s", time.Duration(pr.ETA*float64(time.Second)).Round(time.Second))
			}
		} else if p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
			b.WriteString(" running")
		}
		if a := p.GetAttempt(); a > 1 {
			state := "attempt"
			if p.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
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
