package starter

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/envsync/envsync/activities"
	"github.com/envsync/envsync/config"
	"github.com/envsync/envsync/dump"
	"github.com/envsync/envsync/workflows"
)

// Dumps runs the ListDumps workflow for task (on its worker, where the
// store's credentials are) and waits for its result.
func Dumps(ctx context.Context, c client.Client, task config.Task, limit int, t workflows.Timeouts) (activities.DumpsResult, error) {
	var res activities.DumpsResult
	err := execute(ctx, c, task, workflows.DumpsWorkflowID(task, time.Now()), "list dumps", workflows.ListDumps,
		workflows.DumpsInput{Task: task, Limit: limit, Timeouts: t}, &res)
	return res, err
}

// ReportDumps prints a task's dumps, newest first, one block each, then
// the leftovers.
func ReportDumps(w io.Writer, task string, r activities.DumpsResult, now time.Time) {
	fmt.Fprintf(w, "%s: %s: %d complete dumps", task, r.Location, len(r.Dumps)+r.More)
	if r.More > 0 {
		fmt.Fprintf(w, " (the newest %d described; --limit for more)", len(r.Dumps))
	}
	fmt.Fprintln(w)
	for _, d := range r.Dumps {
		fmt.Fprintf(w, "  %s  %s  %s ago  %s\n", d.Time.UTC().Format("2006-01-02 15:04:05Z"), d.Key, Age(now.Sub(d.Time)), dump.HumanSize(d.Size))
		var flags []string
		if d.Compression != "" {
			flags = append(flags, "compression "+d.Compression)
		}
		if len(d.Recipients) > 0 {
			flags = append(flags, "encrypted to "+strings.Join(d.Recipients, ", "))
		} else if d.Problem == "" {
			flags = append(flags, "not encrypted")
		}
		switch {
		case d.Counted && d.Exact:
			flags = append(flags, fmt.Sprintf("counted: %d tables, %d rows (exact)", d.Tables, d.Rows))
		case d.Counted:
			flags = append(flags, fmt.Sprintf("counted: %d tables, %d rows (approximate)", d.Tables, d.Rows))
		case d.Problem == "":
			flags = append(flags, "not counted")
		}
		if d.RulesSHA256 != "" {
			flags = append(flags, "sanitised before upload, rules sha256 "+short(d.RulesSHA256))
		}
		if len(flags) > 0 {
			fmt.Fprintf(w, "      %s\n", strings.Join(flags, "; "))
		}
		for _, h := range d.Holds {
			fmt.Fprintf(w, "      held: %s\n", h)
		}
		if d.Drill != nil {
			fmt.Fprintf(w, "      drill passed %s (%s ago, %d tables, %d rows verified, %d checks, %.0f s on %s)\n",
				d.Drill.At.UTC().Format("2006-01-02 15:04Z"), Age(now.Sub(d.Drill.At)), d.Drill.Tables, d.Drill.Rows, d.Drill.Checks, d.Drill.Seconds, d.Drill.WorkerHost)
		} else {
			fmt.Fprintf(w, "      never drilled\n")
		}
		fmt.Fprintf(w, "      retention: %s\n", d.Retention)
		if d.Problem != "" {
			fmt.Fprintf(w, "      PROBLEM: %s\n", d.Problem)
		}
	}
	if len(r.Leftovers) > 0 {
		fmt.Fprintf(w, "  leftovers (not complete dumps, never restored):\n")
		for _, l := range r.Leftovers {
			fmt.Fprintf(w, "  %s  %s  %s: %s\n", l.Modified.UTC().Format("2006-01-02 15:04:05Z"), l.Key, dump.HumanSize(l.Size), l.Why)
		}
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Age is a duration for people: "45m", "5h10m", "3d4h".
func Age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
