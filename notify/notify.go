// Package notify reports every run's outcome to monitoring as a passive
// check result per task, as the original did with send_nsca: Icinga 2's REST
// API, or send_nsca for installations that still use NSCA. Icinga's
// freshness threshold then turns a run that never happened into an alert.
package notify

import (
	"context"
	"fmt"
	"go.temporal.io/sdk/activity"
	"log/slog"
	"strings"

	"github.com/envsync/envsync/config"
)

// Check states, as Icinga and Nagios number them.
const (
	OK       = 0
	Warning  = 1
	Critical = 2
	Unknown  = 3
)

// Result is one passive check result.
type Result struct {
	Host    string
	Service string
	Status  int
	Output  string
}

// Sender delivers a result to a monitoring system.
type Sender interface {
	Send(ctx context.Context, r Result) error
}

// Outcomes of a run.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeSkipped = "skipped"
)

// Report describes a finished run; it holds what the check's message says,
// never data or secrets.
type Report struct {
	Task     config.Task
	Outcome  string
	Key      string
	Location string
	Seconds  float64
	// Error is the run's error message, for failed runs.
	Error string
	// Warning is what a run that succeeded needs someone to fix (a
	// pull's rule set that misses a column the push's database has).
	Warning string
}

// DefaultService is the original's service name.
const DefaultService = "GOV.UK environment sync {title}"

// Activities holds the notify step; it runs on the central worker, so a run
// whose database host died is still reported.
type Activities struct {
	Sender Sender
	// Service is the service name template; {title} is the task's title.
	Service string
	Logger  *slog.Logger
	// Observe, when set, is told every run's report once (the worker's
	// metrics count runs with it).
	Observe func(Report)
}

// ServiceName is the Icinga service of task under template tmpl
// (empty: DefaultService).
func ServiceName(tmpl string, t config.Task) string {
	if tmpl == "" {
		tmpl = DefaultService
	}
	title := t.Title
	if title == "" {
		title = t.Name
	}
	return strings.ReplaceAll(tmpl, "{title}", title)
}

// Message is the check output: action, dbms, database, location, dump key,
// duration and, on failure, the reason.
func Message(r Report) string {
	t := r.Task
	dir := "to"
	if t.Action == config.ActionPull {
		dir = "from"
	}
	status := map[string]string{OutcomeOK: "OK", OutcomeFailed: "FAILED", OutcomeSkipped: "SKIPPED"}[r.Outcome]
	if r.Outcome == OutcomeOK && r.Warning != "" {
		status = "WARNING"
	}
	msg := fmt.Sprintf("%s: %s %s %s %s %s", status, t.Action, t.DBMS, t.Database, dir, r.Location)
	if r.Key != "" {
		msg += ", dump " + r.Key
	}
	msg += fmt.Sprintf(", after %.1fs", r.Seconds)
	if r.Error != "" {
		msg += ": " + r.Error
	}
	if r.Outcome == OutcomeOK && r.Warning != "" {
		msg += ": " + r.Warning
	}
	// One line: NSCA splits on tabs and newlines, Icinga shows the first line.
	return strings.Join(strings.Fields(msg), " ")
}

// Notify sends the run's check result. Without a configured sender it only
// logs, so a worker without monitoring still runs.
func (a *Activities) Notify(ctx context.Context, r Report) error {
	if a.Observe != nil && (!activity.IsActivity(ctx) || activity.GetInfo(ctx).Attempt == 1) {
		a.Observe(r)
	}
	res := Result{Host: r.Task.MonitoredHost(), Service: ServiceName(a.Service, r.Task), Output: Message(r)}
	switch r.Outcome {
	case OutcomeOK:
		res.Status = OK
		if r.Warning != "" {
			res.Status = Warning
		}
	case OutcomeSkipped:
		res.Status = Unknown
	default:
		res.Status = Critical
	}
	log := a.Logger
	if log == nil {
		log = slog.Default()
	}
	if a.Sender == nil {
		log.Info("no monitoring configured; check result not sent", "host", res.Host, "service", res.Service, "status", res.Status)
		return nil
	}
	if err := a.Sender.Send(ctx, res); err != nil {
		return fmt.Errorf("send check result for %q on host %s: %w", res.Service, res.Host, err)
	}
	return nil
}
